import type { GatehouseClient, PublicTenant } from '@gatehouse/client';
import { GatehouseProblem } from '@gatehouse/client';
import { useEffect, useState } from 'react';
import { explainProblem, type Explanation } from '../messages.ts';
import { ProblemNotice } from '../components/ProblemNotice.tsx';
import { safeReturnTo } from '../return-to.ts';
import { Link } from '../router.tsx';

type TenantLoad =
  | { kind: 'loading' }
  | { kind: 'ready'; tenant: PublicTenant }
  | { kind: 'unknown' }
  | { kind: 'error'; explanation: Explanation };

/**
 * `/t/:tenant`: one "Sign in with …" button per enabled provider of the tenant. Mount it with
 * `key={tenantId}` so another tenant starts from a fresh load. `tenantId` is undefined when the
 * path segment was not decodable.
 */
export function TenantPage(props: { client: GatehouseClient; tenantId: string | undefined }) {
  const { client, tenantId } = props;
  const [load, setLoad] = useState<TenantLoad>(
    tenantId === undefined ? { kind: 'unknown' } : { kind: 'loading' },
  );
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    if (tenantId === undefined) return;
    let current = true;
    client.getTenant(tenantId).then(
      (tenant) => {
        if (current) setLoad({ kind: 'ready', tenant });
      },
      (error: unknown) => {
        if (current) setLoad(isUnknownTenant(error) ? { kind: 'unknown' } : failed(error));
      },
    );
    return () => {
      current = false;
    };
  }, [client, tenantId, attempt]);

  function retry(): void {
    setLoad({ kind: 'loading' });
    setAttempt((n) => n + 1);
  }

  if (load.kind === 'loading') {
    return (
      <div className="page page--narrow">
        <p role="status" data-testid="tenant-loading" className="muted">
          Loading…
        </p>
      </div>
    );
  }
  if (load.kind === 'unknown') return <UnknownTenant />;
  if (load.kind === 'error') {
    return (
      <div className="page page--narrow">
        <h1>Sign in</h1>
        <ProblemNotice
          explanation={load.explanation}
          context="Could not load this organisation's sign-in."
          testId="tenant-error"
          onRetry={retry}
        />
      </div>
    );
  }
  // Read at render: the server's redirect (`/t/acme?returnTo=…`) is a full page load.
  const returnTo = safeReturnTo(new URLSearchParams(location.search).get('returnTo'));
  return <ProviderChoice client={client} tenant={load.tenant} returnTo={returnTo} />;
}

function ProviderChoice(props: {
  client: GatehouseClient;
  tenant: PublicTenant;
  returnTo: string;
}) {
  const { client, tenant, returnTo } = props;
  return (
    <div className="page page--narrow">
      <p className="muted">Sign in to</p>
      <h1>{tenant.tenant.name}</h1>
      {tenant.providers.length === 0 ? (
        <>
          <p data-testid="tenant-no-providers">
            This organisation has no sign-in method enabled yet. Ask its administrator, or come back
            later.
          </p>
          <div className="actions">
            <Link to="/" className="button button--secondary">
              Back to the home page
            </Link>
          </div>
        </>
      ) : (
        <>
          <p className="lead">Choose how to sign in.</p>
          <div className="provider-choices" data-testid="tenant-providers">
            {tenant.providers.map((provider) => (
              <button
                key={provider.id}
                type="button"
                onClick={() =>
                  client.login({ tenant: tenant.tenant.id, provider: provider.id, returnTo })
                }
              >
                {`Sign in with ${provider.displayName}`}
              </button>
            ))}
          </div>
          <p className="hint demo-accounts">
            Not your organisation? <Link to="/">Sign in another way</Link>.
          </p>
        </>
      )}
    </div>
  );
}

/** Says nothing else: which organisations exist is not this page's to reveal. */
function UnknownTenant() {
  return (
    <div className="page page--narrow">
      <h1>Unknown organisation</h1>
      <p>
        The link you followed names an organisation we do not know. Sign in with your work email
        instead: we find your organisation from it.
      </p>
      <div className="actions">
        <Link to="/" className="button">
          Go to sign-in
        </Link>
      </div>
    </div>
  );
}

function isUnknownTenant(error: unknown): boolean {
  return (
    error instanceof GatehouseProblem &&
    (error.code === 'unknown_tenant' || error.status === 404 || error.status === 400)
  );
}

function failed(error: unknown): TenantLoad {
  return { kind: 'error', explanation: explainProblem(error) };
}
