import { createPrivateKey, hkdfSync } from 'node:crypto';
import type { Logger } from 'pino';
import { problem } from '../errors.ts';
import type { KeyValueStore } from './kv.ts';

/** What a configured key is for: sealing values at rest, or signing downstream tokens. */
export type KeyUse = 'encryption' | 'signing';

/** One configured key as the check sees it: never its bytes, only their fingerprint. */
export interface CheckedKey {
  use: KeyUse;
  kid: string;
  fingerprint: string;
}

/**
 * Where the check stands: `pending` until the shared store has answered, then `passed` (every
 * kid's fingerprint is the fleet's) or `mismatch` (one at least is not; logged by kid).
 */
export type KeyCheckState = 'pending' | 'passed' | 'mismatch';

/** The fleet's fingerprints live this long, renewed at every start and daily while in use. */
const FINGERPRINT_TTL_MS = 400 * 86_400_000;
const RENEW_EVERY_MS = 86_400_000;
/** While the store does not answer, the check is tried again this often. */
const RETRY_MS = 1000;
/** HKDF's salt; the info is `<use>:<kid>`, so a fingerprint names one kid of one use only. */
const SALT = 'gatehouse key check';
const VARIABLE: Record<KeyUse, string> = {
  encryption: 'GATEHOUSE_ENCRYPTION_KEYS',
  signing: 'GATEHOUSE_SIGNING_KEYS',
};

/**
 * A key's fingerprint: 32 bytes derived from the key with HKDF-SHA256 (node:crypto), the kid and
 * its use as the info. One way and keyed by the secret itself, so what Redis holds tells nothing
 * about the key, yet two instances with the same bytes under a kid always agree.
 */
export function keyFingerprint(use: KeyUse, kid: string, secret: Uint8Array): string {
  const derived = hkdfSync('sha256', secret, SALT, `${use}:${kid}`, 32);
  return `v1.${Buffer.from(derived).toString('base64url')}`;
}

/**
 * Every configured encryption key (32 bytes, base64url) and signing key (a private JWK, taken
 * as its PKCS#8 encoding so that optional JWK members make no difference) as checked keys.
 */
export function checkedKeys(
  encryptionKeys: ReadonlyArray<{ kid: string; key: string }>,
  signingKeys: ReadonlyArray<{ kid: string; privateJwk: Record<string, unknown> }>,
): CheckedKey[] {
  return [
    ...encryptionKeys.map(({ kid, key }) => ({
      use: 'encryption' as const,
      kid,
      fingerprint: keyFingerprint('encryption', kid, Buffer.from(key, 'base64url')),
    })),
    ...signingKeys.map(({ kid, privateJwk }) => ({
      use: 'signing' as const,
      kid,
      fingerprint: keyFingerprint(
        'signing',
        kid,
        createPrivateKey({ key: privateJwk, format: 'jwk' }).export({
          format: 'der',
          type: 'pkcs8',
        }),
      ),
    })),
  ];
}

export interface KeyCheckOptions {
  /** The shared store (with its store errors: a failure is 503 `store_unavailable`). */
  store: KeyValueStore;
  keys: readonly CheckedKey[];
  logger: Logger;
  /** Counts a request refused because this instance's key for `kid` is not the fleet's. */
  onRequestMismatch?: (kid: string) => void;
  retryMs?: number;
}

/**
 * The start-up key check. Several instances share Redis and open what the others sealed, so each
 * kid must mean the same bytes on every one of them; an instance whose key differs under a kid
 * (a typo, a regenerated secret) would fail to open every session the others wrote, and write
 * sessions they cannot open. For each configured kid, its {@link keyFingerprint} is stored under
 * `gh:keycheck:<use>:<kid>` if none is there yet (SET NX) and compared with what is there. The
 * first instance to use a kid sets it; every later one must agree.
 *
 * While the store does not answer the check stays `pending` (readiness false) and is tried
 * again every second. `start()` resolves with the first attempt's state, `settled()` once it
 * has passed or found a mismatch; neither rejects.
 *
 * @example
 * const check = new KeyCheck({ store: kv, keys: checkedKeys(config.encryptionKeys, config.signingKeys), logger });
 * if ((await check.start()) === 'mismatch') process.exit(2);
 */
export class KeyCheck {
  readonly #options: Required<Omit<KeyCheckOptions, 'onRequestMismatch'>> &
    Pick<KeyCheckOptions, 'onRequestMismatch'>;
  #state: KeyCheckState = 'pending';
  #first: Promise<KeyCheckState> | undefined;
  readonly #settled: Promise<'passed' | 'mismatch'>;
  #settle: (state: 'passed' | 'mismatch') => void = () => undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #waitingLogged = false;
  /** Per encryption kid: whether this instance's key differs from the fleet's (request time). */
  readonly #differs = new Map<string, boolean>();

