import { RedisStore } from 'connect-redis';
import session from 'express-session';
import type { SessionData, Store } from 'express-session';
import { problem } from '../errors.ts';
import type { RedisClient } from './redis-connection.ts';
import { sessionExpiresAt } from './model.ts';
import type { Clock } from '../clock.ts';
import { noHealth, type StoreHealth } from './store-health.ts';
import { performance } from 'node:perf_hooks';
import { NO_METRICS, type Metrics, type StoreObserver } from '../observability/metrics.ts';

/**
 * A session store that can also write a session only while it still exists: how a refresh or
 * a slide that took a while avoids bringing back a session that was ended meanwhile.
 */
export type ConditionalSessionStore = Store & {
  setIfExists(sid: string, sess: SessionData): Promise<boolean>;
};

export interface SessionStoreOptions {
  idleTimeoutSeconds: number;
  clock?: Clock;
}

type Callback = (err?: unknown) => void;
type GetCallback = (err: unknown, session?: SessionData | null) => void;

/** Seconds the stored record should live: until the idle or absolute limit, whichever is first. */
export function sessionTtlSeconds(
  sess: SessionData,
  idleTimeoutSeconds: number,
  now: number,
): number {
  const record = sess.gh;
  if (!record) return idleTimeoutSeconds;
  return Math.max(1, Math.ceil((sessionExpiresAt(record, idleTimeoutSeconds * 1000) - now) / 1000));
}

/**
 * In-process express-session store with TTLs and a controllable clock, for development and
 * single-process tests. Data is copied in and out as JSON, exactly as Redis would.
 */
export class MemorySessionStore extends session.Store {
  readonly #entries = new Map<string, { json: string; expiresAt: number }>();
  readonly #idleTimeoutSeconds: number;
  readonly #clock: Clock;

  constructor(options: SessionStoreOptions) {
    super();
    this.#idleTimeoutSeconds = options.idleTimeoutSeconds;
    this.#clock = options.clock ?? Date.now;
  }

