import type { GatehouseClient, GatehouseSessionInfo, SessionState } from '@gatehouse/client';
import { useCallback, useEffect, useRef, useState } from 'react';
import { formatDateTime } from '../format.ts';
import { explainProblem, relativeTime, type Explanation } from '../messages.ts';
import { Notice } from '../components/Notice.tsx';
import { ProblemNotice } from '../components/ProblemNotice.tsx';

export function SessionsPage({
  client,
  state,
}: {
  client: GatehouseClient<true>;
  state: SessionState;
}) {
  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1>Sessions</h1>
          <p className="lead">Where you are signed in. End any session you do not recognise.</p>
        </div>
      </div>
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
    </div>
  );
}

/** Re-renders every 30 s so that "2 minutes ago" stays true. */
function useNow(intervalMs = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

function SessionList({ client }: { client: GatehouseClient<true> }) {
  const [sessions, setSessions] = useState<GatehouseSessionInfo[] | undefined>(undefined);
  const [error, setError] = useState<{ context: string; explanation: Explanation } | undefined>(
    undefined,
  );
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const dialog = useRef<HTMLDialogElement>(null);
  const now = useNow();

  const load = useCallback(
    () =>
      client.listSessions().then(
        (list) => {
          setSessions(list);
          setError(undefined);
        },
        (e: unknown) =>
          setError({ context: 'Could not load your sessions.', explanation: explainProblem(e) }),
      ),
    [client],
  );

  useEffect(() => {
    void load();
  }, [load]);

  async function run(action: () => Promise<void>, done: string, failed: string): Promise<void> {
    setBusy(true);
    setNotice(undefined);
    let failure: Explanation | undefined;
    try {
      await action();
      setNotice(done);
    } catch (e) {
      failure = explainProblem(e);
    }
    // Reload either way (the list may have changed); a failure outlives the reload's success.
    await load();
    if (failure !== undefined) setError({ context: failed, explanation: failure });
    setBusy(false);
  }

  const endOne = (session: GatehouseSessionInfo) =>
    run(
      () => client.endSession(session.id),
      `Signed out ${session.device}.`,
      `Could not sign out ${session.device}.`,
    );
  const endOthers = () => {
    dialog.current?.close();
    return run(
      () => client.endOtherSessions(),
      'Signed out everywhere else.',
      'Could not sign out your other sessions.',
    );
  };

  const others = sessions?.filter((session) => !session.current).length ?? 0;
  return (
    <>
      {error !== undefined && (
        <ProblemNotice
          explanation={error.explanation}
          context={error.context}
          testId="sessions-error"
          onRetry={() => void load()}
        />
      )}
      {notice !== undefined && (
        <Notice tone="status" testId="sessions-notice">
          {notice}
        </Notice>
      )}
      {sessions === undefined ? (
        error === undefined && (
          <p role="status" className="muted">
            Loading sessions…
          </p>
        )
      ) : (
        <ul className="session-list" data-testid="sessions" aria-label="Your sessions">
          {[...sessions]
            .sort((a, b) => Number(b.current) - Number(a.current))
            .map((session) => (
              <SessionItem
                key={session.id}
                session={session}
                now={now}
                busy={busy}
                onEnd={() => void endOne(session)}
              />
            ))}
        </ul>
      )}
      {sessions !== undefined && (
        <div className="actions">
          <button
            type="button"
            className="button--secondary"
            disabled={busy || others === 0}
            aria-describedby="end-others-hint"
            onClick={() => dialog.current?.showModal()}
          >
            Sign out everywhere else
          </button>
          <span id="end-others-hint" className="hint">
            {others === 0
              ? 'This is your only session.'
              : `Ends ${others === 1 ? 'your other session' : `your ${others} other sessions`}; this one stays signed in.`}
          </span>
        </div>
      )}
      <dialog
        ref={dialog}
        className="dialog"
        aria-labelledby="end-others-title"
        data-testid="end-others-dialog"
      >
        <h2 id="end-others-title">Sign out everywhere else?</h2>
        <p>
          {others === 1
            ? 'Your other session will be signed out.'
            : `Your ${others} other sessions will be signed out.`}{' '}
          This device stays signed in.
        </p>
        <div className="actions">
          <button
            type="button"
            className="button--secondary"
            autoFocus
            onClick={() => dialog.current?.close()}
          >
            Cancel
          </button>
          <button type="button" className="button--danger" onClick={() => void endOthers()}>
            Sign out other sessions
          </button>
        </div>
      </dialog>
    </>
  );
}

function SessionItem(props: {
  session: GatehouseSessionInfo;
  now: number;
  busy: boolean;
  onEnd: () => void;
}) {
  const { session, now } = props;
  const name =
    session.browser && session.os ? `${session.browser} on ${session.os}` : session.device;
  return (
    <li
      className={session.current ? 'session session--current' : 'session'}
      data-testid="session-row"
      data-current={session.current ? 'true' : 'false'}
    >
      <span className="session__icon" aria-hidden="true">
        <DeviceIcon type={session.deviceType ?? 'desktop'} />
      </span>
      <div>
        <p className="session__title">
          <span>{name}</span>
          {session.current && <span className="badge badge--success">This device</span>}
        </p>
        <p className="session__meta">
          {'Signed in '}
          <time dateTime={session.createdAt} title={formatDateTime(session.createdAt)}>
            {relativeTime(session.createdAt, now)}
          </time>
          {' · '}
          {session.current ? (
            'active now'
          ) : (
            <>
              {'last active '}
              <time dateTime={session.lastSeenAt} title={formatDateTime(session.lastSeenAt)}>
                {relativeTime(session.lastSeenAt, now)}
              </time>
            </>
          )}
        </p>
      </div>
      {!session.current && (
        <div className="session__action">
          <button
            type="button"
            className="button--secondary button--small"
            disabled={props.busy}
            aria-label={`Sign out ${name}, signed in ${relativeTime(session.createdAt, now)}`}
            onClick={props.onEnd}
          >
            Sign out
          </button>
        </div>
      )}
    </li>
  );
}

function DeviceIcon({ type }: { type: 'mobile' | 'tablet' | 'desktop' }) {
  if (type === 'mobile') {
    return (
      <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.8">
        <rect x="7" y="2.5" width="10" height="19" rx="2" />
        <path d="M11 18.5h2" strokeLinecap="round" />
      </svg>
    );
  }
  if (type === 'tablet') {
    return (
      <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.8">
        <rect x="4" y="2.5" width="16" height="19" rx="2" />
        <path d="M11 18.5h2" strokeLinecap="round" />
      </svg>
    );
  }
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.8">
      <rect x="3" y="4" width="18" height="12" rx="1.5" />
      <path d="M8 20h8M12 16v4" strokeLinecap="round" />
    </svg>
  );
}
