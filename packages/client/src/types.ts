/** The signed-in user as `GET /bff/user` describes them (never a token). */
export interface GatehouseUser {
  claims: Record<string, unknown> & { sub: string; name?: string; email?: string };
  tenant: string;
  provider: string;
  issuer: string;
  session: { expiresAt: string; idleExpiresAt?: string; absoluteExpiresAt?: string };
}

/** Why the client is signed out, when it knows. */
export type SignedOutReason = 'logout' | 'expired' | 'unauthenticated';

/** What the SPA should render. `loading` lasts until the first `refresh()` answers. */
export type SessionState =
  | { status: 'loading' }
  | { status: 'signed-out'; reason?: SignedOutReason }
  | { status: 'signed-in'; user: GatehouseUser };

/** Where and how to sign in; every field is passed to `GET /bff/login` as given. */
export interface LoginOptions {
  /** Same-origin path to come back to; defaults to the current path + search + hash. */
  returnTo?: string;
  tenant?: string;
  provider?: string;
  /** Home-realm discovery: the server picks tenant and provider from the email's domain. */
  email?: string;
}

/** One of the user's sessions as listed by `GET /bff/sessions`. */
export interface GatehouseSessionInfo {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  device: string;
  /** True for the session this browser holds. */
  current: boolean;
}

export interface GatehouseClientOptions {
  /** Prefix for every request; default `''` (same origin as the page). */
  baseUrl?: string;
  /** The fetch to use; default the global fetch. */
  fetch?: typeof fetch;
  /** Full-page navigation; default `location.assign`. */
  navigate?: (url: string) => void;
  /** BroadcastChannel name shared by the app's tabs; default `'gatehouse'`. */
  channelName?: string;
  /** How long before `session.expiresAt` the expiry warning fires; default 120. */
  expiryWarningSeconds?: number;
  /**
   * Where "the tab became visible" comes from; default `document` when there is one.
   * Tests pass any EventTarget with a `visibilityState`.
   */
  visibility?: VisibilitySource;
}

/** The part of `Document` the client watches to re-check the session when the tab is shown. */
export interface VisibilitySource {
  readonly visibilityState: string;
  addEventListener(type: 'visibilitychange', listener: () => void): void;
  removeEventListener(type: 'visibilitychange', listener: () => void): void;
}

/**
 * The browser SDK for one Gatehouse BFF. Build it with `createGatehouseClient`.
 * Its functions do not use `this`, so they may be passed around detached
 * (`useSyncExternalStore(client.subscribe, ...)`).
 */
export interface GatehouseClient {
  /** The current state; the same object until it changes (fit for `useSyncExternalStore`). */
  readonly state: SessionState;
  /** Calls `listener` on every state change; returns the unsubscribe function. */
  subscribe: (listener: (state: SessionState) => void) => () => void;
  /**
   * Asks `GET /bff/user` who is signed in. `slide: false` checks without extending the session.
   * A 401 means signed out; any other failure throws a `GatehouseProblem` and keeps the state.
   */
  refresh: (opts?: { slide?: boolean }) => Promise<SessionState>;
  /** The `GET /bff/login` URL for these options. */
  loginUrl: (opts?: LoginOptions) => string;
  /** Navigates to `loginUrl(opts)`. */
  login: (opts?: LoginOptions) => void;
  /** Ends the session, tells the other tabs, then navigates to the IdP's end-session URL or `/`. */
  logout: () => Promise<void>;
  /**
   * `fetch` for the app's APIs behind Gatehouse: adds `X-CSRF: 1` and same-origin credentials.
   * A 401 meaning "no session" moves the state to signed-out and tells the other tabs.
   */
  apiFetch: (path: string, init?: RequestInit) => Promise<Response>;
  /** The user's sessions across devices. */
  listSessions: () => Promise<GatehouseSessionInfo[]>;
  /** Ends one of the user's sessions (normally another device's). */
  endSession: (id: string) => Promise<void>;
  /** Ends every session of the user except this browser's. */
  endOtherSessions: () => Promise<void>;
  /**
   * Calls `listener` once per session expiry time, `expiryWarningSeconds` before it.
   * Returns the unsubscribe function.
   */
  onExpiryWarning: (listener: (secondsLeft: number) => void) => () => void;
  /** Closes the BroadcastChannel, stops timers and listeners. */
  dispose: () => void;
}
