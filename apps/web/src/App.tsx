import type { GatehouseClient, SessionState } from '@gatehouse/client';
import { useCallback, useEffect, useState } from 'react';
import { ExpiryWarningBanner } from './components/ExpiryWarningBanner.tsx';
import { SessionEndedBanner } from './components/SessionEndedBanner.tsx';
import { describeProblem } from './format.ts';
import { AdminPage } from './pages/AdminPage.tsx';
import { HomePage } from './pages/HomePage.tsx';
import { NotFoundPage } from './pages/NotFoundPage.tsx';
import { SessionsPage } from './pages/SessionsPage.tsx';
import { TenantPage } from './pages/TenantPage.tsx';
import { usePathname } from './router.tsx';
import { useExpiryCountdown, useSessionState } from './session-hooks.ts';
import { Notice } from './components/Notice.tsx';

/** The demo SPA: banners for session events above a two-page app. */
export function App({ client }: { client: GatehouseClient<true> }) {
  const state = useSessionState(client);
  const secondsLeft = useExpiryCountdown(client, state);
  const pathname = usePathname();
  const [checkError, setCheckError] = useState<string | undefined>(undefined);

  const checkSession = useCallback(() => {
    client.refresh().then(
      () => setCheckError(undefined),
      (error: unknown) => setCheckError(describeProblem(error)),
    );
  }, [client]);

  useEffect(checkSession, [checkSession]);

  return (
    <>
      <div className="banners">
        {sessionEndedUnexpectedly(state) && <SessionEndedBanner onSignIn={() => client.login()} />}
        {secondsLeft !== undefined && (
          <ExpiryWarningBanner secondsLeft={secondsLeft} onStay={() => client.refresh()} />
        )}
      </div>
      <main className="page">
        {state.status === 'loading' ? (
          <StillLoading error={checkError} onRetry={checkSession} />
        ) : (
          <CurrentPage pathname={pathname} client={client} state={state} />
        )}
      </main>
    </>
  );
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
  if (path === '/admin') return <AdminPage client={props.client} state={props.state} />;
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

function StillLoading({ error, onRetry }: { error: string | undefined; onRetry: () => void }) {
  if (error === undefined) {
    return (
      <p role="status" data-testid="loading">
        Loading…
      </p>
    );
  }
  return (
    <Notice tone="error" testId="session-check-error" onRetry={onRetry}>
      Could not check your session: {error}
    </Notice>
  );
}
