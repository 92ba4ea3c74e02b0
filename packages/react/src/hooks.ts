import { useEffect, useState, useSyncExternalStore } from 'react';
import type { GatehouseClient, GatehouseUser, SessionState } from '@gatehouse/client';
import { useGatehouse } from './context.ts';

/**
 * The session as the client sees it: `loading` until the first check answers, then `signed-in`
 * (with the user) or `signed-out` (with a reason when there is one: `logout`, `expired`,
 * `unauthenticated`). Follows sign-ins and sign-outs in other tabs and the session's expiry.
 */
export function useSession(): SessionState {
  const client = useGatehouse();
  return useSyncExternalStore(
    client.subscribe,
    () => client.state,
    () => client.state,
  );
}

/** The signed-in user (claims, tenant, provider, session expiry), or `undefined`. */
export function useUser(): GatehouseUser | undefined {
  const state = useSession();
  return state.status === 'signed-in' ? state.user : undefined;
}

/**
 * `fetch` for your APIs behind Gatehouse (`/api/<route>/…`): adds `X-CSRF: 1` and the session
 * cookie; a 401 that means "no session" signs the app out (here and in the other tabs).
 * The same function on every render.
 */
export function useApi(): GatehouseClient['apiFetch'] {
  return useGatehouse().apiFetch;
}

/**
 * Seconds left when the session is about to expire (`expiryWarningSeconds` before it, default
 * 120), else `undefined`. It goes back to `undefined` when the session changes (a refresh
 * that extends it, a sign-out).
 */
export function useExpiryWarning(): number | undefined {
  const client = useGatehouse();
  const state = useSession();
  const expiresAt = state.status === 'signed-in' ? state.user.session.expiresAt : undefined;
  const [warning, setWarning] = useState<{ expiresAt: string; secondsLeft: number }>();
  useEffect(
    () =>
      client.onExpiryWarning((secondsLeft) => {
        const current = client.state;
        if (current.status === 'signed-in') {
          setWarning({ expiresAt: current.user.session.expiresAt, secondsLeft });
        }
      }),
    [client],
  );
  return warning !== undefined && warning.expiresAt === expiresAt ? warning.secondsLeft : undefined;
}
