import type { GatehouseClient, GatehouseSessionInfo, SessionState } from '@gatehouse/client';
import { useCallback, useEffect, useState } from 'react';
import { describeProblem, formatDateTime } from '../format.ts';
import { Link } from '../router.tsx';
import { Notice } from '../components/Notice.tsx';

export function SessionsPage({
  client,
  state,
}: {
  client: GatehouseClient<true>;
  state: SessionState;
}) {
  return (
    <>
      <h1>Sessions</h1>
      {state.status === 'signed-in' ? (
        <SessionList client={client} />
      ) : (
        <div className="sign-in">
          <p>Sign in to see your sessions.</p>
          <button type="button" onClick={() => client.login()}>
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

function SessionList({ client }: { client: GatehouseClient<true> }) {
  const [sessions, setSessions] = useState<GatehouseSessionInfo[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const load = useCallback(
    () =>
      client.listSessions().then(
        (list) => {
          setSessions(list);
          setError(undefined);
        },
        (e: unknown) => setError(`Could not load sessions: ${describeProblem(e)}`),
      ),
    [client],
  );

  useEffect(() => {
    void load();
  }, [load]);

  async function run(action: () => Promise<void>, done: string): Promise<void> {
    setBusy(true);
    setNotice(undefined);
    let failure: string | undefined;
    try {
      await action();
      setNotice(done);
    } catch (e) {
      failure = describeProblem(e);
    }
    // Reload either way (the list may have changed); a failure outlives the reload's success.
    await load();
    if (failure !== undefined) setError(failure);
    setBusy(false);
  }

  const endOne = (session: GatehouseSessionInfo) =>
    run(() => client.endSession(session.id), `Signed out ${session.device}.`);
  const endOthers = () => run(() => client.endOtherSessions(), 'Signed out everywhere else.');

  return (
    <>
      {error !== undefined && (
        <Notice tone="error" testId="sessions-error">
          {error}
        </Notice>
      )}
      {notice !== undefined && (
        <Notice tone="status" testId="sessions-notice">
          {notice}
        </Notice>
      )}
      {sessions === undefined ? (
        error === undefined && <p role="status">Loading sessions…</p>
      ) : (
        <table className="table" data-testid="sessions">
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Created</th>
              <th scope="col">Last seen</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {sessions.map((session) => (
              <tr
                key={session.id}
                data-testid="session-row"
                data-current={session.current ? 'true' : 'false'}
              >
                <td>{session.device}</td>
                <td>
                  <time dateTime={session.createdAt}>{formatDateTime(session.createdAt)}</time>
                </td>
                <td>
                  <time dateTime={session.lastSeenAt}>{formatDateTime(session.lastSeenAt)}</time>
                </td>
                <td>
                  {session.current ? (
                    <span className="badge">This device</span>
                  ) : (
                    <button
                      type="button"
                      className="button--secondary"
                      disabled={busy}
                      onClick={() => void endOne(session)}
                    >
                      Sign out
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {sessions !== undefined && (
        <div className="actions">
          <button type="button" disabled={busy} onClick={() => void endOthers()}>
            Sign out everywhere else
          </button>
        </div>
      )}
    </>
  );
}
