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

/** `GET /bff/tenants/:tenant`: what the public tenant page may show. */
export interface PublicTenant {
  tenant: { id: string; name: string };
  /** The providers a user of this tenant may sign in with (enabled ones only). */
  providers: Array<{ id: string; displayName: string }>;
}

/** Who the admin API takes the caller for (`GET /admin/api/me`). */
export interface AdminIdentity {
  role: 'operator' | 'tenant-admin';
  /** The tenant a tenant admin administers; absent for the operator. */
  tenant?: string;
}

/** How the provider authenticates Gatehouse at its token endpoint. */
export type TokenEndpointAuthMethod =
  'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';

/** A tenant's identity provider as the admin API shows it: the secret is never read back. */
export interface TenantProvider {
  id: string;
  tenant: string;
  displayName: string;
  issuer: string;
  clientId: string;
  /** Whether a client secret is stored (its value never leaves the server). */
  hasClientSecret: boolean;
  tokenEndpointAuthMethod: string;
  scopes: string[];
  authorizationParams: Record<string, string>;
  enabled: boolean;
  /** `config` providers come from the config file and are read-only through the API. */
  source: 'config' | 'dynamic';
}

/** A provider plus the URIs its admin must configure at the IdP. */
export interface ProviderView {
  provider: TenantProvider;
  /** The redirect URI to register at the IdP (always present after a create or update). */
  redirectUri?: string;
  /** The back-channel logout URI to register at the IdP. */
  backchannelLogoutUri?: string;
}

/** `POST /admin/api/tenants/:tenant/providers`. */
export interface ProviderInput {
  id: string;
  displayName: string;
  issuer: string;
  clientId: string;
  /** Write-only; omit for `none` and `private_key_jwt`. */
  clientSecret?: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  scopes?: string[];
  authorizationParams?: Record<string, string>;
  enabled?: boolean;
}

/**
 * `PATCH …/providers/:id`: only the fields to change. `clientSecret` absent keeps the stored
 * secret, a string replaces it, `null` removes it (for `private_key_jwt` and `none`).
 */
export type ProviderPatch = Partial<Omit<ProviderInput, 'id' | 'clientSecret'>> & {
  clientSecret?: string | null;
};

/** One check of `POST …/providers/:id/test`, as far as the server described it. */
export interface ProviderCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

/** A passed provider test; a failed one throws a `provider_check_failed` GatehouseProblem. */
export interface ProviderTestResult {
  ok: true;
  checks: ProviderCheck[];
}

/**
 * The tenant admin API (`/admin/api`), authenticated by the session cookie plus `X-CSRF: 1`.
 * Failures throw a GatehouseProblem (`errors` for `validation_failed`, `check` and `detail` for
 * `provider_check_failed`, `read_only` for config providers). A 401 signs the client out only
 * when `GET /bff/user` confirms the session is gone.
 */
export interface GatehouseAdmin {
  me: () => Promise<AdminIdentity>;
  listProviders: (tenant: string) => Promise<ProviderView[]>;
  createProvider: (tenant: string, input: ProviderInput) => Promise<ProviderView>;
  updateProvider: (tenant: string, id: string, patch: ProviderPatch) => Promise<ProviderView>;
  deleteProvider: (tenant: string, id: string) => Promise<void>;
  /** Re-runs discovery and the provider checks. */
  testProvider: (tenant: string, id: string) => Promise<ProviderTestResult>;
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
   * The public description of a tenant for its sign-in page.
   * Throws a GatehouseProblem with code `unknown_tenant` (404) for an unknown tenant.
   */
  getTenant: (tenant: string) => Promise<PublicTenant>;
  /** The tenant admin API. */
  admin: GatehouseAdmin;
  /**
   * Calls `listener` once per session expiry time, `expiryWarningSeconds` before it.
   * Returns the unsubscribe function.
   */
  onExpiryWarning: (listener: (secondsLeft: number) => void) => () => void;
  /** Closes the BroadcastChannel, stops timers and listeners. */
  dispose: () => void;
}
