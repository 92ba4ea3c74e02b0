import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, errors, jwtVerify } from 'jose';

/**
 * The resource server's side of DPoP (RFC 9449 §4.3, §7.1): a request with
 * `Authorization: DPoP <token>` must carry exactly one `DPoP` proof that is signed by the key in
 * its own header (`typ: dpop+jwt`, an asymmetric algorithm), names this request (`htm`, `htu`
 * without query and fragment), hashes this token (`ath`), is recent (`iat`), is used once
 * (`jti`), and whose key is the one the token is bound to (`cnf.jkt`, RFC 7638 thumbprint).
 */

/** Proof algorithms accepted: asymmetric only (the key is in the proof itself). */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'];
/** How far a proof's `iat` may be from now (seconds), either way. */
const IAT_WINDOW_SECONDS = 60;
/** Proofs are small; anything bigger is refused before any work. */
const MAX_PROOF_LENGTH = 4096;
const MAX_JTI_LENGTH = 256;

export class InvalidProof extends Error {
  readonly description: string;
  constructor(description: string) {
    super(description);
    this.description = description;
  }
}

/** What one call presented: the proof header(s), the method and the URL it was sent to. */
export interface ProofContext {
  proof: string | string[] | undefined;
  method: string;
  /** The absolute URL of the request as this server sees it. */
  url: URL;
}

/**
 * Remembers the `jti` of every accepted proof until it could no longer pass the `iat` check,
 * so a replayed proof is refused. Bounded: when full, the oldest entries go first (they are the
 * first to expire anyway).
 */
export class ReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;

  constructor(max = 100_000) {
    this.#max = max;
  }

  /** Whether `key` is new (then it is remembered until `expiresAt`, epoch seconds). */
  add(key: string, expiresAt: number, now: number): boolean {
    for (const [old, until] of this.#seen) {
      if (until > now && this.#seen.size < this.#max) break;
      this.#seen.delete(old);
    }
    const known = this.#seen.get(key);
    if (known !== undefined && known > now) return false;
    this.#seen.set(key, expiresAt);
    return true;
  }
}

/**
 * Checks the proof of one call made with `accessToken`, bound by the token's `cnf.jkt` to
 * `boundJkt`. Throws {@link InvalidProof} with a fixed description on any failure.
 */
export async function verifyDpopProof(
  context: ProofContext,
  accessToken: string,
  boundJkt: string,
  replays: ReplayCache,
  now = Math.floor(Date.now() / 1000),
): Promise<void> {
  const { proof } = context;
  if (proof === undefined) throw new InvalidProof('DPoP proof required');
  if (typeof proof !== 'string' || proof.includes(',')) {
    throw new InvalidProof('exactly one DPoP proof required');
  }
  if (proof.length > MAX_PROOF_LENGTH) throw new InvalidProof('DPoP proof too large');
  let payload;
  let jwk;
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: DPOP_ALGORITHMS,
    });
    payload = verified.payload;
    jwk = verified.protectedHeader.jwk;
  } catch (error) {
    throw new InvalidProof(
      error instanceof errors.JOSEError && error.code === 'ERR_JOSE_ALG_NOT_ALLOWED'
        ? 'DPoP proof algorithm not allowed'
        : 'DPoP proof signature invalid',
    );
  }
  if (!jwk || (await calculateJwkThumbprint(jwk, 'sha256')) !== boundJkt) {
    throw new InvalidProof('DPoP proof key is not the token key');
  }
  if (payload.htm !== context.method) throw new InvalidProof('DPoP proof htm mismatch');
  if (typeof payload.htu !== 'string' || !sameTarget(payload.htu, context.url)) {
    throw new InvalidProof('DPoP proof htu mismatch');
  }
  const ath = createHash('sha256').update(accessToken).digest('base64url');
  if (payload.ath !== ath) throw new InvalidProof('DPoP proof ath mismatch');
  if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > IAT_WINDOW_SECONDS) {
    throw new InvalidProof('DPoP proof iat not recent');
  }
  if (
    typeof payload.jti !== 'string' ||
    payload.jti === '' ||
    payload.jti.length > MAX_JTI_LENGTH
  ) {
    throw new InvalidProof('DPoP proof jti missing');
  }
  // A proof may be used once: until its iat leaves the window, its jti is remembered.
  if (!replays.add(`${boundJkt}:${payload.jti}`, payload.iat + IAT_WINDOW_SECONDS, now)) {
    throw new InvalidProof('DPoP proof replayed');
  }
}

/** `htu` names the request's URL, query and fragment aside (RFC 9449 §4.3, point 9). */
function sameTarget(htu: string, url: URL): boolean {
  const claimed = URL.parse(htu);
  if (!claimed) return false;
  return claimed.origin === url.origin && claimed.pathname === url.pathname;
}
