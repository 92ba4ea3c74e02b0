import { createRemoteJWKSet, decodeJwt, errors, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import type { RequestHandler, Response } from 'express';
import type { TrustedIssuer, VerifiedAccessToken } from './types.ts';
import { DPOP_ALGORITHMS, InvalidProof, verifyDpopProof, type ReplayCache } from './dpop.ts';

const REALM = 'demo-api';
/** Real access tokens are a few KB; anything bigger is refused before we spend work decoding it. */
const MAX_TOKEN_LENGTH = 8192;
/** RFC 6750 b64token; the scheme name is case-insensitive (RFC 9110). */
const BEARER_HEADER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
/** RFC 9449 §7.1: the same token68 after the `DPoP` scheme. */
const DPOP_HEADER = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i;
const REQUIRED_CLAIMS = ['exp', 'sub', 'iss', 'aud'];

class InvalidToken extends Error {
  readonly description: string;
  constructor(description: string) {
    super(description);
    this.description = description;
  }
}

export type AccessTokenVerifier = (token: string) => Promise<VerifiedAccessToken>;

/** Verifies access tokens against an allow-list of issuers, each with its own lazily created, cached JWKS. */
export function createAccessTokenVerifier(
  trustedIssuers: readonly TrustedIssuer[],
  clockToleranceSeconds: number,
): AccessTokenVerifier {
  const byIssuer = new Map(trustedIssuers.map((trusted) => [trusted.issuer, trusted]));
  const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  // Created on first use: the issuer may not be up yet when the API starts. jose caches the
  // keys, de-duplicates concurrent fetches and does not cache failures.
  function keySetFor(trusted: TrustedIssuer): ReturnType<typeof createRemoteJWKSet> {
    let keySet = keySets.get(trusted.issuer);
    if (!keySet) {
      keySet = createRemoteJWKSet(new URL(trusted.jwksUri));
      keySets.set(trusted.issuer, keySet);
    }
    return keySet;
  }

  return async function verifyAccessToken(token) {
    if (token.length > MAX_TOKEN_LENGTH) throw new InvalidToken('token too large');
    // The unverified iss only chooses which trusted issuer's keys to verify with.
    const trusted = byIssuer.get(unverifiedIssuer(token));
    if (!trusted) throw new InvalidToken('untrusted issuer');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keySetFor(trusted), {
        issuer: trusted.issuer,
        audience: trusted.audience,
        algorithms: trusted.algorithms ?? ['RS256'],
        typ: trusted.requireTyp === false ? undefined : 'at+jwt',
        clockTolerance: clockToleranceSeconds,
        requiredClaims: REQUIRED_CLAIMS,
      }));
    } catch (error) {
      throw new InvalidToken(describeVerificationError(error));
    }
    const { iss, sub, aud } = payload;
    if (typeof iss !== 'string' || typeof sub !== 'string' || sub === '' || aud === undefined) {
      throw new InvalidToken('sub claim check failed');
    }
    return { iss, sub, aud, claims: payload };
  };
}

function unverifiedIssuer(token: string): string {
  try {
    const { iss } = decodeJwt(token);
    if (typeof iss === 'string') return iss;
  } catch {
    throw new InvalidToken('malformed token');
  }
  throw new InvalidToken('untrusted issuer');
}

const KEYS_UNAVAILABLE = 'signing keys unavailable';
/** Fixed wording by jose error code: jose messages contain quotes, which the challenge may not. */
const DESCRIPTIONS: Record<string, string> = {
  ERR_JWT_EXPIRED: 'token expired',
  ERR_JOSE_ALG_NOT_ALLOWED: 'algorithm not allowed',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'signature verification failed',
  ERR_JWKS_NO_MATCHING_KEY: 'no matching signing key',
  ERR_JWKS_TIMEOUT: KEYS_UNAVAILABLE,
  ERR_JWKS_INVALID: KEYS_UNAVAILABLE,
  ERR_JOSE_GENERIC: KEYS_UNAVAILABLE, // the JWKS answered non-200 or non-JSON
};

// An unreachable JWKS is deliberately a 401 as well, not a 503: the token cannot be verified,
// callers handle one outcome for "token not usable", and the description tells operators why.
function describeVerificationError(error: unknown): string {
  if (error instanceof errors.JWTClaimValidationFailed) return `${error.claim} claim check failed`;
  if (error instanceof errors.JOSEError) return DESCRIPTIONS[error.code] ?? 'token invalid';
  // fetch() itself failing (connection refused, DNS) surfaces as a plain TypeError.
  return error instanceof TypeError && error.message === 'fetch failed'
    ? KEYS_UNAVAILABLE
    : 'token invalid';
}

