import type { GatehouseClient, GatehouseUser, SessionState } from '@gatehouse/client';
import { useState } from 'react';
import { ApiCaller } from '../components/ApiCaller.tsx';
import { ClaimsTable } from '../components/ClaimsTable.tsx';
import { EchoSocket } from '../components/EchoSocket.tsx';
import { SignInPanel } from '../components/SignInPanel.tsx';
import { describeProblem, displayName, formatDateTime } from '../format.ts';
import { Link } from '../router.tsx';
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
      <>
        <h1>Gatehouse demo</h1>
        <p className="lead">
          Sign in with your organisation&apos;s identity provider. This page never sees a token.
        </p>
        <SignInPanel client={client} />
      </>
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
    <>
      <h1>{`Signed in as ${displayName(user)}`}</h1>
      {email !== undefined && (
        <p className="lead" data-testid="user-email">
          {email}
        </p>
      )}
      <dl className="facts">
        <dt>Tenant</dt>
        <dd data-testid="tenant">{user.tenant}</dd>
        <dt>Provider</dt>
        <dd data-testid="provider">{user.provider}</dd>
        <dt>Session expires</dt>
        <dd data-testid="session-expiry">
          <time dateTime={user.session.expiresAt}>{formatDateTime(user.session.expiresAt)}</time>
        </dd>
      </dl>
      <div className="actions">
        <button type="button" className="button--secondary" onClick={signOut} disabled={signingOut}>
          Sign out
        </button>
        <Link to="/sessions">Sessions</Link>
        <Link to="/admin">Admin console</Link>
      </div>
      {signOutError !== undefined && (
        <Notice tone="error" testId="sign-out-error">
          Sign out failed: {signOutError}
        </Notice>
      )}
      <ApiCaller client={client} />
      <EchoSocket />
      <h2>Claims</h2>
      <ClaimsTable claims={user.claims} />
    </>
  );
}
