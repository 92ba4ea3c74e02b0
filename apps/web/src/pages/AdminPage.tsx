import type {
  AdminIdentity,
  GatehouseClient,
  ProviderCheckName,
  GatehouseUser,
  ProviderView,
  SessionState,
  TenantProvider,
} from '@gatehouse/client';
import { GatehouseProblem } from '@gatehouse/client';
import { useCallback, useEffect, useRef, useState } from 'react';
import { CopyableValue } from '../components/CopyableValue.tsx';
import { ProviderForm } from '../components/ProviderForm.tsx';
import { ProviderTable } from '../components/ProviderTable.tsx';
import { describeProblem } from '../format.ts';
import { checkFailure } from '../provider-form.ts';
import { Link } from '../router.tsx';
import { Notice } from '../components/Notice.tsx';

/** `/admin`: the tenant admin console for the signed-in user's tenant. */
export function AdminPage({
  client,
  state,
}: {
  client: GatehouseClient<true>;
  state: SessionState;
}) {
  return (
    <>
      <h1>Admin console</h1>
      {state.status === 'signed-in' ? (
        <AdminGate client={client} user={state.user} />
      ) : (
        <div className="sign-in">
          <p>Sign in to manage your organisation&apos;s identity providers.</p>
          <button type="button" onClick={() => client.login({ returnTo: '/admin' })}>
            Sign in
          </button>
        </div>
      )}
      <p>
        <Link to="/">Back to home</Link>
      </p>
    </>
  );
}

type Access =
  | { kind: 'checking' }
  | { kind: 'admin'; identity: AdminIdentity }
  | { kind: 'denied' }
  | { kind: 'error'; message: string };

/** Asks the admin API who we are before showing anything of the tenant. */
function AdminGate({ client, user }: { client: GatehouseClient<true>; user: GatehouseUser }) {
  const [access, setAccess] = useState<Access>({ kind: 'checking' });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let current = true;
    client.admin.me().then(
      (identity) => {
        if (current) setAccess({ kind: 'admin', identity });
      },
      (error: unknown) => {
        if (!current) return;
        setAccess(
          isRefused(error)
            ? { kind: 'denied' }
            : { kind: 'error', message: describeProblem(error) },
        );
      },
    );
    return () => {
      current = false;
    };
  }, [client, attempt]);

  if (access.kind === 'checking') return <p role="status">Checking your access…</p>;
  if (access.kind === 'denied') {
    return (
      <Notice tone="error" testId="admin-denied">
        You are not an administrator of this organisation.
      </Notice>
    );
  }
  if (access.kind === 'error') {
    return (
      <Notice
        tone="error"
        testId="admin-error"
        onRetry={() => {
          setAccess({ kind: 'checking' });
          setAttempt((n) => n + 1);
        }}
      >
        Could not open the admin console: {access.message}
      </Notice>
    );
  }
  const role = access.identity.role === 'operator' ? 'platform operator' : 'tenant administrator';
  return (
    <>
      <p className="lead" data-testid="admin-identity">
        {`Organisation ${user.tenant} · you are signed in as ${role}`}
      </p>
      <ProviderAdmin client={client} tenant={user.tenant} />
    </>
  );
}

function isRefused(error: unknown): boolean {
  return error instanceof GatehouseProblem && (error.status === 401 || error.status === 403);
}

type TestOutcome =
  | { kind: 'running'; name: string }
  | { kind: 'passed'; name: string; checks: string[] }
  | { kind: 'failed'; name: string; message: string };

