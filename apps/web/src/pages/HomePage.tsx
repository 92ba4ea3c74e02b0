import type { GatehouseClient, GatehouseUser, SessionState } from '@gatehouse/client';
import { useState } from 'react';
import { ApiCaller } from '../components/ApiCaller.tsx';
import { ClaimsTable } from '../components/ClaimsTable.tsx';
import { EchoSocket } from '../components/EchoSocket.tsx';
import { SignInPanel } from '../components/SignInPanel.tsx';
import { describeProblem, displayName, formatDateTime } from '../format.ts';
import { relativeTime } from '../messages.ts';
import { Notice } from '../components/Notice.tsx';

export function HomePage({
  client,
  state,
}: {
  client: GatehouseClient<true>;
  state: SessionState;
}) {
  if (state.status !== 'signed-in') {
    return (
      <div className="page page--narrow">
        <h1>Sign in</h1>
        <p className="lead">
          Use your organisation&apos;s account. This app never sees a token: your session stays on
          the server.
        </p>
        <SignInPanel client={client} />
      </div>
    );
  }
  return <SignedInHome client={client} user={state.user} />;
}

function SignedInHome({ client, user }: { client: GatehouseClient<true>; user: GatehouseUser }) {
  const [signOutError, setSignOutError] = useState<string | undefined>(undefined);
  const [signingOut, setSigningOut] = useState(false);
  const email = typeof user.claims.email === 'string' ? user.claims.email : undefined;

  function signOut(): void {
    setSigningOut(true);
    setSignOutError(undefined);
    client.logout().catch((error: unknown) => {
      setSignOutError(describeProblem(error));
      setSigningOut(false);
    });
  }

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1>{`Signed in as ${displayName(user)}`}</h1>
          {email !== undefined && (
            <p className="lead" data-testid="user-email">
              {email}
            </p>
          )}
        </div>
        <button type="button" className="button--secondary" onClick={signOut} disabled={signingOut}>
          Sign out
        </button>
      </div>
      {signOutError !== undefined && (
        <Notice tone="error" testId="sign-out-error">
          Sign out failed: {signOutError}
        </Notice>
      )}
      <dl className="facts">
        <dt>Organisation</dt>
        <dd data-testid="tenant">{user.tenant}</dd>
        <dt>Signed in with</dt>
        <dd data-testid="provider">{user.provider}</dd>
        <dt>Session ends</dt>
        <dd data-testid="session-expiry">
          <time dateTime={user.session.expiresAt} title={formatDateTime(user.session.expiresAt)}>
            {relativeTime(user.session.expiresAt)}
          </time>
          <span className="muted">{` (${formatDateTime(user.session.expiresAt)}) unless you stay active`}</span>
        </dd>
      </dl>
      <section className="section" aria-labelledby="try-heading">
        <h2 id="try-heading">Try it</h2>
        <div className="tools">
          <ApiCaller client={client} />
          <EchoSocket />
        </div>
      </section>
      <section className="section" aria-labelledby="claims-heading">
        <h2 id="claims-heading">Claims</h2>
        <p className="hint">
          What your identity provider says about you (tokens stay on the server).
        </p>
        <div className="table-scroll">
          <ClaimsTable claims={user.claims} />
        </div>
      </section>
    </div>
  );
}
