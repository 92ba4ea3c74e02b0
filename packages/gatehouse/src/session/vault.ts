import { CompactEncrypt, compactDecrypt, decodeProtectedHeader, errors } from 'jose-v5';
import { createSecretKey, type KeyObject } from 'node:crypto';

/**
 * One encryption key of a {@link Vault}: its id (written into each JWE's header) and its bytes.
 *
 * @example
 * const key: VaultKey = { kid: 'k1', key: randomBytes(32).toString('base64url') };
 */
export interface VaultKey {
  kid: string;
  /** 32 bytes, base64url. */
  key: string;
}

/**
 * What {@link Vault.open} throws for a value no instance will ever open: lost for good, unlike a
 * failure of the store or of the IdP, and unlike this instance's key differing from the fleet's
 * (`onUnopened`'s 503). A session holding one ends (the user signs in again), never a 500.
 */
export class UnopenableValueError extends Error {}

/**
 * An {@link UnopenableValueError}: sealed under a key that is no longer configured (retired
 * after a rotation).
 */
export class RetiredKeyError extends UnopenableValueError {
  constructor() {
    super('sealed under an encryption key that is no longer configured');
    this.name = 'RetiredKeyError';
  }
}

/**
 * An {@link UnopenableValueError}: not a value this vault sealed, intact (altered or truncated
 * bytes under a key this instance shares with the fleet, another algorithm, junk).
 */
export class SealedValueError extends UnopenableValueError {
  constructor(reason: string) {
    super(`not a sealed value: ${reason}`);
    this.name = 'SealedValueError';
  }
}

/** Why an {@link UnopenableValueError} ends a session, as the audit log and the metrics name it. */
export function unopenableReason(error: UnopenableValueError): 'retired-key' | 'unreadable' {
  return error instanceof RetiredKeyError ? 'retired-key' : 'unreadable';
}

export interface VaultOptions {
  /**
   * Called when a value sealed under `kid`, a kid this vault has, fails its integrity check
   * (wrong key or altered bytes: AES-GCM cannot tell which). It may throw an error of its own
   * instead of {@link SealedValueError} (the key check's 503 `encryption_key_mismatch`, when
   * this instance's bytes under that kid are not the fleet's).
   */
  onUnopened?: (kid: string) => Promise<void>;
}

/** The only algorithms a sealed value may name: `dir` key management, AES-256-GCM content. */
const ALGORITHMS = { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] };
/** A compact JWE's characters: base64url parts and dots (jose 5's decoder skips anything else). */
const COMPACT = /^[A-Za-z0-9_.-]+$/;

/**
 * Encrypts values at rest (tokens and claims in sessions, login transactions and notes) as
 * compact JWE (RFC 7516) with `alg: dir`, `enc: A256GCM` and the key's `kid` in the protected
 * header. The first key encrypts; every key decrypts, chosen by `kid`, so keys can be rotated:
 * added second (decrypts only) on every instance, then moved first (encrypts), and dropped once
 * what it sealed has expired (README, Key rotation).
 *
 * The JWE is written and read by jose's version 5 (`jose-v5`), whose Node build runs AES-GCM
 * through node:crypto on the calling thread with the keys as `KeyObject`s made once. jose 6 (which
 * openid-client uses for the protocol) works only through WebCrypto, where each seal and each
 * opening is a job on libuv's thread pool: two context switches and WebCrypto's JavaScript around
 * a few microseconds of AES, about 0.3 ms of CPU per seal and opening against 0.05–0.08 ms. The
 * format is the same, byte for byte in the header: values sealed by either open with the other
 * (tested both ways), so values already in Redis keep opening.
 *
 * @example
 * const vault = new Vault([{ kid: 'k2', key: newKey }, { kid: 'k1', key: oldKey }]);
 * const sealed = await vault.seal({ accessToken: 'at' });
 * const tokens = await vault.open<{ accessToken: string }>(sealed);
 */
export class Vault {
  readonly #current: { kid: string; header: string; key: KeyObject };
  readonly #byKid: ReadonlyMap<string, KeyObject>;
  readonly #onUnopened: VaultOptions['onUnopened'];

  constructor(keys: readonly VaultKey[], options: VaultOptions = {}) {
    this.#onUnopened = options.onUnopened;
    const imported = keys.map(({ kid, key }) => {
      const bytes = Buffer.from(key, 'base64url');
      if (bytes.byteLength !== 32) throw new Error(`Vault key "${kid}" must be 32 bytes`);
      return { kid, key: createSecretKey(bytes) };
    });
    const first = imported[0];
    if (!first) throw new Error('Vault needs at least one key');
    this.#byKid = new Map(imported.map(({ kid, key }) => [kid, key]));
    const header = { alg: 'dir', enc: 'A256GCM', kid: first.kid };
    this.#current = { ...first, header: Buffer.from(JSON.stringify(header)).toString('base64url') };
  }

  /** Encrypts a JSON-serialisable value. */
  seal(value: unknown): Promise<string> {
    return new CompactEncrypt(Buffer.from(JSON.stringify(value), 'utf8'))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: this.#current.kid })
      .encrypt(this.#current.key);
  }

  /** Whether `sealed` was sealed under the current (first) key; false for anything else. */
  sealedWithCurrentKey(sealed: string): boolean {
    if (sealed.startsWith(`${this.#current.header}.`)) return true;
    try {
      return decodeProtectedHeader(sealed).kid === this.#current.kid;
    } catch {
      return false;
    }
  }

  /**
   * Decrypts what {@link seal} produced with any known key. Throws {@link RetiredKeyError} for a
   * value whose `kid` names no configured key, and {@link SealedValueError} for anything else that
   * does not open: tampering, another algorithm, a `zip` or `crit` header, a truncated tag, junk.
   * A failed integrity check under a known kid first asks `onUnopened`, which may throw instead.
   */
  async open<T>(sealed: string): Promise<T> {
    if (typeof sealed !== 'string' || !COMPACT.test(sealed)) {
      throw new SealedValueError('not base64url parts');
    }
    let plaintext: Uint8Array;
    let kid: string | undefined;
    try {
      ({ plaintext } = await compactDecrypt(
        sealed,
        (header) => {
          const key = header.kid === undefined ? undefined : this.#byKid.get(header.kid);
          if (!key) throw new RetiredKeyError();
          kid = header.kid;
          return key;
        },
        ALGORITHMS,
      ));
    } catch (error) {
      if (error instanceof RetiredKeyError) throw error;
      if (kid !== undefined && error instanceof errors.JWEDecryptionFailed) {
        await this.#onUnopened?.(kid);
      }
      throw new SealedValueError(error instanceof Error ? error.message : 'not a compact JWE');
    }
    return JSON.parse(Buffer.from(plaintext).toString('utf8')) as T;
  }
}
