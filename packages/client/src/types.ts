import type {
  AdminIdentity,
  ApiKeyInfo,
  AuditPage,
  ClientKeyList,
  ClientKeyRotated,
  IssuedApiKey,
  ProviderCheckResult,
  SessionsEnded,
  TenantSession,
  ProviderInput,
  ProviderPatch,
  ProviderProfile,
  ProviderTestResult,
  ProviderUris,
  ProviderView,
} from './admin-contract.ts';

/** The signed-in user as `GET /bff/user` describes them (never a token). */
export interface GatehouseUser {
  claims: Record<string, unknown> & { sub: string; name?: string; email?: string };
  tenant: string;
  provider: string;
  issuer: string;
  session: { expiresAt: string; idleExpiresAt?: string; absoluteExpiresAt?: string };
  /**
   * A same-origin link that signs this session out (`GET /bff/logout?sid=…`, this session's
   * handle); `logout()` navigates to it.
   */
  logoutUrl?: string;
}

/** Where to land in the app after signing out. */
export interface LogoutOptions {
  /** Same-origin path to come back to once the IdP has signed the user out; default `/`. */
  returnTo?: string;
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
  /** The tenant (organisation) to sign in with. */
  tenant?: string;
  /** One of the tenant's providers; without it, a tenant with several asks the user. */
  provider?: string;
  /** Home-realm discovery: the server picks tenant and provider from the email's domain. */
  email?: string;
}

/** Login options that say where to sign in: a tenant, or an email for home-realm discovery. */
export type LoginTarget = (LoginOptions & { tenant: string }) | (LoginOptions & { email: string });

/**
 * The arguments of `login` / `loginUrl`: optional when the client has a `defaultTenant`
 * (`HasDefaultTenant` is `true`), otherwise a tenant or an email is required.
 */
export type LoginArgs<HasDefaultTenant extends boolean> = [HasDefaultTenant] extends [true]
  ? [opts?: LoginOptions]
  : [opts: LoginTarget];

/** One of the user's sessions as listed by `GET /bff/sessions`. */
export interface GatehouseSessionInfo {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  /** "Chrome 142 on Linux", parsed from the User-Agent at sign-in. */
  device: string;
  /** "Chrome 142"; null when unknown (or the session predates the field). */
  browser?: string | null;
  /** "Linux", "iOS 18"; null when unknown. */
  os?: string | null;
  /** A phone, a tablet or a desktop/laptop; null when unknown. */
  deviceType?: 'mobile' | 'tablet' | 'desktop' | null;
  /** True for the session this browser holds. */
  current: boolean;
}

/** `GET /bff/tenants/:tenant`: what the public tenant page may show. */
export interface PublicTenant {
  tenant: { id: string; name: string };
  /** The providers a user of this tenant may sign in with (enabled ones only). */
  providers: Array<{ id: string; displayName: string }>;
}

/**
 * The tenant admin API (`/admin/api`), authenticated by the session cookie plus `X-CSRF: 1`.
 * Failures throw a GatehouseProblem (`errors` for `validation_failed`, `check` and `detail` for
 * `provider_check_failed`, `read_only` for config providers). A 401 signs the client out only
 * when `GET /bff/user` confirms the session is gone.
 */
/** The tenant admin API (providers here; sessions, API keys and audit in `admin-console.ts`). */
export interface GatehouseAdmin extends GatehouseAdminConsole {
  me: () => Promise<AdminIdentity>;
  listProviders: (tenant: string) => Promise<ProviderView[]>;
  createProvider: (tenant: string, input: ProviderInput) => Promise<ProviderView>;
  updateProvider: (tenant: string, id: string, patch: ProviderPatch) => Promise<ProviderView>;
  deleteProvider: (tenant: string, id: string) => Promise<void>;
  /** Re-runs discovery and every provider check (credentials included) for a stored provider. */
  testProvider: (tenant: string, id: string) => Promise<ProviderTestResult>;
  /** Runs every check for a provider not stored (a create body); nothing is saved. */
  checkProvider: (tenant: string, input: ProviderInput) => Promise<ProviderTestResult>;
  /** The URIs to register at the IdP for a provider id (it need not exist yet). */
  providerUris: (tenant: string, id: string) => Promise<ProviderUris>;
  /** The provider profiles (presets for well-known IdPs) with their defaults and notes. */
  providerProfiles: () => Promise<ProviderProfile[]>;
}

