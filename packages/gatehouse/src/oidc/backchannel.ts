import { sha256, userDigest } from '../digest.ts';
import {
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
} from 'jose';
import type * as client from 'openid-client';
import { problem } from '../errors.ts';
import type { KeyValueStore } from '../session/kv.ts';
import { sessionUser } from '../session/model.ts';
import type { SessionEnding, SessionService } from '../session/service.ts';
import type { ProviderClients } from './provider-clients.ts';
import { reportingFetch, type OutageLog } from '../observability/outages.ts';
import type { Metrics } from '../observability/metrics.ts';
import { meteredFetch } from './provider-clients.ts';

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Asymmetric algorithms only: never `none`, never HMAC with a public key. */
const LOGOUT_TOKEN_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'];
const MAX_TOKEN_AGE_SECONDS = 300;
/** `typ` values accepted (compared lower-cased); absent is accepted too. */
const ACCEPTED_TYPES = new Set(['logout+jwt', 'application/logout+jwt', 'jwt']);
/** Remember seen `jti`s a little longer than a token may be accepted. */
const REPLAY_WINDOW_MS = 2 * MAX_TOKEN_AGE_SECONDS * 1000;

export interface BackchannelLogoutOptions {
  providers: Pick<ProviderClients, 'client'>;
  sessions: SessionService;
  replay: KeyValueStore;
  /** The guarded fetch: the provider's JWKS URL came from its (tenant-supplied) discovery. */
  fetch: typeof fetch;
  /** Hears whether each issuer's key set answers (one log line per outage). */
  outages?: OutageLog;
  /** Counts the key set fetches (endpoint `jwks`) of the provider that first needed them. */
  metrics?: Metrics;
}

const invalid = (reason: string) =>
  problem('invalid_logout_token', { detail: `Logout token refused: ${reason}.` });

/**
 * OIDC Back-Channel Logout receiver: validates the logout token (signature by the provider's
 * JWKS, `iss`, `aud`, `iat`, `typ` when present (`logout+jwt` or `JWT`), the back-channel event, no `nonce`, `sid` or `sub`, `jti`
 * not replayed) and ends every matching session on every instance.
 */
