import { randomUUID } from 'node:crypto';
import { sha256 } from '../digest.ts';
import { SignJWT } from 'jose';
import { sessionUser, type SessionRecord } from '../session/model.ts';
import type { Clock } from '../clock.ts';
import type { SigningKeyRing } from './key-ring.ts';
import { DEFAULT_TOKEN_LIFETIME_SECONDS } from './signing-key-config.ts';

export interface DownstreamTokenOptions {
  keys: SigningKeyRing;
  /** `iss` of every token: the public origin, no trailing slash. */
  issuer: string;
  clock: Clock;
  /** Opens a session's sealed claims (`sub`, email, roles): only when a token is minted. */
  openClaims: (session: SessionRecord) => Promise<Record<string, unknown>>;
  /** Most (session, audience) tokens kept; the least recently used go first. Default 10 000. */
  maxCachedTokens?: number;
  /** A token is minted anew once fewer than this many seconds remain. Default 60. */
  renewBeforeSeconds?: number;
}

export interface DownstreamTokenRequest {
  sessionId: string;
  session: SessionRecord;
  audience: string;
  lifetimeSeconds?: number | undefined;
}

interface CachedToken {
  token: string;
  /** Epoch seconds. */
  expiresAt: number;
  /** Who it was minted for: a hit must be for the very same identity. */
  identity: string;
}

/**
 * Mints the short-lived `at+jwt` tokens of `gatehouse`-mode routes and reuses each one per
 * (session, audience, signing key) until it is about to expire. The cache lives in this process
 * only: a token is cheap to mint, so sharing it would cost Redis writes for nothing.
 *
 * @example
 * const token = await minter.tokenFor({ sessionId, session, audience: 'urn:api' });
 */
export class DownstreamTokenMinter {
  readonly #options: Required<DownstreamTokenOptions>;
  /** Insertion order is recency order: a hit is moved to the end, eviction takes the front. */
  readonly #cache = new Map<string, CachedToken>();

  constructor(options: DownstreamTokenOptions) {
    this.#options = { maxCachedTokens: 10_000, renewBeforeSeconds: 60, ...options };
  }

  async tokenFor(request: DownstreamTokenRequest): Promise<string> {
    const signingKey = this.#options.keys.signingKey();
    const lifetime = request.lifetimeSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS;
    const key = `${request.sessionId}\n${request.audience}\n${signingKey.kid}`;
    const identity = identityOf(request.session);
    const now = Math.floor(this.#options.clock() / 1000);

    const cached = this.#cache.get(key);
    if (cached && cached.identity === identity && this.#stillFresh(cached, now, lifetime)) {
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return cached.token;
    }

    const expiresAt = now + lifetime;
    const claims = await this.#options.openClaims(request.session);
    const sub = typeof claims.sub === 'string' ? claims.sub : '';
    const token = await new SignJWT(downstreamClaims(request.session, sub, claims))
      .setProtectedHeader({ alg: signingKey.alg, kid: signingKey.kid, typ: 'at+jwt' })
      .setIssuer(this.#options.issuer)
      .setAudience(request.audience)
      .setSubject(gatehouseSubject({ ...request.session, sub }))
      .setIssuedAt(now)
      .setExpirationTime(expiresAt)
      .setJti(randomUUID())
      .sign(signingKey.privateKey);
    this.#remember(key, { token, expiresAt, identity });
    return token;
  }

  /** Number of cached tokens (tests of the bound). */
  get size(): number {
    return this.#cache.size;
  }

  #stillFresh(cached: CachedToken, now: number, lifetime: number): boolean {
    const renewBefore = Math.min(this.#options.renewBeforeSeconds, lifetime / 2);
    return cached.expiresAt - now > renewBefore;
  }

  #remember(key: string, entry: CachedToken): void {
    this.#cache.delete(key);
    this.#cache.set(key, entry);
    while (this.#cache.size > this.#options.maxCachedTokens) {
      const oldest = this.#cache.keys().next();
      if (oldest.done) break;
      this.#cache.delete(oldest.value);
    }
  }
}

/**
 * The `sub` of a Gatehouse-signed token. Every tenant's tokens share one issuer (Gatehouse), and
 * a tenant chooses its own IdP, so the IdP's `sub` alone would let one tenant's user pass as
 * another tenant's: the subject is a stable digest of (tenant, IdP issuer, IdP sub) instead, and
 * the raw values travel as `idp_iss` / `idp_sub`.
 */
export function gatehouseSubject(session: { tenant: string; issuer: string; sub: string }): string {
  return sha256(session.tenant, session.issuer, session.sub);
}

/** Who the user is at their IdP and which tenant and provider they came through. `roles` are the tenant IdP's own, so tenant-scoped. */
function downstreamClaims(
  session: SessionRecord,
  sub: string,
  identity: Record<string, unknown>,
): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    tenant: session.tenant,
    provider: session.provider,
    idp_iss: session.issuer,
    idp_sub: sub,
  };
  const { email, roles } = identity;
  if (typeof email === 'string') claims.email = email;
  if (Array.isArray(roles) && roles.every((role) => typeof role === 'string')) {
    claims.roles = roles;
  }
  return claims;
}

function identityOf(session: SessionRecord): string {
  return JSON.stringify([session.issuer, sessionUser(session), session.tenant, session.provider]);
}