/** Reads the verified token that {@link requireAccessToken} stored for this request. */
export function verifiedTokenOf(res: Response): VerifiedAccessToken {
  return res.locals.accessToken as VerifiedAccessToken;
}

/** The outcome of checking an `Authorization` header: the verified token or why it was refused. */
export type BearerCheck =
  | { ok: true; token: VerifiedAccessToken }
  | {
      ok: false;
      error: 'missing_token' | 'invalid_token' | 'invalid_dpop_proof';
      description?: string;
      challenge: string;
    };

/** The DPoP side of a call (HTTP routes): its proof header, method and URL, and the jti cache. */
export interface DpopRequest {
  proof: string | string[] | undefined;
  method: string;
  url: URL;
  replays: ReplayCache;
}

/**
 * Checks an `Authorization` header against `verify`: HTTP routes and the WebSocket endpoint
 * refuse exactly the same tokens, with the same RFC 6750 challenge. A token bound to a DPoP key
 * (`cnf.jkt`) is accepted only as `Authorization: DPoP …` with a valid proof of the call
 * (`dpop`, HTTP routes only), never as a Bearer token (RFC 9449 §7.1).
 */
export async function checkBearer(
  verify: AccessTokenVerifier,
  header: string | undefined,
  dpop?: DpopRequest,
): Promise<BearerCheck> {
  if (header === undefined) {
    // HTTP routes take both schemes and say so (RFC 9449 §7.1); the WebSocket only Bearer.
    return {
      ok: false,
      error: 'missing_token',
      challenge: dpop ? BOTH_CHALLENGES : `Bearer realm="${REALM}"`,
    };
  }
  const bearer = BEARER_HEADER.exec(header)?.[1];
  const bound = dpop ? DPOP_HEADER.exec(header)?.[1] : undefined;
  const token = bearer ?? bound;
  if (token === undefined) return invalid('bearer token required');
  let verified: VerifiedAccessToken;
  try {
    verified = await verify(token);
  } catch (error) {
    return invalid(error instanceof InvalidToken ? error.description : 'invalid token');
  }
  const jkt = boundKey(verified.claims);
  if (bearer !== undefined) {
    return jkt === undefined
      ? { ok: true, token: verified }
      : invalid('DPoP-bound token sent as Bearer');
  }
  if (jkt === undefined) return invalid('token is not DPoP-bound', 'DPoP');
  try {
    await verifyDpopProof(dpop as DpopRequest, token, jkt, (dpop as DpopRequest).replays);
  } catch (error) {
    const description = error instanceof InvalidProof ? error.description : 'DPoP proof invalid';
    return invalid(description, 'DPoP', 'invalid_dpop_proof');
  }
  return { ok: true, token: { ...verified, dpopJkt: jkt } };
}

/** `cnf.jkt` of a verified token (RFC 9449 §6.1), when it is bound to a DPoP key. */
function boundKey(claims: Record<string, unknown>): string | undefined {
  const cnf = claims.cnf;
  if (typeof cnf !== 'object' || cnf === null) return undefined;
  const jkt = (cnf as Record<string, unknown>).jkt;
  return typeof jkt === 'string' && jkt !== '' ? jkt : undefined;
}

/** Both schemes this API takes (RFC 9449 §7.1 lists the proof algorithms). */
const BOTH_CHALLENGES = `Bearer realm="${REALM}", DPoP realm="${REALM}", algs="${DPOP_ALGORITHMS.join(' ')}"`;

function invalid(
  description: string,
  scheme: 'Bearer' | 'DPoP' = 'Bearer',
  error: 'invalid_token' | 'invalid_dpop_proof' = 'invalid_token',
): BearerCheck {
  const safe = description.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '');
  return {
    ok: false,
    error,
    description: safe,
    challenge: `${scheme} realm="${REALM}", error="${error}", error_description="${safe}"`,
  };
}

/** Middleware: a valid bearer (or DPoP-bound, with its proof) access token or a 401 challenge. */
export function requireAccessToken(
  verify: AccessTokenVerifier,
  replays: ReplayCache,
): RequestHandler {
  return async function requireAccessToken(req, res, next) {
    const check = await checkBearer(verify, req.headers.authorization, {
      proof: req.headers.dpop,
      method: req.method,
      url: requestUrl(req.protocol, req.headers.host, req.originalUrl),
      replays,
    });
    if (!check.ok) {
      res.set('WWW-Authenticate', check.challenge);
      res.status(401).json({
        error: check.error,
        ...(check.description === undefined ? {} : { error_description: check.description }),
      });
      return;
    }
    res.locals.accessToken = check.token;
    next();
  };
}

/** The URL a request was sent to, as this server sees it (what a proof's `htu` must name). */
function requestUrl(protocol: string, host: string | undefined, path: string): URL {
  return new URL(path, `${protocol}://${host ?? 'localhost'}`);
}
