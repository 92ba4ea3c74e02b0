import { decodeProtectedHeader } from 'jose';
import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

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
 * What {@link Vault.open} throws for a value sealed under a key it no longer has (retired after
 * a rotation): the value is lost for good, unlike a failure of the store or of the IdP.
 */
export class RetiredKeyError extends Error {
  constructor() {
    super('sealed under an encryption key that is no longer configured');
    this.name = 'RetiredKeyError';
  }
}

/** What {@link Vault.open} throws for anything that is not a value it sealed, intact. */
export class SealedValueError extends Error {
  constructor(reason: string) {
    super(`not a sealed value: ${reason}`);
    this.name = 'SealedValueError';
  }
}

/** RFC 7518 §5.3: AES GCM with a 96-bit IV and a 128-bit authentication tag. */
const IV_BYTES = 12;
const TAG_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Encrypts values at rest (tokens and claims in sessions, login transactions and notes) as
 * compact JWE (RFC 7516 §7.1) with `alg: dir`, `enc: A256GCM` and the key's `kid` in the
 * protected header. The first key encrypts; every key decrypts, chosen by `kid`, so keys can
 * be rotated: added second (decrypts only) on every instance, then moved first (encrypts),
 * and dropped once what it sealed has expired (README, Key rotation).
 *
 * The cipher is node:crypto's AES-256-GCM, run synchronously on the calling thread: jose 6
 * works only through WebCrypto, where each seal and each opening is a job on libuv's thread
 * pool (two context switches and WebCrypto's JavaScript around a few microseconds of AES); a
 * sign-in made five of them. The format is jose's own `CompactEncrypt` output byte for byte
 * (the tests seal with one and open with the other both ways), so values sealed before this
 * change, and by other instances still running the previous release, keep opening.
 *
 * @example
 * const vault = new Vault([{ kid: 'k2', key: newKey }, { kid: 'k1', key: oldKey }]);
 * const sealed = await vault.seal({ accessToken: 'at' });
 * const tokens = await vault.open<{ accessToken: string }>(sealed);
 */
export class Vault {
  readonly #current: { kid: string; header: string; key: KeyObject };
  readonly #byKid: ReadonlyMap<string, KeyObject>;
  /** Each key's protected header as this vault writes it, encoded: its key without a parse. */
  readonly #byHeader: ReadonlyMap<string, KeyObject>;

  constructor(keys: readonly VaultKey[]) {
    const decoded = keys.map(({ kid, key }) => ({ kid, key: Buffer.from(key, 'base64url') }));
    const first = decoded[0];
    if (!first) throw new Error('Vault needs at least one key');
    for (const { kid, key } of decoded) {
      if (key.byteLength !== 32) throw new Error(`Vault key "${kid}" must be 32 bytes`);
    }
    const imported = decoded.map(({ kid, key }) => ({ kid, key: createSecretKey(key) }));
    this.#byKid = new Map(imported.map(({ kid, key }) => [kid, key]));
    this.#byHeader = new Map(imported.map(({ kid, key }) => [encodedHeader(kid), key]));
    this.#current = {
      kid: first.kid,
      header: encodedHeader(first.kid),
      key: this.#byKid.get(first.kid) ?? createSecretKey(first.key),
    };
  }

  /** Encrypts a JSON-serialisable value. */
  async seal(value: unknown): Promise<string> {
    return this.sealNow(value);
  }

  /** {@link seal}, synchronously. */
  sealNow(value: unknown): string {
    const { header, key } = this.#current;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    // RFC 7516 §5.1 step 14: the additional authenticated data is the encoded header's ASCII.
    cipher.setAAD(Buffer.from(header, 'latin1'));
    const ciphertext = Buffer.concat([
      cipher.update(JSON.stringify(value), 'utf8'),
      cipher.final(),
    ]);
    return `${header}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher
      .getAuthTag()
      .toString('base64url')}`;
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

  /** Decrypts what {@link seal} produced with any known key; throws on tampering or unknown kid. */
  async open<T>(sealed: string): Promise<T> {
    return this.openNow<T>(sealed);
  }

  /**
   * {@link open}, synchronously. Only what {@link seal} writes opens: five parts, an empty
   * encrypted key (`dir`), a protected header of exactly `alg: dir`, `enc: A256GCM` and a
   * `kid` (nothing else, so no `zip` and no `crit`), a 96-bit IV and a 128-bit tag.
   */
  openNow<T>(sealed: string): T {
    if (typeof sealed !== 'string') throw new SealedValueError('not a string');
    const parts = sealed.split('.');
    if (parts.length !== 5) throw new SealedValueError('not a compact JWE');
    const [header = '', encryptedKey, encodedIv = '', encodedCiphertext = '', encodedTag = ''] =
      parts;
    if (encryptedKey !== '') throw new SealedValueError('an encrypted key with "dir"');
    for (const part of parts) {
      if (!BASE64URL.test(part)) throw new SealedValueError('not base64url');
    }
    const key = this.#byHeader.get(header) ?? this.#byKid.get(headerKid(header));
    if (!key) throw new RetiredKeyError();
    const iv = Buffer.from(encodedIv, 'base64url');
    const tag = Buffer.from(encodedTag, 'base64url');
    if (iv.byteLength !== IV_BYTES) throw new SealedValueError('the IV is not 96 bits');
    if (tag.byteLength !== TAG_BYTES) throw new SealedValueError('the tag is not 128 bits');
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(header, 'latin1'));
    decipher.setAuthTag(tag);
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([
        decipher.update(Buffer.from(encodedCiphertext, 'base64url')),
        decipher.final(),
      ]);
    } catch {
      throw new SealedValueError('decryption failed');
    }
    return JSON.parse(plaintext.toString('utf8')) as T;
  }
}

/**
 * The protected header {@link Vault.seal} writes for `kid`, encoded: the same members in the same
 * order as jose's `CompactEncrypt` wrote them with `setProtectedHeader({ alg, enc, kid })`.
 */
function encodedHeader(kid: string): string {
  return Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid })).toString('base64url');
}

/** The `kid` of a protected header that is exactly `{ alg: 'dir', enc: 'A256GCM', kid }`. */
function headerKid(encodedHeader: string): string {
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8'));
  } catch {
    throw new SealedValueError('the header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SealedValueError('the header is not an object');
  }
  const { alg, enc, kid, ...rest } = header as Record<string, unknown>;
  if (alg !== 'dir' || enc !== 'A256GCM' || Object.keys(rest).length > 0) {
    throw new SealedValueError('an algorithm or header member this vault does not use');
  }
  // A header without a usable kid names no key of ours: as if sealed under a retired one.
  if (typeof kid !== 'string') throw new RetiredKeyError();
  return kid;
}