export interface GatehouseClientOptions {
  /** Prefix for every request; default `''` (same origin as the page). */
  baseUrl?: string;
  /**
   * The tenant `login()` signs in with when it is given neither `tenant` nor `email`. Without it,
   * `login()` must name one (a type error, and a `TypeError` at run time).
   */
  defaultTenant?: string;
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
 * `HasDefaultTenant` is `true` for a client built with a `defaultTenant`: only then may `login()`
 * be called without a tenant or an email. A plain `GatehouseClient` accepts either kind.
 */
export interface GatehouseClient<HasDefaultTenant extends boolean = boolean> {
  /** The current state; the same object until it changes (fit for `useSyncExternalStore`). */
  readonly state: SessionState;
  /** Calls `listener` on every state change; returns the unsubscribe function. */
  subscribe: (listener: (state: SessionState) => void) => () => void;
  /**
   * Asks `GET /bff/user` who is signed in. `slide: false` checks without extending the session.
   * A 401 means signed out; any other failure throws a `GatehouseProblem` and keeps the state.
   * Always sent at once, even while the client's own checks wait for a `Retry-After`.
   */
  refresh: (opts?: { slide?: boolean }) => Promise<SessionState>;
  /** The `GET /bff/login` URL for these options (a tenant, an email, or the `defaultTenant`). */
  loginUrl: (...args: LoginArgs<HasDefaultTenant>) => string;
  /** Navigates to `loginUrl(opts)`. */
  login: (...args: LoginArgs<HasDefaultTenant>) => void;
  /**
   * Signs out as a top-level navigation: tells the other tabs, then navigates to this
   * session's `logoutUrl` (`GET /bff/logout?sid=…`), which ends the session and redirects the
   * browser to the IdP's end-session page, which comes back to the app (`returnTo`, default
   * `/`). No script sees that redirect. Resolves once the navigation has started.
   */
  logout: (opts?: LogoutOptions) => Promise<void>;
  /**
   * `fetch` for the app's APIs behind Gatehouse: adds `X-CSRF: 1` and same-origin credentials.
   * A 401 meaning "no session" moves the state to signed-out and tells the other tabs.
   * Every answer is returned, as fetch does (`readProblem(response)` reads a failed one as a
   * `GatehouseProblem`, with `retryAfterMs`). No answer at all (offline, DNS, connection refused)
   * rejects with a `GatehouseProblem` of status 0 and code `network_error` (fetch's error is its
   * `cause`), as the other calls do; the caller's own abort rejects with the signal's reason
   * (an `AbortError`, a `TimeoutError`), as fetch does.
   */
  apiFetch: (path: string, init?: RequestInit) => Promise<Response>;
  /** The user's sessions across devices. */
  listSessions: () => Promise<GatehouseSessionInfo[]>;
  /** Ends one of the user's sessions (normally another device's). */
  endSession: (id: string) => Promise<void>;
  /** Ends every session of the user except this browser's. */
  endOtherSessions: () => Promise<void>;
  /**
   * The public description of a tenant for its sign-in page.
   * Throws a GatehouseProblem with code `unknown_tenant` (404) for an unknown tenant.
   */
  getTenant: (tenant: string) => Promise<PublicTenant>;
  /** The tenant admin API. */
  admin: GatehouseAdmin;
  /**
   * Calls `listener` once per session expiry time, `expiryWarningSeconds` before it; a
   * listener added while that warning is in force hears it at once. Returns the unsubscribe
   * function.
   */
  onExpiryWarning: (listener: (secondsLeft: number) => void) => () => void;
  /** Closes the BroadcastChannel, stops timers and listeners. */
  dispose: () => void;
}

/** Sends one admin API request (`path` below `/admin/api`); non-2xx answers throw. */
export type AdminCall = (path: string, init: RequestInit) => Promise<Response>;

/** One named registration check, passed or not, with the body field it concerns. */
export type ProviderCheck = ProviderCheckResult;

/** What the checks of a provider answer (`…/test`, `…/provider-checks`), discovery aside. */
export type ProviderCheckReport = Pick<ProviderTestResult, 'ok' | 'checks'>;

/** The admin API calls behind the console's guided registration and its other tabs. */
export interface GatehouseAdminConsole {
  /** The tenant's live sessions, newest first. */
  listSessions: (tenant: string) => Promise<TenantSession[]>;
  /** Ends one session (by its public handle) on every instance. */
  endSession: (tenant: string, handle: string) => Promise<SessionsEnded>;
  /** Ends every session of one user of one provider. */
  endUserSessions: (tenant: string, provider: string, sub: string) => Promise<SessionsEnded>;
  listApiKeys: (tenant: string) => Promise<ApiKeyInfo[]>;
  /** The answer holds the key itself: shown once, never readable again. */
  issueApiKey: (tenant: string, label?: string) => Promise<IssuedApiKey>;
  revokeApiKey: (tenant: string, keyId: string) => Promise<void>;
  /** One page of the audit trail, oldest first; `since` = the previous page's `next`. */
  auditTrail: (
    tenant: string,
    query?: { since?: string; action?: string; limit?: number },
  ) => Promise<AuditPage>;
  /** A private_key_jwt provider's published signing keys and the JWKS URL to register. */
  listClientKeys: (tenant: string, provider: string) => Promise<ClientKeyList>;
  /** A new signing key: published now, signing after the activation delay. */
  rotateClientKey: (tenant: string, provider: string) => Promise<ClientKeyRotated>;
  /** Stops publishing a superseded signing key before its overlap ends. */
  retireClientKey: (tenant: string, provider: string, kid: string) => Promise<void>;
}
