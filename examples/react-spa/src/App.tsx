import {
  GatehouseProblem,
  SessionLoading,
  SignedIn,
  SignedOut,
  useApi,
  useExpiryWarning,
  useGatehouse,
  type GatehouseUser,
  type SignedOutReason,
} from '@gatehouse/react';
import { useState, type FormEvent } from 'react';

export function App() {
  return (
    <div className="page">
      <header className="masthead">
        <h1>Acme notes</h1>
        <p>An example React app signed in through Gatehouse.</p>
      </header>
      <main>
        <SessionLoading>
          <p role="status" data-testid="session-loading">
            Checking your session…
          </p>
        </SessionLoading>
        <SignedOut>{(reason) => <SignInCard reason={reason} />}</SignedOut>
        <SignedIn>{(user) => <Profile user={user} />}</SignedIn>
      </main>
    </div>
  );
}

const SIGNED_OUT_MESSAGES: Record<SignedOutReason, string> = {
  logout: 'You are signed out.',
  expired: 'Your session has ended. Sign in again to go on.',
  unauthenticated: 'You are no longer signed in.',
};

function SignInCard({ reason }: { reason: SignedOutReason | undefined }) {
  const gatehouse = useGatehouse();
  const [email, setEmail] = useState('');

  function signInWithEmail(event: FormEvent) {
    event.preventDefault();
    if (email.trim() !== '') gatehouse.login({ email: email.trim() });
  }

  return (
    <section className="card" aria-labelledby="sign-in-title" data-testid="signed-out">
      <h2 id="sign-in-title">Sign in</h2>
      {reason && (
        <p className="notice" data-testid="signed-out-reason">
          {SIGNED_OUT_MESSAGES[reason]}
        </p>
      )}
      <p>Your notes are behind your organisation’s sign-in.</p>
      <button type="button" className="primary" onClick={() => gatehouse.login()}>
        Sign in
      </button>
      <form className="email-form" onSubmit={signInWithEmail}>
        <label htmlFor="email">Or use your work email</label>
        <div className="row">
          <input
            id="email"
            type="email"
            autoComplete="email"
            placeholder="you@company.example"
            value={email}
            onChange={(event) => setEmail(event.target.value)}
          />
          <button type="submit">Continue</button>
        </div>
      </form>
    </section>
  );
}

type ApiOutcome =
  | { kind: 'idle' }
  | { kind: 'loading' }
  | { kind: 'done'; status: number; body: string }
  | { kind: 'failed'; message: string };

function Profile({ user }: { user: GatehouseUser }) {
  const gatehouse = useGatehouse();
  const apiFetch = useApi();
  const secondsLeft = useExpiryWarning();
  const [outcome, setOutcome] = useState<ApiOutcome>({ kind: 'idle' });
  const name = user.claims.name ?? user.claims.email ?? user.claims.sub;

  async function callApi() {
    setOutcome({ kind: 'loading' });
    try {
      const response = await apiFetch('/api/demo/me');
      const text = await response.text();
      setOutcome({ kind: 'done', status: response.status, body: pretty(text) });
    } catch (error) {
      setOutcome({ kind: 'failed', message: describe(error) });
    }
  }

  return (
    <section className="card" aria-labelledby="profile-title" data-testid="signed-in">
      <h2 id="profile-title">
        Signed in as <span data-testid="user-name">{name}</span>
      </h2>
      <dl className="facts">
        {user.claims.email !== undefined && (
          <>
            <dt>Email</dt>
            <dd data-testid="user-email">{user.claims.email}</dd>
          </>
        )}
        <dt>Organisation</dt>
        <dd data-testid="user-tenant">{user.tenant}</dd>
        <dt>Session until</dt>
        <dd>{new Date(user.session.expiresAt).toLocaleTimeString()}</dd>
      </dl>
      {secondsLeft !== undefined && (
        <p className="notice" role="alert" data-testid="expiry-warning">
          {`Your session ends in about ${secondsLeft} seconds.`}
        </p>
      )}
      <div className="actions">
        <button type="button" className="primary" onClick={() => void callApi()}>
          Call the API
        </button>
        <button
          type="button"
          onClick={() =>
            // Asks Gatehouse again without extending the session: an ended session signs the app out.
            void gatehouse.refresh({ slide: false }).catch((error: unknown) => {
              setOutcome({ kind: 'failed', message: describe(error) });
            })
          }
        >
          Check my session
        </button>
        <button
          type="button"
          onClick={() =>
            void gatehouse.logout().catch((error: unknown) => {
              setOutcome({ kind: 'failed', message: describe(error) });
            })
          }
        >
          Sign out
        </button>
      </div>
      <div aria-live="polite">
        {outcome.kind === 'loading' && <p>Calling the API…</p>}
        {outcome.kind === 'done' && (
          <>
            <p data-testid="api-status">{`GET /api/demo/me answered ${outcome.status}`}</p>
            <pre data-testid="api-result" tabIndex={0}>
              {outcome.body}
            </pre>
          </>
        )}
        {outcome.kind === 'failed' && (
          <p className="notice" data-testid="api-error">
            {outcome.message}
          </p>
        )}
      </div>
    </section>
  );
}

function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function describe(error: unknown): string {
  if (error instanceof GatehouseProblem) return error.detail ?? error.title;
  return error instanceof Error ? error.message : String(error);
}
