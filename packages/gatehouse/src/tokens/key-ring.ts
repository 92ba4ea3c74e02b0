import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Clock } from '../clock.ts';
import {
  MAX_TOKEN_LIFETIME_SECONDS,
  algorithmOf,
  importPrivateJwk,
  type SigningAlgorithm,
  type SigningKeyConfig,
} from './signing-key-config.ts';

/** A published verification key: public members only, plus `kid`, `alg` and `use`. */
export interface PublicSigningJwk {
  kty: string;
  kid: string;
  alg: SigningAlgorithm;
  use: 'sig';
  [member: string]: unknown;
}

export interface ActiveSigningKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: KeyObject;
}

interface RingEntry extends ActiveSigningKey {
  /** Epoch ms; the key signs strictly before this instant. */
  retiredAt: number;
  publicJwk: PublicSigningJwk;
}

/** Only these members of a public JWK are ever published (never `d`, `p`, `q`, `dp`, `dq`, `qi`). */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  EC: ['kty', 'crv', 'x', 'y'],
  RSA: ['kty', 'n', 'e'],
};

/**
 * Gatehouse's downstream signing keys with rotation: the first key not yet retired signs;
 * every key stays published until its retirement plus the maximum token lifetime, so tokens it
 * signed keep verifying until they expire.
 *
 * @example
 * const ring = new SigningKeyRing(config.signingKeys, Date.now);
 * const { kid, privateKey } = ring.signingKey();
 */
export class SigningKeyRing {
  readonly #entries: RingEntry[];
  readonly #clock: Clock;

  constructor(keys: readonly SigningKeyConfig[], clock: Clock) {
    this.#clock = clock;
    this.#entries = keys.map(toRingEntry);
  }

  /** The key that signs now; throws when every key is retired (a configuration error). */
  signingKey(): ActiveSigningKey {
    const now = this.#clock();
    const entry = this.#entries.find((candidate) => now < candidate.retiredAt);
    if (!entry) throw new Error('no signing key is active: every configured key is retired');
    return { kid: entry.kid, alg: entry.alg, privateKey: entry.privateKey };
  }

  /** The JWKS to publish now: active keys and retired ones whose tokens may still be live. */
  jwks(): { keys: PublicSigningJwk[] } {
    const now = this.#clock();
    const window = MAX_TOKEN_LIFETIME_SECONDS * 1000;
    return {
      keys: this.#entries
        .filter((entry) => now < entry.retiredAt + window)
        .map((entry) => entry.publicJwk),
    };
  }
}

function toRingEntry(key: SigningKeyConfig): RingEntry {
  const alg = algorithmOf(key.privateJwk);
  const privateKey = importPrivateJwk(key.privateJwk);
  // loadConfig has checked both; this guards configs built by hand.
  if (!alg || !privateKey) throw new Error(`signing key ${key.kid}: not a usable private JWK`);
  return {
    kid: key.kid,
    alg,
    privateKey,
    retiredAt: key.retiredAt ? Date.parse(key.retiredAt) : Number.POSITIVE_INFINITY,
    publicJwk: publicJwkOf(privateKey, key.kid, alg),
  };
}

function publicJwkOf(privateKey: KeyObject, kid: string, alg: SigningAlgorithm): PublicSigningJwk {
  const exported = createPublicKey(privateKey).export({ format: 'jwk' }) as Record<string, unknown>;
  const kty = String(exported.kty);
  const members = PUBLIC_MEMBERS[kty] ?? [];
  const publicJwk: PublicSigningJwk = { kty, kid, alg, use: 'sig' };
  for (const member of members) publicJwk[member] = exported[member];
  return publicJwk;
}
