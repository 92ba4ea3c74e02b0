import { problem } from '../errors.ts';
import type { RedisClient } from './redis-connection.ts';
import type { Clock } from '../clock.ts';
import type { StoreHealth } from './store-health.ts';
import { performance } from 'node:perf_hooks';
import { NO_METRICS, type Metrics } from '../observability/metrics.ts';

/**
 * The small key-value surface Gatehouse needs besides sessions: one-time login transactions,
 * refresh locks, replay markers and session indexes. One interface, a memory and a Redis
 * implementation, one contract suite (`test/store.contract.test.ts`).
 */
export interface KeyValueStore {
  put(key: string, value: string, ttlMs: number): Promise<void>;
  get(key: string): Promise<string | undefined>;
  /** Atomically reads and deletes (one-time use). */
  take(key: string): Promise<string | undefined>;
  /** Sets only when absent; true when this call set it (locks, replay markers). */
  putIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Extends the TTL only while the key still holds `value` (lock lease renewal). */
  renewIfEquals(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Deletes only while the key still holds `value` (lock release). */
  deleteIfEquals(key: string, value: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /**
   * Adds `member` to an expiring index (session indexes): each member carries its own expiry
   * (epoch ms), expired members are dropped on every add, and the index itself lives as long
   * as its longest-lived member — so an index never grows without bound.
   */
  addToIndex(key: string, member: string, expiresAt: number, now: number): Promise<void>;
  removeFromIndex(key: string, member: string): Promise<void>;
  /** The members not yet expired at `now`. */
  indexMembers(key: string, now: number): Promise<string[]>;
}

interface MemoryEntry {
  value: string | Map<string, number>;
  expiresAt: number;
}

export class MemoryKeyValueStore implements KeyValueStore {
  readonly #entries = new Map<string, MemoryEntry>();
  readonly #clock: Clock;

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? Date.now;
  }

  #live(key: string): MemoryEntry | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt <= this.#clock()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #string(key: string): string | undefined {
    const value = this.#live(key)?.value;
    return typeof value === 'string' ? value : undefined;
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    this.#entries.set(key, { value, expiresAt: this.#clock() + ttlMs });
  }

  async get(key: string): Promise<string | undefined> {
    return this.#string(key);
  }

  async take(key: string): Promise<string | undefined> {
    const value = this.#string(key);
    this.#entries.delete(key);
    return value;
  }

  async putIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.#live(key)) return false;
    this.#entries.set(key, { value, expiresAt: this.#clock() + ttlMs });
    return true;
  }

  async renewIfEquals(key: string, value: string, ttlMs: number): Promise<boolean> {
    const entry = this.#live(key);
    if (entry?.value !== value) return false;
    entry.expiresAt = this.#clock() + ttlMs;
    return true;
  }

  async deleteIfEquals(key: string, value: string): Promise<boolean> {
    if (this.#string(key) !== value) return false;
    this.#entries.delete(key);
    return true;
  }

  async delete(key: string): Promise<void> {
    this.#entries.delete(key);
  }

  async addToIndex(key: string, member: string, expiresAt: number, now: number): Promise<void> {
    const entry = this.#live(key);
    const index = entry?.value instanceof Map ? entry.value : new Map<string, number>();
    index.set(member, expiresAt);
    for (const [other, until] of index) if (until <= now) index.delete(other);
    this.#entries.set(key, { value: index, expiresAt: Math.max(...index.values()) });
  }

  async removeFromIndex(key: string, member: string): Promise<void> {
    const value = this.#live(key)?.value;
    if (value instanceof Map) value.delete(member);
  }

  async indexMembers(key: string, now: number): Promise<string[]> {
    const value = this.#live(key)?.value;
    return value instanceof Map
      ? [...value].filter(([, until]) => until > now).map(([member]) => member)
      : [];
  }
}

const RENEW_IF_EQUALS = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const DELETE_IF_EQUALS = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
// Sets keep the longest TTL any member needs (a user's sessions index outlives its oldest session).
// A sorted set scored by expiry: add, drop the expired, and let the key live as long as its
// longest-lived member.
const ADD_TO_INDEX = `redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return 1`;

/**
 * Redis implementation; every operation is a single atomic command or script on one key (a
 * script touches only `KEYS[1]`), so any key may live in any Redis Cluster slot.
 */
export class RedisKeyValueStore implements KeyValueStore {
  readonly #redis: RedisClient;
  readonly #prefix: string;

  constructor(redis: RedisClient, options: { prefix?: string } = {}) {
    this.#redis = redis;
    this.#prefix = options.prefix ?? 'gh:';
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#redis.set(this.#prefix + key, value, 'PX', ttlMs);
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.#redis.get(this.#prefix + key)) ?? undefined;
  }

  async take(key: string): Promise<string | undefined> {
    return (await this.#redis.getdel(this.#prefix + key)) ?? undefined;
  }

  async putIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.#redis.set(this.#prefix + key, value, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async renewIfEquals(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.#redis.eval(RENEW_IF_EQUALS, 1, this.#prefix + key, value, ttlMs)) === 1;
  }

  async deleteIfEquals(key: string, value: string): Promise<boolean> {
    return (await this.#redis.eval(DELETE_IF_EQUALS, 1, this.#prefix + key, value)) === 1;
  }

  async delete(key: string): Promise<void> {
    await this.#redis.del(this.#prefix + key);
  }

  async addToIndex(key: string, member: string, expiresAt: number, now: number): Promise<void> {
    await this.#redis.eval(ADD_TO_INDEX, 1, this.#prefix + key, member, expiresAt, now);
  }

  async removeFromIndex(key: string, member: string): Promise<void> {
    await this.#redis.zrem(this.#prefix + key, member);
  }

  async indexMembers(key: string, now: number): Promise<string[]> {
    return this.#redis.zrangebyscore(this.#prefix + key, `(${now}`, '+inf');
  }
}

/**
 * Wraps a store so that its failures surface as 503 `store_unavailable` (an outage of Redis is
 * never a 500, and never "signed out"); `health` hears of every outcome.
 */
export function withKeyValueErrors(
  kv: KeyValueStore,
  health?: StoreHealth,
  metrics: Metrics = NO_METRICS,
): KeyValueStore {
  const timed = metrics.enabled;
  const guard = <A extends unknown[], R>(
    name: string,
    operation: (...args: A) => Promise<R>,
  ): ((...args: A) => Promise<R>) => {
    const observer = metrics.store('kv', name);
    return async (...args: A): Promise<R> => {
      let result: R;
      const startedAt = timed ? performance.now() : 0;
      try {
        result = await operation(...args);
      } catch (error) {
        if (timed) observer.done(startedAt, true);
        health?.failed(error);
        throw problem('store_unavailable', { cause: error });
      }
      if (timed) observer.done(startedAt, false);
      health?.answered();
      return result;
    };
  };
  return {
    put: guard('put', kv.put.bind(kv)),
    get: guard('get', kv.get.bind(kv)),
    take: guard('take', kv.take.bind(kv)),
    putIfAbsent: guard('put_if_absent', kv.putIfAbsent.bind(kv)),
    renewIfEquals: guard('renew_if_equals', kv.renewIfEquals.bind(kv)),
    deleteIfEquals: guard('delete_if_equals', kv.deleteIfEquals.bind(kv)),
    delete: guard('delete', kv.delete.bind(kv)),
    addToIndex: guard('add_to_index', kv.addToIndex.bind(kv)),
    removeFromIndex: guard('remove_from_index', kv.removeFromIndex.bind(kv)),
    indexMembers: guard('index_members', kv.indexMembers.bind(kv)),
  };
}
