import type { ApiKeyInfo, GatehouseClient, IssuedApiKey } from '@gatehouse/client';
import { GatehouseProblem } from '@gatehouse/client';
import { useCallback, useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { describeProblem, formatDateTime } from '../../format.ts';
import { CopyableValue } from '../CopyableValue.tsx';
import { Notice } from '../Notice.tsx';

type KeysState =
  | { kind: 'loading' }
  | { kind: 'ready'; keys: ApiKeyInfo[] }
  | { kind: 'operator-only' }
  | { kind: 'error'; message: string };

/** The tenant's admin API keys: issue one (shown once), revoke one (asks once more). */
export function ApiKeysTab({ client, tenant }: { client: GatehouseClient; tenant: string }) {
  const [state, setState] = useState<KeysState>({ kind: 'loading' });
  const [issued, setIssued] = useState<IssuedApiKey | undefined>(undefined);
  const [label, setLabel] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [confirming, setConfirming] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const load = useCallback(
    () =>
      client.admin.listApiKeys(tenant).then(
        (keys) => setState({ kind: 'ready', keys }),
        (failure: unknown) =>
          setState(
            failure instanceof GatehouseProblem && failure.code === 'operator_only'
              ? { kind: 'operator-only' }
              : { kind: 'error', message: describeProblem(failure) },
          ),
      ),
    [client, tenant],
  );

  useEffect(() => {
    void load();
  }, [load]);

  async function issue(event: FormEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      setIssued(await client.admin.issueApiKey(tenant, label.trim()));
      setLabel('');
    } catch (failure) {
      setError(`Could not issue a key: ${describeProblem(failure)}`);
    }
    await load();
    setBusy(false);
  }

  async function revoke(key: ApiKeyInfo): Promise<void> {
    if (confirming !== key.id) {
      setConfirming(key.id);
      return;
    }
    setConfirming(undefined);
    setBusy(true);
    setError(undefined);
    try {
      await client.admin.revokeApiKey(tenant, key.id);
      if (issued?.id === key.id) setIssued(undefined);
    } catch (failure) {
      setError(`Could not revoke it: ${describeProblem(failure)}`);
    }
    await load();
    setBusy(false);
  }

  return (
    <section aria-labelledby="keys-heading">
      <h2 id="keys-heading">Admin API keys</h2>
      <p className="lead">
        Scripts and CI use these keys as <code>Authorization: Bearer …</code> to manage this
        organisation through the admin API.
      </p>
      {state.kind === 'loading' && <p role="status">Loading keys…</p>}
      {state.kind === 'operator-only' && (
        <Notice tone="status" testId="api-keys-operator-only">
          Only the platform operator issues and revokes API keys for this organisation. Ask them for
          one; it will appear here.
        </Notice>
      )}
      {state.kind === 'error' && (
        <Notice tone="error" testId="api-keys-error" onRetry={() => void load()}>
          {`Could not load the keys: ${state.message}`}
        </Notice>
      )}
      {error !== undefined && (
        <Notice tone="error" testId="api-key-action-error">
          {error}
        </Notice>
      )}
      {issued !== undefined && (
        <div className="issued-key" data-testid="issued-key">
          <p>
            <strong>Copy this key now:</strong> it is shown only once and cannot be read again.
          </p>
          <CopyableValue label="New API key" value={issued.key} testId="issued-key-value" />
        </div>
      )}
      {state.kind === 'ready' && (
        <>
          {state.keys.length === 0 ? (
            <p data-testid="api-keys-empty">No API keys yet.</p>
          ) : (
            <ul className="admin-cards" data-testid="api-keys" aria-label="API keys">
              {state.keys.map((key) => (
                <li key={key.id} className="admin-card" data-testid="api-key">
                  <div className="admin-card__head">
                    <h3>{key.label ?? 'Unlabelled key'}</h3>
                  </div>
                  <dl className="provider-card__facts">
                    <dt>Key ID</dt>
                    <dd className="mono">{key.id}</dd>
                    <dt>Issued</dt>
                    <dd>{formatDateTime(key.createdAt)}</dd>
                  </dl>
                  <div className="row-actions">
                    <button
                      type="button"
                      className={confirming === key.id ? 'button--danger' : 'button--secondary'}
                      disabled={busy}
                      onClick={() => void revoke(key)}
                    >
                      {confirming === key.id ? 'Confirm revoke' : 'Revoke'}
                    </button>
                  </div>
                </li>
              ))}
            </ul>
          )}
          <form className="form form--inline" onSubmit={(event) => void issue(event)}>
            <div className="field">
              <label htmlFor="api-key-label">Label</label>
              <input
                id="api-key-label"
                type="text"
                maxLength={100}
                autoComplete="off"
                placeholder="e.g. deploy pipeline"
                value={label}
                onChange={(event) => setLabel(event.target.value)}
              />
            </div>
            <button type="submit" disabled={busy}>
              Issue a key
            </button>
          </form>
        </>
      )}
    </section>
  );
}
