import { userDigest } from '../digest.ts';
import type { Vault } from './vault.ts';
import type { DeviceInfo } from './device-summary.ts';

/**
 * Tokens as held server-side; only ever stored sealed by the {@link Vault}.
 *
 * @example
 * const tokens = await vault.open<TokenSet>(record.tokens);
 * const expiresInMs = tokens.expiresAtMs - Date.now();
 */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
  /**
   * When the access token expires (epoch ms). Sets sealed before v2 records hold `expiresAt`
   * (epoch s) instead; nothing reads it from a sealed set (the record's
   * {@link SessionRecord.accessTokenExpiresAtMs} is the copy every decision uses).
   */
  expiresAtMs: number;
  scope?: string;
}

/**
 * What Gatehouse keeps in a session (in the stored session document, key `gh`: see
 * `session/session-store.ts`). Identity claims are sealed like the tokens: the subject is kept
 * in clear only as the digest the indexes use ({@link SessionRecord.user}); `sub`, name,
 * email… are inside `claims`.
 *
 * Every time is epoch milliseconds and every duration milliseconds, with `Ms` in the name.
 * Version 1 records (mixed seconds and milliseconds, `sid` for the IdP's session id) are read
 * through {@link upgradeSessionRecord}.
 *
 * @example
 * const record: SessionRecord | undefined = await gatehouseInternals(gatehouse).sessions.read(sessionId);
 * if (record) console.log(record.tenant, new Date(record.absoluteExpiresAtMs));
 */
export interface SessionRecord {
  v: 2;
  tenant: string;
  provider: string;
  issuer: string;
  /** `userDigest(issuer, sub)` (digest.ts): the user's index key and log/audit handle. */
  user: string;
  /** The IdP's session id (the ID token's `sid` claim), for back-channel logout. */
  idpSid?: string;
  /** Filtered ID-token claims shown by `/bff/user` (`sub` included), sealed by the vault. */
  claims: string;
  /** {@link TokenSet}, sealed. */
  tokens: string;
  /** Copy of the access token's expiry so steady-state requests need no decryption to decide. */
  accessTokenExpiresAtMs: number;
  /**
   * DPoP (RFC 9449): the session's private key (an ES256 JWK), sealed. Present only when the
   * provider binds tokens with DPoP: every token of the session is then bound to this key and is
   * sent upstream only with a proof signed by it (see {@link isDpopBound}).
   */
  dpopKey?: string;
  /** Access tokens for specific resources (RFC 8707), by resource indicator; `token` is sealed. */
  resourceTokens?: Record<string, ResourceToken>;
  createdAtMs: number;
  lastSeenAtMs: number;
  absoluteExpiresAtMs: number;
  /** The tenant's idle timeout when it overrides the deployment's. */
  idleTimeoutMs?: number;
  /**
   * When the refresh token dies, if the IdP said (`refresh_expires_in`): the session never
   * outlives it.
   */
  refreshExpiresAtMs?: number;
  /** Opaque public handle for session management; never the session id. */
  handle: string;
  /** "Chrome 142 on Linux": {@link deviceInfo} in words. */
  device: string;
  /** The browser, system and kind of device that signed in (absent in older records). */
  deviceInfo?: DeviceInfo;
  /**
   * Outages simulated for this session by the test controls (development mode with
   * `testControls` only; never set otherwise): until when Gatehouse answers as if the IdP, or
   * the store, were down.
   */
  testFaults?: { idpUntilMs?: number; storeUntilMs?: number };
}

/** An access token for one resource (RFC 8707). */
export interface ResourceToken {
  /** The access token, sealed. */
  token: string;
  expiresAtMs: number;
}

/**
 * The access token's lifetime when a token response leaves out `expires_in` (only RECOMMENDED by
 * RFC 6749 §5.1): short, so that a token of unknown lifetime is soon refreshed.
 */
export const ASSUMED_EXPIRES_IN_SECONDS = 300;

/** The latest time a `Date` can hold (epoch ms): later than any token lives. */
const LATEST_TIME_MS = 8.64e15;

/**
 * When an access token of a token response expires (epoch ms), `expires_in` or the assumed.
 * No later than {@link LATEST_TIME_MS}: an `expires_in` too large for milliseconds would be
 * Infinity, stored as JSON `null`, and the token then refreshed at every call.
 */
export function accessTokenExpiresAtMs(
  response: { readonly expires_in?: number | undefined },
  nowMs: number,
): number {
  return Math.min(
    nowMs + (response.expires_in ?? ASSUMED_EXPIRES_IN_SECONDS) * 1000,
    LATEST_TIME_MS,
  );
}

/** Whether the session's tokens are bound to its DPoP key (never to be sent as Bearer tokens). */
export function isDpopBound(record: Pick<SessionRecord, 'dpopKey'>): boolean {
  return record.dpopKey !== undefined;
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

/**
 * A record written before identity claims were sealed (claims in clear, `sub` instead of
 * `user`): read as it is until the session ends, so an upgrade signs nobody out.
 */
interface LegacyFields {
  sub?: unknown;
  user?: unknown;
  claims?: unknown;
}

/** The record's user digest, also for a record written before claims were sealed. */
export function sessionUser(record: SessionRecord): string {
  const legacy = record as LegacyFields;
  if (typeof legacy.user === 'string') return legacy.user;
  return userDigest(record.issuer, typeof legacy.sub === 'string' ? legacy.sub : '');
}

/** The record's claims, opened (`sub` included). */
export async function openClaims(
  vault: Pick<Vault, 'open'>,
  record: SessionRecord,
): Promise<Record<string, unknown>> {
  const legacy = record as LegacyFields;
  if (typeof legacy.claims === 'object' && legacy.claims !== null) {
    return { sub: legacy.sub, ...(legacy.claims as Record<string, unknown>) };
  }
  return vault.open<Record<string, unknown>>(record.claims);
}

/** When the session ends if nothing happens: the earlier of the idle and the absolute limit. */
export function sessionExpiresAt(record: SessionRecord, defaultIdleTimeoutMs: number): number {
  return Math.min(
    record.lastSeenAtMs + (record.idleTimeoutMs ?? defaultIdleTimeoutMs),
    absoluteLimit(record),
  );
}

/** The absolute end: the configured absolute timeout, or the refresh token's death if sooner. */
export function absoluteLimit(record: SessionRecord): number {
  return Math.min(
    record.absoluteExpiresAtMs,
    record.refreshExpiresAtMs ?? Number.POSITIVE_INFINITY,
  );
}

/** `refresh_expires_in` (a common extension, e.g. Keycloak) as epoch ms, when the IdP sent it. */
export function refreshTokenExpiry(
  response: { readonly [parameter: string]: unknown },
  now: number,
): number | undefined {
  const seconds = response.refresh_expires_in;
  return typeof seconds === 'number' && seconds > 0 ? now + seconds * 1000 : undefined;
}
