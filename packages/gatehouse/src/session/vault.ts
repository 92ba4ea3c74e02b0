import { CompactEncrypt, compactDecrypt, decodeProtectedHeader } from 'jose';
import { webcrypto } from 'node:crypto';

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

/**
 * Encrypts values at rest (tokens in sessions, login transactions) as compact JWE
 * (`dir` + `A256GCM`). The first key encrypts; every key decrypts, chosen by `kid`, so keys can
 * be rotated: added second (decrypts only) on every instance, then moved first (encrypts),
 * and dropped once what it sealed has expired (README, Key rotation).
 *
 * @example
 * const vault = new Vault([{ kid: 'k2', key: newKey }, { kid: 'k1', key: oldKey }]);
 * const sealed = await vault.seal({ accessToken: 'at' });
 * const tokens = await vault.open<{ accessToken: string }>(sealed);
 */
export class Vault {
  readonly #current: { kid: string; key: Uint8Array };
  readonly #byKid: ReadonlyMap<string, Uint8Array>;
  /** Each key imported into WebCrypto once (jose would import raw bytes on every call). */
  readonly #imported = new Map<string, Promise<webcrypto.CryptoKey>>();

  constructor(keys: readonly VaultKey[]) {
    const decoded = keys.map(({ kid, key }) => ({ kid, key: Buffer.from(key, 'base64url') }));
    const first = decoded[0];
    if (!first) throw new Error('Vault needs at least one key');
    for (const { kid, key } of decoded) {
      if (key.byteLength !== 32) throw new Error(`Vault key "${kid}" must be 32 bytes`);
    }
    this.#current = first;
    this.#byKid = new Map(decoded.map(({ kid, key }) => [kid, key]));
  }

  /** Encrypts a JSON-serialisable value. */
  async seal(value: unknown): Promise<string> {
    return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(value)))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: this.#current.kid })
      .encrypt(await this.#cryptoKey(this.#current.kid, this.#current.key));
  }

  /** Whether `sealed` was sealed under the current (first) key; false for anything else. */
  sealedWithCurrentKey(sealed: string): boolean {
    try {
      return decodeProtectedHeader(sealed).kid === this.#current.kid;
    } catch {
      return false;
    }
  }

  /** Decrypts what {@link seal} produced with any known key; throws on tampering or unknown kid. */
  async open<T>(sealed: string): Promise<T> {
    const { plaintext } = await compactDecrypt(
      sealed,
      (header) => {
        const key = header.kid === undefined ? undefined : this.#byKid.get(header.kid);
        if (!key || header.kid === undefined) throw new RetiredKeyError();
        return this.#cryptoKey(header.kid, key);
      },
      { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] },
    );
    return JSON.parse(new TextDecoder().decode(plaintext)) as T;
  }

  #cryptoKey(kid: string, key: Uint8Array): Promise<webcrypto.CryptoKey> {
    let imported = this.#imported.get(kid);
    if (!imported) {
      imported = webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
      this.#imported.set(kid, imported);
    }
    return imported;
  }
}
