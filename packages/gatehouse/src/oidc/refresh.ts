import * as client from 'openid-client';
import { GatehouseError, idpUnavailable, sessionExpired } from '../errors.ts';
import { sleep } from '../session/lock.ts';
import type { SessionRecord, TokenSet } from '../session/model.ts';
import type { SessionService } from '../session/service.ts';
import type { Vault } from '../session/vault.ts';
import type { ProviderClients } from './provider-clients.ts';
import { toTokenSet } from './login.ts';

export interface TokenRefresherOptions {
  sessions: SessionService;
  providers: ProviderClients;
  vault: Vault;
  /** Refresh when the access token expires within this many seconds. */
  skewSeconds: number;
  /** How long a caller waits for another instance's refresh before giving up with 503. */
  maxWaitMs?: number;
  pollMs?: number;
}

/**
 * Keeps access tokens fresh. Single-flight per session within the process (a shared promise)
 * and across instances (the session lock in Redis): after taking the lock the session is read
 * again and refreshed only if still needed; everyone else waits for the stored result, so a
 * rotating refresh token is used exactly once.
 */
export class TokenRefresher {
  readonly #options: Required<TokenRefresherOptions>;
  readonly #inFlight = new Map<string, Promise<SessionRecord>>();

  constructor(options: TokenRefresherOptions) {
    this.#options = { maxWaitMs: 15_000, pollMs: 25, ...options };
  }

  needsRefresh(record: SessionRecord): boolean {
    const now = this.#options.sessions.clock() / 1000;
    return record.accessTokenExpiresAt - this.#options.skewSeconds <= now;
  }

  /** The session's current access token, refreshing first when it expires within the skew. */
  async accessToken(sid: string, record: SessionRecord): Promise<string> {
    const fresh = this.needsRefresh(record) ? await this.refreshIfExpiring(sid) : record;
    return (await this.#options.vault.open<TokenSet>(fresh.tokens)).accessToken;
  }

  refreshIfExpiring(sid: string): Promise<SessionRecord> {
    let pending = this.#inFlight.get(sid);
    if (!pending) {
      pending = this.#refreshAcrossInstances(sid).finally(() => this.#inFlight.delete(sid));
      this.#inFlight.set(sid, pending);
    }
    return pending;
  }

  async #refreshAcrossInstances(sid: string): Promise<SessionRecord> {
    const { sessions, maxWaitMs, pollMs } = this.#options;
    const deadline = sessions.clock() + maxWaitMs;
    for (;;) {
      const updated = await sessions.tryUpdate(sid, (record) => this.#refreshRecord(sid, record));
      if (updated === null) throw sessionExpired();
      if (updated) return updated;
      // Someone else holds the lock: wait for their result rather than refreshing twice.
      await sleep(pollMs);
      const current = (await sessions.read(sid))?.gh;
      if (!current) throw sessionExpired();
      if (!this.needsRefresh(current)) return current;
      if (sessions.clock() > deadline) {
        throw new GatehouseError(
          503,
          'refresh_busy',
          'The session is being refreshed; try again.',
          {
            expose: true,
            headers: { 'retry-after': '1' },
          },
        );
      }
    }
  }

  async #refreshRecord(sid: string, record: SessionRecord): Promise<SessionRecord> {
    if (!this.needsRefresh(record)) return record;
    const { vault, providers, sessions } = this.#options;
    const tokens = await vault.open<TokenSet>(record.tokens);
    if (!tokens.refreshToken) return this.#endSession(sid);
    const configuration = await providers.client(record.tenant, record.provider);
    let response: client.TokenEndpointResponse;
    try {
      response = await client.refreshTokenGrant(configuration, tokens.refreshToken);
    } catch (error) {
      if (error instanceof client.ResponseBodyError && error.error === 'invalid_grant') {
        return this.#endSession(sid);
      }
      // Unreachable or misbehaving IdP: fail this call, keep the session.
      throw idpUnavailable(error);
    }
    const next = toTokenSet(response, tokens, sessions.clock());
    return { ...record, tokens: await vault.seal(next), accessTokenExpiresAt: next.expiresAt };
  }

  /** The refresh token is dead (revoked, expired, reused): the session ends with it. */
  async #endSession(sid: string): Promise<never> {
    await this.#options.sessions.destroy(sid);
    throw sessionExpired();
  }
}
