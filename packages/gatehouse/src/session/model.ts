/** Tokens as held server-side; only ever stored sealed by the {@link Vault}. */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
  /** Epoch seconds. */
  expiresAt: number;
  scope?: string;
}

/** What Gatehouse keeps in a session (inside express-session's record, key `gh`). */
export interface SessionRecord {
  v: 1;
  tenant: string;
  provider: string;
  issuer: string;
  sub: string;
  /** The IdP's session id (`sid` of the ID token), for back-channel logout. */
  sid?: string;
  /** Filtered ID-token claims shown by `/bff/user`. */
  claims: Record<string, unknown>;
  /** {@link TokenSet}, sealed. */
  tokens: string;
  /** Copy of the access token's expiry (epoch s) so steady-state requests need no decryption to decide. */
  accessTokenExpiresAt: number;
  /** Access tokens for specific resources (RFC 8707), by resource indicator; `token` is sealed. */
  resourceTokens?: Record<string, { token: string; expiresAt: number }>;
  /** Epoch milliseconds. */
  createdAt: number;
  lastSeenAt: number;
  absoluteExpiresAt: number;
  /** The tenant's idle timeout when it overrides the deployment's (milliseconds). */
  idleTimeoutMs?: number;
  /**
   * When the refresh token dies (epoch ms), if the IdP said (`refresh_expires_in`): the session
   * never outlives it.
   */
  refreshExpiresAt?: number;
  /** Opaque public handle for session management; never the session id. */
  handle: string;
  device: string;
  /**
   * Outages simulated for this session by the test controls (development mode with
   * `testControls` only; never set otherwise): until when (epoch ms) Gatehouse answers as if the
   * IdP, or the store, were down.
   */
  testFaults?: { idpUntil?: number; storeUntil?: number };
}

declare module 'express-session' {
  interface SessionData {
    gh?: SessionRecord;
  }
}

/** Claims worth showing the SPA; protocol claims (nonce, at_hash, sid, auth_time…) stay server-side. */
const SHOWN_CLAIMS = [
  'sub',
  'name',
  'given_name',
  'family_name',
  'preferred_username',
  'nickname',
  'email',
  'email_verified',
  'picture',
  'locale',
  'zoneinfo',
  'roles',
  'groups',
] as const;

export function filterClaims(claims: Record<string, unknown>): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const name of SHOWN_CLAIMS) {
    if (claims[name] !== undefined) shown[name] = claims[name];
  }
  return shown;
}

/** When the session ends if nothing happens: the earlier of the idle and the absolute limit. */
export function sessionExpiresAt(record: SessionRecord, defaultIdleTimeoutMs: number): number {
  return Math.min(
    record.lastSeenAt + (record.idleTimeoutMs ?? defaultIdleTimeoutMs),
    absoluteLimit(record),
  );
}

/** The absolute end: the configured absolute timeout, or the refresh token's death if sooner. */
export function absoluteLimit(record: SessionRecord): number {
  return Math.min(record.absoluteExpiresAt, record.refreshExpiresAt ?? Number.POSITIVE_INFINITY);
}

/** `refresh_expires_in` (a common extension, e.g. Keycloak) as epoch ms, when the IdP sent it. */
export function refreshTokenExpiry(
  response: { readonly [parameter: string]: unknown },
  now: number,
): number | undefined {
  const seconds = response.refresh_expires_in;
  return typeof seconds === 'number' && seconds > 0 ? now + seconds * 1000 : undefined;
}
