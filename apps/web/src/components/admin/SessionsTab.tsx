import type { GatehouseClient, TenantSession } from '@gatehouse/client';
import { useCallback, useEffect, useState } from 'react';
import { describeProblem, formatDateTime } from '../../format.ts';
import { Notice } from '../Notice.tsx';

/** The tenant's live sessions: end one, or every session of a user (each asks once more). */
export function SessionsTab({ client, tenant }: { client: GatehouseClient; tenant: string }) {
  const [sessions, setSessions] = useState<TenantSession[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [confirming, setConfirming] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const load = useCallback(
    () =>
      client.admin.listSessions(tenant).then(
        (list) => {
          setSessions(list);
          setError(undefined);
        },
        (failure: unknown) => setError(`Could not load the sessions: ${describeProblem(failure)}`),
      ),
    [client, tenant],
  );

  useEffect(() => {
    void load();
  }, [load]);

  async function run(action: () => Promise<{ ended: number }>): Promise<void> {
    setBusy(true);
    setConfirming(undefined);
    setNotice(undefined);
    try {
      const { ended } = await action();
      setNotice(ended === 1 ? 'Ended 1 session.' : `Ended ${ended} sessions.`);
    } catch (failure) {
      setError(`Could not end it: ${describeProblem(failure)}`);
    }
    await load();
    setBusy(false);
  }

  /** First click asks, second acts. */
  function confirmThen(key: string, action: () => Promise<{ ended: number }>): void {
    if (confirming !== key) {
      setConfirming(key);
      return;
    }
    void run(action);
  }

  return (
    <section aria-labelledby="sessions-heading">
      <h2 id="sessions-heading">Active sessions</h2>
      <p className="lead">Everyone signed in to this organisation right now, newest first.</p>
      {error !== undefined && (
        <Notice tone="error" testId="sessions-error" onRetry={() => void load()}>
          {error}
        </Notice>
      )}
      {notice !== undefined && (
        <Notice tone="status" testId="sessions-notice">
          {notice}
        </Notice>
      )}
      {sessions === undefined && error === undefined && <p role="status">Loading sessions…</p>}
      {sessions !== undefined && sessions.length === 0 && <p>No one is signed in.</p>}
      {sessions !== undefined && sessions.length > 0 && (
        <ul className="admin-cards" data-testid="tenant-sessions" aria-label="Active sessions">
          {sessions.map((session) => {
            const who = session.name ?? session.sub;
            const endOne = `one:${session.handle}`;
            const endUser = `user:${session.provider}:${session.sub}`;
            return (
              <li
                key={session.handle}
                className="admin-card"
                data-testid="tenant-session"
                data-sub={session.sub}
                data-current={session.current ? 'true' : 'false'}
              >
                <div className="admin-card__head">
                  <h3>{who}</h3>
                  {session.current && <span className="pill pill--ok">This is you</span>}
                </div>
                <dl className="provider-card__facts">
                  <dt>Subject</dt>
                  <dd className="mono">{session.sub}</dd>
                  <dt>Provider</dt>
                  <dd className="mono">{session.provider}</dd>
                  <dt>Device</dt>
                  <dd>{session.device}</dd>
                  <dt>Signed in</dt>
                  <dd>{formatDateTime(session.createdAt)}</dd>
                  <dt>Last seen</dt>
                  <dd>{formatDateTime(session.lastSeenAt)}</dd>
                </dl>
                <div className="row-actions">
                  <button
                    type="button"
                    className={confirming === endOne ? 'button--danger' : 'button--secondary'}
                    disabled={busy}
                    onClick={() =>
                      confirmThen(endOne, () => client.admin.endSession(tenant, session.handle))
                    }
                  >
                    {confirming === endOne ? 'Confirm: end this session' : 'End session'}
                  </button>
                  <button
                    type="button"
                    className={confirming === endUser ? 'button--danger' : 'button--secondary'}
                    disabled={busy}
                    onClick={() =>
                      confirmThen(endUser, () =>
                        client.admin.endUserSessions(tenant, session.provider, session.sub),
                      )
                    }
                  >
                    {confirming === endUser
                      ? `Confirm: end all of ${who}'s sessions`
                      : `End all of this user's sessions`}
                  </button>
                  {(confirming === endOne || confirming === endUser) && (
                    <button
                      type="button"
                      className="button--secondary"
                      onClick={() => setConfirming(undefined)}
                    >
                      Keep
                    </button>
                  )}
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
