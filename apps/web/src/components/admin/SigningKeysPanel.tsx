import type { ClientKeyInfo, GatehouseClient, TenantProvider } from '@gatehouse/client';
import { useCallback, useEffect, useState } from 'react';
import { describeProblem, formatDateTime } from '../../format.ts';
import { CopyableValue } from '../CopyableValue.tsx';
import { Notice } from '../Notice.tsx';

type KeysState =
  | { kind: 'loading' }
  | { kind: 'ready'; jwksUri: string; keys: ClientKeyInfo[]; loadedAt: number }
  | { kind: 'error'; message: string };

/** What a key is doing now, in words: signing, waiting to sign, or published until it retires. */
function stateOf(key: ClientKeyInfo, now: number): string {
  if (key.signing) return 'Signing';
  if (Date.parse(key.activatesAt) > now) return 'Published, signs soon';
  return 'Published, superseded';
}

/**
 * A private_key_jwt provider's signing keys (`GET …/keys`): the JWKS URL to register at the IdP,
 * each published key (kid, algorithm, state, from when it signs, when it retires), "Rotate key"
 * (a new key, published now, signing after the activation delay) and "Retire" for a superseded
 * key (asks once more). Never a private key: the admin API has none to give.
 */
export function SigningKeysPanel(props: {
  client: GatehouseClient;
  tenant: string;
  provider: TenantProvider;
}) {
  const { client, tenant, provider } = props;
  const [state, setState] = useState<KeysState>({ kind: 'loading' });
  const [error, setError] = useState<string | undefined>(undefined);
  const [confirming, setConfirming] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const headingId = `signing-keys-${provider.id}`;

  const load = useCallback(
    () =>
      client.admin.listClientKeys(tenant, provider.id).then(
        ({ jwksUri, keys }) => setState({ kind: 'ready', jwksUri, keys, loadedAt: Date.now() }),
        (failure: unknown) => setState({ kind: 'error', message: describeProblem(failure) }),
      ),
    [client, tenant, provider.id],
  );

  useEffect(() => {
    void load();
  }, [load]);

  async function act(what: string, action: () => Promise<unknown>): Promise<void> {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (failure) {
      setError(`Could not ${what}: ${describeProblem(failure)}`);
    }
    await load();
    setBusy(false);
  }

  function retire(key: ClientKeyInfo): void {
    if (confirming !== key.kid) {
      setConfirming(key.kid);
      return;
    }
    setConfirming(undefined);
    void act('retire the key', () => client.admin.retireClientKey(tenant, provider.id, key.kid));
  }

  return (
    <section className="signing-keys" aria-labelledby={headingId} data-testid="signing-keys">
      <h4 id={headingId}>Signing keys</h4>
      <p className="hint">
        Gatehouse signs its client assertions (private_key_jwt) with these keys. Register the JWKS
        URL at the provider as the client&apos;s <code>jwks_uri</code>; a rotated key is published
        at once and signs once the provider has had time to fetch it.
      </p>
      {state.kind === 'loading' && <p role="status">Loading keys…</p>}
      {state.kind === 'error' && (
        <Notice tone="error" testId="signing-keys-error" onRetry={() => void load()}>
          {`Could not load the keys: ${state.message}`}
        </Notice>
      )}
      {error !== undefined && (
        <Notice tone="error" testId="signing-key-action-error">
          {error}
        </Notice>
      )}
      {state.kind === 'ready' && (
        <>
          <CopyableValue label="JWKS URL" value={state.jwksUri} testId="signing-keys-jwks-uri" />
          {state.keys.length === 0 ? (
            <p data-testid="signing-keys-empty">
              No key yet: the first sign-in, test or rotation makes one.
            </p>
          ) : (
            <ul className="signing-keys__list" aria-label={`Signing keys of ${provider.id}`}>
              {state.keys.map((key) => (
                <li
                  key={key.kid}
                  className="signing-key"
                  data-testid="signing-key"
                  data-kid={key.kid}
                  data-signing={key.signing ? 'true' : 'false'}
                >
                  <dl className="provider-card__facts">
                    <dt>Key ID</dt>
                    <dd className="mono">{key.kid}</dd>
                    <dt>Algorithm</dt>
                    <dd className="mono">{key.alg}</dd>
                    <dt>State</dt>
                    <dd data-testid="signing-key-state">{stateOf(key, state.loadedAt)}</dd>
                    <dt>Signs from</dt>
                    <dd>{formatDateTime(key.activatesAt)}</dd>
                    <dt>Retires</dt>
                    <dd>
                      {key.retiresAt === null ? 'not scheduled' : formatDateTime(key.retiresAt)}
                    </dd>
                  </dl>
                  {!key.signing && (
                    <div className="row-actions">
                      <button
                        type="button"
                        className={confirming === key.kid ? 'button--danger' : 'button--secondary'}
                        disabled={busy}
                        aria-label={`${confirming === key.kid ? 'Confirm retire' : 'Retire'} key ${key.kid.slice(0, 8)}`}
                        onClick={() => retire(key)}
                      >
                        {confirming === key.kid ? 'Confirm retire' : 'Retire'}
                      </button>
                    </div>
                  )}
                </li>
              ))}
            </ul>
          )}
          <div className="row-actions">
            <button
              type="button"
              className="button--secondary"
              disabled={busy}
              onClick={() =>
                void act('rotate the key', () => client.admin.rotateClientKey(tenant, provider.id))
              }
            >
              Rotate key
            </button>
          </div>
        </>
      )}
    </section>
  );
}
