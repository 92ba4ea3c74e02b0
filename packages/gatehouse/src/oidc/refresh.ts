/*
 * Over 300 lines on purpose: one use case, the refresh of a session's tokens, and its
 * single-flight rules (in-process and across instances through the lease), OIDC Core 12.2's
 * subject check, the error mapping (invalid_grant ends the session, an outage never does) and
 * the resource tokens share the TokenRefresher's private state.
 */
import { LRUCache } from 'lru-cache';
import * as client from 'openid-client';
import { GatehouseError, problem } from '../errors.ts';
import { sleep } from '../session/lock.ts';
import { userDigest } from '../digest.ts';
import {
  accessTokenExpiresAtMs,
  refreshTokenExpiry,
  sessionUser,
  type SessionRecord,
  type TokenSet,
} from '../session/model.ts';
import type { SessionService } from '../session/service.ts';
import { idpOutageSimulated } from '../session/test-controls.ts';
import { UnopenableValueError, unopenableReason, type Vault } from '../session/vault.ts';
import type { ProviderClients } from './provider-clients.ts';
import {
  isClientRejected,
  openidClientGrants,
  type GrantResponse,
  type IdpGrants,
} from './idp-grants.ts';
import { DpopKeys, type DpopRequestHeaders } from './dpop.ts';
import { toTokenSet } from './login.ts';
import { performance } from 'node:perf_hooks';
import {
  NO_METRICS,
  type Metrics,
  type RefreshOutcome,
  type SessionEndReason,
} from '../observability/metrics.ts';
import type { SessionEndReason as AuditEndReason } from '../observability/audit.ts';

export interface TokenRefresherOptions {
  sessions: SessionService;
  providers: Pick<ProviderClients, 'client'>;
  vault: Vault;
  /** The IdP's token endpoint (default: openid-client). */
  grants?: IdpGrants;
  /** Refresh when the access token expires within this many seconds. */
  skewSeconds: number;
  /** How long a caller waits for another instance's refresh before giving up with 503. */
  maxWaitMs?: number;
  pollMs?: number;
  /** Counts refreshes by outcome and times them; sessions ended by a failed refresh. */
  metrics?: Metrics;
  /**
   * Honour IdP outages simulated by the test controls (`testControls`, development only):
   * a session's refresh then fails as if its IdP were down.
   */
  simulatedOutages?: boolean;
}

const SIMULATED_IDP_OUTAGE = 'The identity provider is unavailable (a test control); try again.';

/**
 * Keeps access tokens fresh. Single-flight per session within the process (a shared promise)
 * and across instances (the session lock in Redis): after taking the lock the session is read
 * again and refreshed only if still needed; everyone else waits for the stored result, so a
 * rotating refresh token is used exactly once.
 */