  override get(sid: string, callback: GetCallback): void {
    const entry = this.#entries.get(sid);
    if (entry && entry.expiresAt <= this.#clock()) this.#entries.delete(sid);
    const live = entry && entry.expiresAt > this.#clock() ? entry : undefined;
    queueMicrotask(() =>
      callback(undefined, live ? (JSON.parse(live.json) as SessionData) : undefined),
    );
  }

  override set(sid: string, sess: SessionData, callback?: Callback): void {
    const ttl = sessionTtlSeconds(sess, this.#idleTimeoutSeconds, this.#clock());
    this.#entries.set(sid, { json: JSON.stringify(sess), expiresAt: this.#clock() + ttl * 1000 });
    queueMicrotask(() => callback?.());
  }

  override destroy(sid: string, callback?: Callback): void {
    this.#entries.delete(sid);
    queueMicrotask(() => callback?.());
  }

  async setIfExists(sid: string, sess: SessionData): Promise<boolean> {
    const entry = this.#entries.get(sid);
    if (!entry || entry.expiresAt <= this.#clock()) return false;
    const ttl = sessionTtlSeconds(sess, this.#idleTimeoutSeconds, this.#clock());
    this.#entries.set(sid, { json: JSON.stringify(sess), expiresAt: this.#clock() + ttl * 1000 });
    return true;
  }

  /** Sliding is explicit in Gatehouse (lastSeenAt), so a touch never costs a write. */
  override touch(_sid: string, _sess: SessionData, callback?: () => void): void {
    queueMicrotask(() => callback?.());
  }
}

/**
 * connect-redis 8 (the last line that supports ioredis) with touch disabled: a steady-state
 * request costs exactly one GET. Keys: `gh:sess:<id>`.
 */
export function createRedisSessionStore(
  redis: RedisClient,
  options: SessionStoreOptions,
): ConditionalSessionStore {
  const clock = options.clock ?? Date.now;
  const ttl = (sess: SessionData) => sessionTtlSeconds(sess, options.idleTimeoutSeconds, clock());
  const store = new RedisStore({ client: redis, prefix: SESSION_PREFIX, disableTouch: true, ttl });
  return Object.assign(store, {
    async setIfExists(sid: string, sess: SessionData): Promise<boolean> {
      // Same key, format (JSON) and TTL as connect-redis, but only if the key is still there.
      const written = await redis.eval(
        SET_IF_EXISTS,
        1,
        SESSION_PREFIX + sid,
        JSON.stringify(sess),
        ttl(sess),
      );
      return written === 1;
    },
  });
}

const SESSION_PREFIX = 'gh:sess:';
const SET_IF_EXISTS = `if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end return 0`;

/**
 * Wraps a store so that its failures surface as 503 `store_unavailable` instead of whatever
 * express-session would make of them (never "logged out"); `health` hears of every outcome.
 */
export function withStoreErrors<S extends Store>(
  store: S,
  health: StoreHealth = noHealth,
  metrics: Metrics = NO_METRICS,
): S {
  const observe = {
    get: metrics.store('session', 'get'),
    set: metrics.store('session', 'set'),
    destroy: metrics.store('session', 'destroy'),
    setIfExists: metrics.store('session', 'set_if_exists'),
  };
  const timed = metrics.enabled;
  const outcome = (err: unknown) => {
    if (!err) {
      health.answered();
      return undefined;
    }
    health.failed(err);
    return problem('store_unavailable', { cause: err });
  };
  const wrapGet =
    (callback: GetCallback, startedAt: number) =>
    (err: unknown, data?: SessionData | null): void => {
      if (timed) observe.get.done(startedAt, Boolean(err));
      callback(outcome(err), data);
    };
  const wrap =
    (callback: Callback | undefined, observer: StoreObserver, startedAt: number) =>
    (err?: unknown): void => {
      if (timed) observer.done(startedAt, Boolean(err));
      callback?.(outcome(err));
    };
  const now = () => (timed ? performance.now() : 0);
  const original = {
    get: store.get.bind(store),
    set: store.set.bind(store),
    destroy: store.destroy.bind(store),
  };
  store.get = (sid, callback) => original.get(sid, wrapGet(callback, now()));
  store.set = (sid, sess, callback) => original.set(sid, sess, wrap(callback, observe.set, now()));
  store.destroy = (sid, callback) => original.destroy(sid, wrap(callback, observe.destroy, now()));
  // The conditional write (refresh, slide) fails and answers like the others.
  const conditional = store as S & Partial<Pick<ConditionalSessionStore, 'setIfExists'>>;
  if (conditional.setIfExists) {
    const setIfExists = conditional.setIfExists.bind(store);
    conditional.setIfExists = async (sid, sess) => {
      let written: boolean;
      const startedAt = now();
      try {
        written = await setIfExists(sid, sess);
      } catch (error) {
        if (timed) observe.setIfExists.done(startedAt, true);
        throw outcome(error) ?? error;
      }
      if (timed) observe.setIfExists.done(startedAt, false);
      health.answered();
      return written;
    };
  }
  return store;
}

/** Promise form of store.get/set/destroy (express-session stores are callback based). */
export const storeOps = (store: Store) => ({
  get: (sid: string) =>
    new Promise<SessionData | undefined>((resolve, reject) =>
      store.get(sid, (err, data) => (err ? reject(err as Error) : resolve(data ?? undefined))),
    ),
  set: (sid: string, data: SessionData) =>
    new Promise<void>((resolve, reject) =>
      store.set(sid, data, (err) => (err ? reject(err as Error) : resolve())),
    ),
  destroy: (sid: string) =>
    new Promise<void>((resolve, reject) =>
      store.destroy(sid, (err) => (err ? reject(err as Error) : resolve())),
    ),
});