  constructor(options: KeyCheckOptions) {
    this.#options = { retryMs: RETRY_MS, ...options };
    this.#settled = new Promise((resolve) => (this.#settle = resolve));
  }

  get state(): KeyCheckState {
    return this.#state;
  }

  /** Starts the check once; resolves with the state after its first attempt. */
  start(): Promise<KeyCheckState> {
    this.#first ??= this.#attempt();
    return this.#first;
  }

  /** Resolves once the check has passed or found a mismatch (starting it if need be). */
  settled(): Promise<'passed' | 'mismatch'> {
    void this.start();
    return this.#settled;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  /**
   * Called when a value sealed under `kid`, a kid this instance has, fails to open. AES-GCM
   * cannot tell a wrong key from altered bytes, but the fleet's fingerprint of that kid can:
   * when it differs from this instance's, this instance's key is not the one the value was
   * sealed with, and the value (the session) is most likely fine for the rest of the fleet. The
   * request then fails with 503 `encryption_key_mismatch` (counted) and nothing is ended or
   * deleted. When the fingerprints agree, the value itself is damaged (or was written by an
   * instance that never ran this check): this returns and the caller's error stands.
   *
   * The answer comes from the start-up check, or is read from the store once per kid and kept
   * (a kid's bytes never change in a running process). A store failure throws 503
   * `store_unavailable` (never a sign-out) and is asked again next time.
   */
  async checkUnopened(kid: string): Promise<void> {
    const key = this.#options.keys.find((k) => k.use === 'encryption' && k.kid === kid);
    if (!key) return;
    let differs = this.#differs.get(kid);
    if (differs === undefined) {
      const stored = await this.#options.store.get(storeKey(key));
      // No fingerprint in the store: nothing to tell a wrong key by.
      if (stored === undefined) return;
      differs = stored !== key.fingerprint;
      this.#differs.set(kid, differs);
    }
    if (!differs) return;
    this.#options.onRequestMismatch?.(kid);
    throw problem('encryption_key_mismatch');
  }

  async #attempt(): Promise<KeyCheckState> {
    const { keys, logger } = this.#options;
    let agreed: boolean[];
    try {
      agreed = await Promise.all(keys.map((key) => this.#claim(key)));
    } catch (err) {
      if (this.#closed) return this.#state;
      if (!this.#waitingLogged) {
        this.#waitingLogged = true;
        logger.warn(
          { err },
          'key check: the session store does not answer; not ready until it does and the check has run',
        );
      }
      this.#timer = setTimeout(() => void this.#attempt(), this.#options.retryMs);
      this.#timer.unref();
      return this.#state;
    }
    const mismatches = keys.filter((_key, index) => !agreed[index]);
    for (const key of keys) {
      if (key.use === 'encryption') this.#differs.set(key.kid, mismatches.includes(key));
    }
    for (const { use, kid } of mismatches) {
      logger.error(
        { use, kid },
        `key check: the ${use} key "${kid}" of this instance is not the one the other instances sharing this Redis use (same kid, other bytes); fix ${VARIABLE[use]}`,
      );
    }
    this.#state = mismatches.length > 0 ? 'mismatch' : 'passed';
    if (this.#state === 'passed') {
      if (this.#waitingLogged) logger.info({ keys: keys.length }, 'key check passed');
      this.#renewDaily();
    }
    this.#settle(this.#state);
    return this.#state;
  }

  /** Stores the fingerprint if the kid has none yet; whether the stored one is this instance's. */
  async #claim(key: CheckedKey): Promise<boolean> {
    const { store } = this.#options;
    const name = storeKey(key);
    for (let tries = 0; tries < 3; tries += 1) {
      // Set it if none is there, else renew it if it is ours (as a lease is taken).
      if (
        (await store.putIfAbsent(name, key.fingerprint, FINGERPRINT_TTL_MS)) ||
        (await store.renewIfEquals(name, key.fingerprint, FINGERPRINT_TTL_MS))
      ) {
        return true;
      }
      // Another fingerprint, unless it expired between the two commands: then claim it again.
      if ((await store.get(name)) !== undefined) return false;
    }
    throw new Error(`key check: ${name} keeps vanishing`);
  }

  /** A kid in use never expires from the store, however long this process runs. */
  #renewDaily(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      const { store, keys } = this.#options;
      void Promise.all(
        keys.map((key) => store.renewIfEquals(storeKey(key), key.fingerprint, FINGERPRINT_TTL_MS)),
      )
        .catch(() => undefined)
        .finally(() => this.#renewDaily());
    }, RENEW_EVERY_MS);
    this.#timer.unref();
  }
}

/** The key-value store's key (Redis adds the `gh:` prefix). */
const storeKey = (key: CheckedKey) => `keycheck:${key.use}:${key.kid}`;