export class BackchannelLogout {
  readonly #options: BackchannelLogoutOptions;
  readonly #jwks = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  constructor(options: BackchannelLogoutOptions) {
    this.#options = options;
  }

  /** @returns how many sessions ended. */
  async receive(
    tenant: string,
    provider: string,
    logoutToken: string,
    ending: SessionEnding = { reason: 'back-channel', by: { kind: 'provider', id: provider } },
  ): Promise<number> {
    const { providers, sessions } = this.#options;
    const configuration = await providers.client(tenant, provider);
    const claims = await this.#verify(configuration, logoutToken, { tenant, provider });
    const issuer = configuration.serverMetadata().issuer;

    const { replay } = this.#options;
    if ((await replay.get(claims.replayMarker)) !== undefined) throw invalid('replayed');
    // Word first, then the listing: a sign-in of this IdP session (or user) that indexes its
    // session after the listing ends it itself (SessionService.startSession).
    await sessions.rememberIdpLogout({ tenant, provider, issuer }, claims);
    const matches = claims.sid
      ? await sessions.sessionsOfIdpSession(issuer, claims.sid)
      : await sessions.sessionsOfUser(issuer, claims.sub ?? '');
    const ended = await sessions.endMatching(
      matches,
      (record) =>
        record.tenant === tenant &&
        record.provider === provider &&
        (!claims.sub || sessionUser(record) === userDigest(issuer, claims.sub)),
      ending,
    );
    // Remembered only once applied: a store failure anywhere above (even a write that the store
    // runs later, after a timeout) never makes the IdP's retry look like a replay. Two copies
    // arriving at the same moment both end the same sessions, which is harmless.
    await replay.put(claims.replayMarker, '1', REPLAY_WINDOW_MS);
    return ended;
  }

  async #verify(
    configuration: client.Configuration,
    logoutToken: string,
    where: { tenant: string; provider: string },
  ): Promise<JWTPayload & { sid?: string; replayMarker: string }> {
    const metadata = configuration.serverMetadata();
    if (!metadata.jwks_uri) throw invalid('the provider publishes no keys');
    let result;
    try {
      result = await jwtVerify(
        logoutToken,
        this.#keySet(metadata.jwks_uri, metadata.issuer, where),
        {
          issuer: metadata.issuer,
          audience: configuration.clientMetadata().client_id,
          algorithms: LOGOUT_TOKEN_ALGORITHMS,
          maxTokenAge: MAX_TOKEN_AGE_SECONDS,
          clockTolerance: 30,
          currentDate: new Date(this.#options.sessions.clock()),
          requiredClaims: ['iat', 'jti', 'events'],
        },
      );
    } catch (error) {
      // The provider's keys could not be fetched: the IdP should try again later (503), not be
      // told its token was bad.
      if (!(error instanceof joseErrors.JOSEError) || isKeySetUnavailable(error)) {
        throw problem('idp_unavailable', { cause: error });
      }
      throw invalid(error.code.replace(/^ERR_/, '').toLowerCase());
    }
    const { payload, protectedHeader } = result;
    // The spec only RECOMMENDS `logout+jwt`; Keycloak (up to 24) and glewlwyd send `JWT`. What
    // tells a logout token from an ID token is checked below: the event present, no nonce.
    // jose checks no `typ` it was not asked for: a header's value may be any JSON (a number, an
    // object), refused like an unknown typ rather than failing the request.
    const typ: unknown = protectedHeader.typ;
    if (typ !== undefined && (typeof typ !== 'string' || !ACCEPTED_TYPES.has(typ.toLowerCase())))
      throw invalid('wrong typ');
    const events = payload.events as Record<string, unknown> | undefined;
    const event = events && typeof events === 'object' ? events[BACKCHANNEL_EVENT] : undefined;
    if (!event || typeof event !== 'object') throw invalid('no back-channel logout event');
    if ('nonce' in payload) throw invalid('a nonce is not allowed');
    const sid = typeof payload.sid === 'string' ? payload.sid : undefined;
    if (!sid && typeof payload.sub !== 'string') throw invalid('neither sid nor sub');
    if (typeof payload.jti !== 'string') throw invalid('no jti');

    const marker = `bcl:jti:{${sha256(metadata.issuer)}}:${sha256(payload.jti)}`;
    return { ...payload, ...(sid ? { sid } : {}), replayMarker: marker };
  }

  #keySet(
    jwksUri: string,
    issuer: string,
    where: { tenant: string; provider: string },
  ): ReturnType<typeof createRemoteJWKSet> {
    let keySet = this.#jwks.get(jwksUri);
    if (!keySet) {
      const { outages, metrics } = this.#options;
      const reporting = outages
        ? reportingFetch(this.#options.fetch, `IdP ${issuer}`, outages)
        : this.#options.fetch;
      const fetch = metrics?.enabled
        ? (meteredFetch(reporting, metrics, { tenant: where.tenant, id: where.provider }, () => ({
            issuer,
            jwks_uri: jwksUri,
          })) as typeof reporting)
        : reporting;
      keySet = createRemoteJWKSet(new URL(jwksUri), { [customFetch]: fetch });
      this.#jwks.set(jwksUri, keySet);
    }
    return keySet;
  }
}

/** jose's ways of saying the JWKS could not be fetched (as opposed to a bad token). */
function isKeySetUnavailable(error: joseErrors.JOSEError): boolean {
  return (
    error.code === 'ERR_JWKS_TIMEOUT' ||
    (error.code === 'ERR_JOSE_GENERIC' && /JSON Web Key Set/i.test(error.message))
  );
}