/** The provider list with its row actions, the add/edit form and the URIs of the last save. */
function ProviderAdmin({ client, tenant }: { client: GatehouseClient<true>; tenant: string }) {
  const [views, setViews] = useState<ProviderView[] | undefined>(undefined);
  const [listError, setListError] = useState<string | undefined>(undefined);
  const [actionError, setActionError] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [confirmingDelete, setConfirmingDelete] = useState<string | undefined>(undefined);
  const [testOutcome, setTestOutcome] = useState<TestOutcome | undefined>(undefined);
  const [editing, setEditing] = useState<TenantProvider | undefined>(undefined);
  const [saved, setSaved] = useState<ProviderView | undefined>(undefined);
  // Bumped after each save so the form starts over empty (and forgets the typed secret).
  const [formGeneration, setFormGeneration] = useState(0);
  // Only the newest test run may report: an older, slower one must not overwrite it.
  const latestTest = useRef(0);

  const load = useCallback(
    () =>
      client.admin.listProviders(tenant).then(
        (list) => {
          setViews(list);
          setListError(undefined);
        },
        (error: unknown) => setListError(`Could not load the providers: ${describeProblem(error)}`),
      ),
    [client, tenant],
  );

  useEffect(() => {
    void load();
  }, [load]);

  /** Runs one row action, reports it, and reloads the list whatever happened. */
  async function run(action: () => Promise<unknown>, done: string): Promise<void> {
    setBusy(true);
    setNotice(undefined);
    setActionError(undefined);
    try {
      await action();
      setNotice(done);
    } catch (error) {
      setActionError(describeActionFailure(error));
    }
    await load();
    setBusy(false);
  }

  function toggle(provider: TenantProvider): void {
    setConfirmingDelete(undefined);
    const enabled = !provider.enabled;
    void run(
      () => client.admin.updateProvider(tenant, provider.id, { enabled }),
      `${enabled ? 'Enabled' : 'Disabled'} ${provider.displayName}.`,
    );
  }

  function remove(provider: TenantProvider): void {
    if (confirmingDelete !== provider.id) {
      setConfirmingDelete(provider.id);
      return;
    }
    setConfirmingDelete(undefined);
    if (editing?.id === provider.id) setEditing(undefined);
    if (saved?.provider.id === provider.id) setSaved(undefined);
    void run(
      () => client.admin.deleteProvider(tenant, provider.id),
      `Deleted ${provider.displayName}.`,
    );
  }

  function test(provider: TenantProvider): void {
    setConfirmingDelete(undefined);
    const name = provider.displayName;
    const run = (latestTest.current += 1);
    const report = (outcome: TestOutcome) => {
      if (run === latestTest.current) setTestOutcome(outcome);
    };
    setTestOutcome({ kind: 'running', name });
    client.admin.testProvider(tenant, provider.id).then(
      (result) =>
        report({
          kind: 'passed',
          name,
          checks: result.checks.map((check) => CHECK_LABELS[check]),
        }),
      (error: unknown) => report({ kind: 'failed', name, message: describeActionFailure(error) }),
    );
  }

  function edit(view: ProviderView): void {
    setConfirmingDelete(undefined);
    setSaved(undefined);
    setEditing(view.provider);
  }

  function onSaved(view: ProviderView): void {
    setEditing(undefined);
    setSaved(view);
    setNotice(undefined);
    setActionError(undefined);
    setFormGeneration((n) => n + 1);
    void load();
  }

  function cancelEdit(): void {
    setEditing(undefined);
    setFormGeneration((n) => n + 1);
  }

  return (
    <>
      <h2>Identity providers</h2>
      {listError !== undefined && (
        <Notice tone="error" testId="providers-error" onRetry={() => void load()}>
          {listError}
        </Notice>
      )}
      {actionError !== undefined && (
        <Notice tone="error" testId="provider-action-error">
          {actionError}
        </Notice>
      )}
      {notice !== undefined && (
        <Notice tone="status" testId="admin-notice">
          {notice}
        </Notice>
      )}
      {views === undefined ? (
        listError === undefined && <p role="status">Loading providers…</p>
      ) : (
        <ProviderTable
          views={views}
          busy={busy}
          confirmingDelete={confirmingDelete}
          onEdit={edit}
          onToggle={toggle}
          onTest={test}
          onDelete={remove}
          onCancelDelete={() => setConfirmingDelete(undefined)}
        />
      )}
      {testOutcome !== undefined && <TestResult outcome={testOutcome} />}
      {saved !== undefined && <SavedProvider view={saved} />}
      <ProviderForm
        key={`${editing?.id ?? 'new'}-${formGeneration}`}
        client={client}
        tenant={tenant}
        {...(editing === undefined ? {} : { editing })}
        onSaved={onSaved}
        onCancel={cancelEdit}
      />
    </>
  );
}

function TestResult({ outcome }: { outcome: TestOutcome }) {
  const failed = outcome.kind === 'failed';
  return (
    <div
      role="status"
      className={failed ? 'notice notice--error' : 'notice'}
      data-testid="provider-test-result"
      data-outcome={outcome.kind}
    >
      {outcome.kind === 'running' && <p>{`Testing ${outcome.name}…`}</p>}
      {outcome.kind === 'passed' && (
        <>
          <p>{`${outcome.name}: all checks passed.`}</p>
          {outcome.checks.length > 0 && (
            <ul>
              {outcome.checks.map((check) => (
                <li key={check}>{check}</li>
              ))}
            </ul>
          )}
        </>
      )}
      {outcome.kind === 'failed' && <p>{`${outcome.name}: ${outcome.message}`}</p>}
    </div>
  );
}

/** After a save: what the admin must register at their IdP. */
function SavedProvider({ view }: { view: ProviderView }) {
  return (
    <section className="saved" aria-labelledby="saved-heading" data-testid="provider-saved">
      <h2 id="saved-heading">{`Saved ${view.provider.displayName}`}</h2>
      <p>Register these addresses at your identity provider for this client:</p>
      {view.redirectUri !== undefined && (
        <CopyableValue label="Redirect URI" value={view.redirectUri} testId="redirect-uri" />
      )}
      {view.backchannelLogoutUri !== undefined && (
        <CopyableValue
          label="Back-channel logout URI"
          value={view.backchannelLogoutUri}
          testId="backchannel-uri"
        />
      )}
    </section>
  );
}

/** "The provider check failed: … (check: jwks)" for the checks, else the problem's one line. */
function describeActionFailure(error: unknown): string {
  if (error instanceof GatehouseProblem && error.code === 'provider_check_failed') {
    return checkFailure(error);
  }
  if (error instanceof GatehouseProblem && error.detail !== undefined) {
    return `${describeProblem(error)}: ${error.detail}`;
  }
  return describeProblem(error);
}

/** What each provider check verified, in words (a failed check names the same check). */
const CHECK_LABELS: Record<ProviderCheckName, string> = {
  issuer_scheme: 'The issuer is an https URL',
  discovery_failed: 'The discovery document was fetched',
  issuer_mismatch: 'The discovered issuer matches exactly',
  code_flow_unsupported: 'The authorization code flow is supported',
  pkce_unsupported: 'PKCE S256 is supported',
  jwks_unavailable: 'The JWKS was fetched',
  auth_method_unsupported: 'The token endpoint authentication method is supported',
  par_mismatch: 'Pushed authorization requests (PAR) fit the provider',
  id_token_alg_unsupported: 'RS256 ID tokens are supported',
};
