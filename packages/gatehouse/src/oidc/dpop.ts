import { exportJWK, importJWK, type JWK } from 'jose';
import { LRUCache } from 'lru-cache';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import type { Vault } from '../session/vault.ts';

/**
 * DPoP (RFC 9449): the key a session's tokens are bound to, and the proofs made with it.
 * openid-client signs the proofs of the code exchange and of every refresh (and retries once
 * with the IdP's nonce on `use_dpop_nonce`); oauth4webapi, which openid-client is built on,
 * signs the proof of each proxied call. Nothing here writes a proof by hand.
 *
 * A nonce the IdP hands out (RFC 9449 §8, the `DPoP-Nonce` header of its answers) is kept by
 * oauth4webapi in the handle that made the proof, per origin, and in no other place; neither
 * library offers a way to give one to another handle. A session's refreshes therefore share one
 * handle ({@link DpopKeys.idpHandle}), so that each sends the nonce of the last answer and only
 * the first of them in a process goes through `use_dpop_nonce`.
 */

/** The one algorithm Gatehouse signs proofs with: short keys (the record stays small), fast. */
export const DPOP_ALGORITHM = 'ES256';

/** The private half of a session's DPoP key as stored (sealed) in the session record. */
export type DpopPrivateJwk = Pick<JWK, 'kty' | 'crv' | 'x' | 'y' | 'd'>;

/** A fresh ES256 key pair for one session, and its private JWK to seal. */
export async function newDpopKey(): Promise<{ keyPair: oauth.CryptoKeyPair; jwk: DpopPrivateJwk }> {
  const keyPair = await client.randomDPoPKeyPair(DPOP_ALGORITHM, { extractable: true });
  const { kty, crv, x, y, d } = await exportJWK(keyPair.privateKey);
  return { keyPair, jwk: { kty, crv, x, y, d } };
}

/**
 * The key pair of a stored private JWK: the private key is not extractable any more, the public
 * one is (the proof's header carries it).
 */
export async function importDpopKey(jwk: DpopPrivateJwk): Promise<oauth.CryptoKeyPair> {
  const { d: _private, ...publicJwk } = jwk;
  const [privateKey, publicKey] = await Promise.all([
    importJWK({ ...jwk, alg: DPOP_ALGORITHM }, DPOP_ALGORITHM, { extractable: false }),
    importJWK({ ...publicJwk, alg: DPOP_ALGORITHM }, DPOP_ALGORITHM, { extractable: true }),
  ]);
  return { privateKey, publicKey } as oauth.CryptoKeyPair;
}

/** What a proxied call to a DPoP route carries (RFC 9449 §7.1). */
export interface DpopRequestHeaders {
  /** `DPoP <access token>`. */
  authorization: string;
  /** The proof: `htm`, `htu` (the URL without query and fragment), `ath`, `iat`, `jti`. */
  dpop: string;
}

/**
 * Session DPoP keys opened once: the sealed key (a string of the record just read) maps to its
 * imported key pair, the handle that signs proxied calls' proofs, so a call costs one ECDSA
 * signature and no decryption or key import, and the handles of its refreshes (with the IdP's
 * nonce). Keyed by the sealed value, like the opened access tokens: a new session or key is a
 * new entry, an ended one ages out.
 */
export class DpopKeys {
  readonly #vault: Pick<Vault, 'open'>;
  readonly #opened = new LRUCache<string, Promise<OpenedDpopKey>>({
    max: 10_000,
    ttl: 15 * 60_000,
  });

  constructor(vault: Pick<Vault, 'open'>) {
    this.#vault = vault;
  }

  /**
   * The handle that signs the proofs of a session's requests to its IdP's token endpoint
   * (openid-client's `getDPoPHandle`), one per key and provider configuration for as long as
   * the opened key is kept: the nonce the IdP's last answer gave goes with the next refresh.
   * A failed open is not cached: it is thrown each time.
   */
  async idpHandle(sealed: string, configuration: client.Configuration): Promise<client.DPoPHandle> {
    const opened = await this.#open(sealed);
    let handle = opened.idpHandles.get(configuration);
    if (!handle) {
      handle = client.getDPoPHandle(configuration, opened.keyPair);
      opened.idpHandles.set(configuration, handle);
    }
    return handle;
  }

  /** The headers of one call with `accessToken` to `url` by `method`: a fresh proof each time. */
  async requestHeaders(
    sealed: string,
    accessToken: string,
    method: string,
    url: URL,
  ): Promise<DpopRequestHeaders> {
    const { handle } = await this.#open(sealed);
    // oauth4webapi's protected-resource request builds the proof and the Authorization header;
    // its fetch is ours and sends nothing: the headers go out with the streamed proxy call.
    let sent: Headers | undefined;
    await oauth.protectedResourceRequest(accessToken, method, url, new Headers(), null, {
      DPoP: handle,
      [oauth.allowInsecureRequests]: true,
      [oauth.customFetch]: (_url, init) => {
        sent = new Headers(init.headers);
        return Promise.resolve(new Response(null, { status: 204 }));
      },
    });
    const authorization = sent?.get('authorization');
    const dpop = sent?.get('dpop');
    if (!authorization || !dpop) throw new Error('no DPoP proof was produced');
    return { authorization, dpop };
  }

  #open(sealed: string): Promise<OpenedDpopKey> {
    let opened = this.#opened.get(sealed);
    if (!opened) {
      opened = this.#vault
        .open<DpopPrivateJwk>(sealed)
        .then(importDpopKey)
        .then((keyPair) => ({
          keyPair,
          handle: oauth.DPoP({}, keyPair),
          idpHandles: new WeakMap(),
        }));
      this.#opened.set(sealed, opened);
      opened.catch(() => {
        if (this.#opened.get(sealed) === opened) this.#opened.delete(sealed);
      });
    }
    return opened;
  }
}

interface OpenedDpopKey {
  keyPair: oauth.CryptoKeyPair;
  /** Signs proxied calls' proofs; sees no answer, so remembers no nonce. */
  handle: oauth.DPoPHandle;
  /**
   * Sign the proofs of refreshes, one per provider configuration (a provider changed in the
   * registry gets a new configuration, and so a new handle); each keeps the IdP's nonce.
   */
  idpHandles: WeakMap<client.Configuration, client.DPoPHandle>;
}