export class TokenRefresher {
  readonly #options: Required<TokenRefresherOptions>;
  /** Sessions' DPoP keys, opened once (next to the opened access tokens below). */
  readonly #dpopKeys: DpopKeys;
  readonly #inFlight = new Map<string, Promise<SessionRecord>>();
  /**
   * Access tokens already opened, keyed by the sealed value they came from: the session is still
   * read from the store on every call (a logout anywhere is seen at once), only the decryption
   * of the same sealed value is not repeated. Never a refresh or ID token.
   */
  readonly #opened = new LRUCache<string, string>({
    max: 10_000,
    maxSize: 32 * 1024 * 1024,
    sizeCalculation: (token, sealed) => token.length + sealed.length,
    ttl: 15 * 60_000,
  });

  constructor(options: TokenRefresherOptions) {
    this.#options = {
      maxWaitMs: 15_000,
      pollMs: 25,
      grants: openidClientGrants,
      metrics: NO_METRICS,
      simulatedOutages: false,
      ...options,
    };
    this.#dpopKeys = new DpopKeys(this.#options.vault);
  }

  /**
   * The `Authorization: DPoP …` and `DPoP` proof headers of one upstream call with a session's
   * DPoP-bound access token (RFC 9449 §7): a fresh proof (`htm`, `htu`, `ath`, `iat`, `jti`)
   * signed by the session's key, opened and imported once per process. A key sealed under a
   * retired encryption key, or damaged, ends the session, as for the tokens.
   */
  async dpopHeaders(
    sid: string,
    record: SessionRecord,
    accessToken: string,
    method: string,
    url: URL,
  ): Promise<DpopRequestHeaders> {
    const sealed = record.dpopKey;
    if (sealed === undefined) throw new Error('the session has no DPoP key');
    try {
      return await this.#dpopKeys.requestHeaders(sealed, accessToken, method, url);
    } catch (error) {
      if (!(error instanceof UnopenableValueError)) throw error;
      return this.#endUnopenable(sid, record, error);
    }
  }

  /**
   * Whether the access token (the login's default one, or the one for `resource`) expires within
   * the skew window or does not exist yet.
   */
  needsRefresh(record: SessionRecord, resource?: string): boolean {
    const expiresAtMs = resource
      ? record.resourceTokens?.[resource]?.expiresAtMs
      : record.accessTokenExpiresAtMs;
    if (expiresAtMs === undefined) return true;
    return expiresAtMs - this.#options.skewSeconds * 1000 <= this.#options.sessions.clock();
  }

  /**
   * The session's current access token — the default one, or the one for `resource` (RFC 8707)
   * — refreshing first when it expires within the skew.
   */
  accessToken(sid: string, stored: SessionRecord, resource?: string): string | Promise<string> {
    // A refresh of this process whose write has not reached the store yet is the truth.
    const record = this.#options.sessions.current(sid, stored);
    if (!this.needsRefresh(record, resource)) {
      // Opened before in this process (the proxied call's steady state): no asynchronous step.
      const sealed = resource ? record.resourceTokens?.[resource]?.token : record.tokens;
      const opened = sealed === undefined ? undefined : this.#opened.get(sealed);
      if (opened !== undefined) return opened;
    }
    return this.#accessToken(sid, record, resource);
  }

  async #accessToken(sid: string, record: SessionRecord, resource?: string): Promise<string> {
    const fresh = this.needsRefresh(record, resource)
      ? await this.refreshIfExpiring(sid, resource)
      : record;
    const sealed = resource ? fresh.resourceTokens?.[resource]?.token : fresh.tokens;
    if (!sealed) throw problem('session_expired');
    const opened = this.#opened.get(sealed);
    if (opened !== undefined) return opened;
    const token = resource
      ? await this.#open<string>(sid, fresh, sealed)
      : (await this.#open<TokenSet>(sid, fresh, sealed)).accessToken;
    this.#opened.set(sealed, token);
    return token;
  }

  /**
   * Opens the session's sealed tokens. Tokens sealed under a retired encryption key, or damaged
   * under the fleet's own key, cannot be opened by anyone any more: the session ends (401
   * `session_expired`, the user signs in again) rather than failing every call with a 500.
   */
  async #open<T>(sid: string, record: SessionRecord, sealed: string): Promise<T> {
    try {
      return await this.#options.vault.open<T>(sealed);
    } catch (error) {
      if (!(error instanceof UnopenableValueError)) throw error;
      return this.#endUnopenable(sid, record, error);
    }
  }

  /** Single-flight per (session, resource) in this process; the session lock does the rest. */
  refreshIfExpiring(sid: string, resource?: string): Promise<SessionRecord> {
    const key = resource ? `${sid}\n${resource}` : sid;
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#refreshAcrossInstances(sid, resource).finally(() =>
        this.#inFlight.delete(key),
      );
      this.#inFlight.set(key, pending);
    }
    return pending;
  }

  async #refreshAcrossInstances(sid: string, resource: string | undefined): Promise<SessionRecord> {
    const { sessions, maxWaitMs, pollMs } = this.#options;
    const deadline = sessions.clock() + maxWaitMs;
    for (;;) {
      // The IdP has rotated the refresh token once it answers: a result that cannot be stored
      // now is kept in memory and stored later, never thrown away.
      const updated = await sessions.tryUpdate(
        sid,
        (record) => this.#refreshRecord(sid, record, resource),
        { keepIfUnwritten: true },
      );
      if (updated === null) throw problem('session_expired');
      if (updated) return updated;
      // Someone else holds the lock: wait for their result rather than refreshing twice.
      await sleep(pollMs);
      const stored = await sessions.read(sid);
      if (!stored) throw problem('session_expired');
      const current = sessions.current(sid, stored);
      if (!this.needsRefresh(current, resource)) return current;
      if (sessions.clock() > deadline) {
        throw problem('refresh_busy');
      }
    }
  }

  /**
   * Runs under the session lock on a freshly read record. Every grant rotates the refresh
   * token, so a resource token's refresh also stores the new refresh token for everyone.
   */
  async #refreshRecord(
    sid: string,
    record: SessionRecord,
    resource: string | undefined,
  ): Promise<SessionRecord> {
    if (!this.needsRefresh(record, resource)) return record;
    const { vault, providers, sessions, grants, metrics } = this.#options;
    const tokens = await this.#open<TokenSet>(sid, record, record.tokens);
    if (!tokens.refreshToken) return this.#endSession(sid, record, 'no_refresh_token', 0);
    if (this.#options.simulatedOutages && idpOutageSimulated(record, sessions.clock())) {
      throw problem('idp_unavailable', { detail: SIMULATED_IDP_OUTAGE });
    }
    const configuration = await providers.client(record.tenant, record.provider);
    // DPoP: the refresh proves possession of the session's key, so the new tokens stay bound to
    // it; the session's handle is kept between refreshes, and with it the IdP's nonce.
    const dpop =
      record.dpopKey === undefined
        ? undefined
        : {
            DPoP: await this.#dpopKeys
              .idpHandle(record.dpopKey, configuration)
              .catch((error: unknown) => {
                if (!(error instanceof UnopenableValueError)) throw error;
                return this.#endUnopenable(sid, record, error);
              }),
          };
    let response: GrantResponse;
    const startedAt = performance.now();
    const seconds = () => (performance.now() - startedAt) / 1000;
    try {
      response = await grants.refresh(
        configuration,
        tokens.refreshToken,
        resource ? { resource } : {},
        dpop,
      );
    } catch (error) {
      if (error instanceof client.ResponseBodyError && error.error === 'invalid_grant') {
        return this.#endSession(sid, record, 'invalid_grant', seconds());
      }
      if (error instanceof client.ResponseBodyError && error.error === 'invalid_target') {
        metrics.refresh('resource_not_granted', seconds());
        throw problem('resource_not_granted', { cause: error });
      }
      // Ours, from inside openid-client (the client assertion's key read from the store).
      if (error instanceof client.ClientError && error.cause instanceof GatehouseError) {
        throw error.cause;
      }
      // OIDC Core 12.2: openid-client refuses a refreshed ID token whose `iss` or `aud` differs
      // from the session's (issuer, client): the session must not carry on with those tokens.
      if (error instanceof client.ClientError && error.code === ID_TOKEN_CLAIM_MISMATCH) {
        return this.#endSession(sid, record, 'subject_mismatch', seconds(), error);
      }
      // The IdP refused Gatehouse's own credentials: an admin must fix the provider; the
      // user's session is not at fault and stays.
      if (isClientRejected(error)) {
        metrics.refresh('client_rejected', seconds());
        throw problem('idp_client_rejected', { cause: error });
      }
      // Unreachable or misbehaving IdP: fail this call, keep the session.
      metrics.refresh('idp_unavailable', seconds());
      throw problem('idp_unavailable', { cause: error });
    }
    // OIDC Core 12.2: an ID token from a refresh must be about the same subject at the same
    // issuer; anything else means the IdP mixed up sessions, and this one must not carry on.
    const refreshed = response.claims();
    if (
      refreshed &&
      (refreshed.iss !== record.issuer ||
        userDigest(refreshed.iss, refreshed.sub) !== sessionUser(record))
    ) {
      return this.#endSession(
        sid,
        record,
        'subject_mismatch',
        seconds(),
        new RefreshRefused(
          refreshed.iss !== record.issuer
            ? 'the refreshed ID token names another issuer'
            : 'the refreshed ID token names another subject',
        ),
      );
    }
    // A DPoP session's tokens must stay bound: an IdP that answers a proven refresh with a
    // Bearer token has dropped the binding, and the session does not carry on with it.
    if (record.dpopKey !== undefined && response.token_type !== 'dpop') {
      return this.#endSession(sid, record, 'dpop_unbound', seconds());
    }
    metrics.refresh('ok', seconds());
    const now = sessions.clock();
    // A new refresh token brings its own lifetime (or an unknown one); none keeps the old.
    const lifetime = response.refresh_token
      ? { refreshExpiresAtMs: refreshTokenExpiry(response, now) }
      : {};
    if (!resource) {
      const next = toTokenSet(response, tokens, now);
      return {
        ...record,
        ...lifetime,
        tokens: await vault.seal(next),
        accessTokenExpiresAtMs: next.expiresAtMs,
      };
    }
    const rotated: TokenSet = {
      ...tokens,
      refreshToken: response.refresh_token ?? tokens.refreshToken,
    };
    const resourceToken = {
      token: await vault.seal(response.access_token),
      expiresAtMs: accessTokenExpiresAtMs(response, now),
    };
    return {
      ...record,
      ...lifetime,
      tokens: await vault.seal(rotated),
      resourceTokens: { ...record.resourceTokens, [resource]: resourceToken },
    };
  }

  /** Ends a session whose tokens or DPoP key no instance can open: 401 `session_expired`. */
  #endUnopenable(sid: string, record: SessionRecord, error: UnopenableValueError): Promise<never> {
    const outcome = unopenableReason(error) === 'retired-key' ? 'retired_key' : 'unreadable';
    return this.#endSession(sid, record, outcome, 0, error);
  }

  /** The refresh token is dead (revoked, expired, reused): the session ends with it. */
  async #endSession(
    sid: string,
    record: SessionRecord,
    outcome: RefreshOutcome,
    seconds: number,
    cause?: Error,
  ): Promise<never> {
    const { metrics } = this.#options;
    metrics.refresh(outcome, seconds);
    // Tokens no instance can open (sealed under a retired encryption key, or damaged) end the
    // session for that reason, as its claims do (`sessionClaims`); anything else is the refresh
    // failing.
    const [reason, counted] =
      ENDED_BY[outcome === 'retired_key' || outcome === 'unreadable' ? outcome : 'refresh_failure'];
    const ended = await this.#options.sessions.end(sid, record, { reason });
    // Not when a logout or an admin ended the session first (the IdP then refuses its token).
    if (ended) metrics.sessionsEnded(counted);
    // The cause goes to the request's access line (never to the client).
    throw problem('session_expired', { cause: cause ?? new RefreshRefused(outcome) });
  }
}

/** How a session ended by a refresh outcome is audited and counted (else: `refresh_failure`). */
const ENDED_BY: Record<
  'retired_key' | 'unreadable' | 'refresh_failure',
  readonly [AuditEndReason, SessionEndReason]
> = {
  retired_key: ['retired-key', 'retired_key'],
  unreadable: ['unreadable', 'unreadable'],
  refresh_failure: ['refresh-failure', 'refresh_failure'],
};

/** openid-client's code for an ID token claim (`iss`, `aud`, `azp`…) that does not match. */
const ID_TOKEN_CLAIM_MISMATCH = 'OAUTH_JWT_CLAIM_COMPARISON_FAILED';

/** Why a refresh ended its session, for the access line: a fixed sentence, never a token. */
export class RefreshRefused extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RefreshRefused';
  }
}
