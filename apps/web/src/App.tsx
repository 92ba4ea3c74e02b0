import type { GatehouseClient, GatehouseUser, SessionState } from '@gatehouse/client';
import { useCallback, useEffect, useState } from 'react';
import { AppShell } from './components/AppShell.tsx';
import { ExpiryWarningBanner } from './components/ExpiryWarningBanner.tsx';
import { ProblemNotice } from './components/ProblemNotice.tsx';
import { SessionEndedBanner } from './components/SessionEndedBanner.tsx';
import { explainProblem, type Explanation } from './messages.ts';
import { AdminPage } from './pages/AdminPage.tsx';
import { HomePage } from './pages/HomePage.tsx';
import { NotFoundPage } from './pages/NotFoundPage.tsx';
import { SessionsPage } from './pages/SessionsPage.tsx';
import { TenantPage } from './pages/TenantPage.tsx';
import { usePathname } from './router.tsx';
import { useExpiryCountdown, useSessionState } from './session-hooks.ts';

/** The demo SPA: an app shell (header, navigation, user menu), session banners, one page. */
export function App({ client }: { client: GatehouseClient<true> }) {
  const state = useSessionState(client);
  const secondsLeft = useExpiryCountdown(client, state);
  const pathname = usePathname();
  const [checkError, setCheckError] = useState<Explanation | undefined>(undefined);
  const [signOutError, setSignOutError] = useState<Explanation | undefined>(undefined);
  const [signingOut, setSigningOut] = useState(false);
  const user = state.status === 'signed-in' ? state.user : undefined;
  const tenantName = useTenantName(client, user);

  const checkSession = useCallback(() => {
    client.refresh().then(
      () => setCheckError(undefined),
      (error: unknown) => setCheckError(explainProblem(error)),
    );
  }, [client]);

  useEffect(checkSession, [checkSession]);

  function signOut(): void {
    setSigningOut(true);
    setSignOutError(undefined);
    client.logout().catch((error: unknown) => {
      setSignOutError(explainProblem(error));
      setSigningOut(false);
    });
  }

  const banners = (
    <div className="banners">
      {sessionEndedUnexpectedly(state) && <SessionEndedBanner onSignIn={() => client.login()} />}
      {secondsLeft !== undefined && (
        <ExpiryWarningBanner secondsLeft={secondsLeft} onStay={() => client.refresh()} />
      )}
      {signOutError !== undefined && (
        <ProblemNotice
          explanation={signOutError}
          testId="menu-sign-out-error"
          context="Sign out failed."
          onRetry={signOut}
        />
      )}
    </div>
  );

  return (
    <AppShell
      pathname={pathname}
      user={user}
      tenantName={tenantName}
      banners={banners}
      onSignOut={signOut}
      signingOut={signingOut}
    >
      {state.status === 'loading' ? (
        <StillLoading error={checkError} onRetry={checkSession} />
      ) : (
        <CurrentPage pathname={pathname} client={client} state={state} />
      )}
    </AppShell>
  );
}

/** The signed-in user's organisation by name (public `GET /bff/tenants/:id`); the id meanwhile. */
function useTenantName(client: GatehouseClient, user: GatehouseUser | undefined) {
  const tenant = user?.tenant;
  const [names, setNames] = useState<Record<string, string>>({});
  useEffect(() => {
    if (tenant === undefined || names[tenant] !== undefined) return;
    let current = true;
    client.getTenant(tenant).then(
      (found) => {
        if (current) setNames((previous) => ({ ...previous, [tenant]: found.tenant.name }));
      },
      () => undefined, // The id is shown instead; nothing depends on the name.
    );
    return () => {
      current = false;
    };
  }, [client, tenant, names]);
  return tenant === undefined ? undefined : names[tenant];
}

/** Signed out by a 401 or an expiry, as opposed to the user's own logout or a first visit. */
function sessionEndedUnexpectedly(state: SessionState): boolean {
  return (
    state.status === 'signed-out' &&
    (state.reason === 'expired' || state.reason === 'unauthenticated')
  );
}

function CurrentPage(props: {
  pathname: string;
  client: GatehouseClient<true>;
  state: SessionState;
}) {
  const path = props.pathname.length > 1 ? props.pathname.replace(/\/+$/, '') : props.pathname;
  if (path === '/') return <HomePage client={props.client} state={props.state} />;
  if (path === '/sessions') return <SessionsPage client={props.client} state={props.state} />;
  if (path === '/admin') {
    return (
      <div className="page">
        <AdminPage client={props.client} state={props.state} />
      </div>
    );
  }
  const tenantSegment = /^\/t\/([^/]+)$/.exec(path)?.[1];
  if (tenantSegment !== undefined) {
    const tenantId = decodeSegment(tenantSegment);
    return <TenantPage key={tenantSegment} client={props.client} tenantId={tenantId} />;
  }
  return <NotFoundPage />;
}

/** A percent-encoded path segment as text; undefined when it does not decode. */
function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function StillLoading({ error, onRetry }: { error: Explanation | undefined; onRetry: () => void }) {
  if (error === undefined) {
    return (
      <div className="page page--narrow">
        <p role="status" data-testid="loading" className="muted">
          Loading…
        </p>
      </div>
    );
  }
  return (
    <div className="page page--narrow">
      <h1>We could not check your session</h1>
      <ProblemNotice
        explanation={error}
        testId="session-check-error"
        onRetry={onRetry}
        role="status"
      />
    </div>
  );
}
