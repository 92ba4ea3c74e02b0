import type { RedisClient } from './redis-connection.ts';
import type { Clock } from '../clock.ts';

/**
 * The store port of the core: everything Gatehouse keeps in the shared store besides the
 * tenant registry — sessions (`session/session-store.ts`), one-time login transactions, session
 * leases (`session/lock.ts`), replay markers and session indexes. Key-value with TTLs,
 * compare-and-set and expiring sorted-set indexes; one interface, a memory and a Redis
 * implementation, one contract suite (`test/store.contract.test.ts`), one error decorator
 * (`session/store-errors.ts` `withStoreErrors`). Every TTL is in milliseconds.
 */
export interface KeyValueStore {
  put(key: string, value: string, ttlMs: number): Promise<void>;
  /** Replaces the value only while the key exists; true when this call wrote it (sessions). */
  putIfExists(key: string, value: string, ttlMs: number): Promise<boolean>;
  get(key: string): Promise<string | undefined>;
  /**
   * The value's UTF-8 bytes as the store holds them, undecoded: for a reader that compares
   * them with what it read before (the session read path) and decodes only a change. The bytes
   * may be a view of a larger buffer: copy them to keep them.
   */
  getBytes(key: string): Promise<Uint8Array | undefined>;
  /** Atomically reads and deletes (one-time use). */
  take(key: string): Promise<string | undefined>;
  /** Sets only when absent; true when this call set it (locks, replay markers). */
  putIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Extends the TTL only while the key still holds `value` (lock lease renewal). */
  renewIfEquals(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Deletes only while the key still holds `value` (lock release). */
  deleteIfEquals(key: string, value: string): Promise<boolean>;
  /** True when the key existed: this call is the one that deleted it (a session ends once). */
  delete(key: string): Promise<boolean>;
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

  async putIfExists(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.#string(key) === undefined) return false;
    this.#entries.set(key, { value, expiresAt: this.#clock() + ttlMs });
    return true;
  }

  async get(key: string): Promise<string | undefined> {
    return this.#string(key);
  }

  async getBytes(key: string): Promise<Uint8Array | undefined> {
    const value = this.#string(key);
    return value === undefined ? undefined : Buffer.from(value);
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

  async delete(key: string): Promise<boolean> {
    const existed = this.#live(key) !== undefined;
    this.#entries.delete(key);
    return existed;
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

  async putIfExists(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.#redis.set(this.#prefix + key, value, 'PX', ttlMs, 'XX')) === 'OK';
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.#redis.get(this.#prefix + key)) ?? undefined;
  }

  async getBytes(key: string): Promise<Uint8Array | undefined> {
    return (await this.#redis.getBuffer(this.#prefix + key)) ?? undefined;
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

  async delete(key: string): Promise<boolean> {
    return (await this.#redis.del(this.#prefix + key)) > 0;
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

/** The `operation` label of each key-value operation in the store metrics. */
export const KEY_VALUE_OPERATIONS = {
  put: 'put',
  putIfExists: 'put_if_exists',
  get: 'get',
  // The same read, undecoded: the same label (a session read is `store="session", operation="get"`).
  getBytes: 'get',
  take: 'take',
  putIfAbsent: 'put_if_absent',
  renewIfEquals: 'renew_if_equals',
  deleteIfEquals: 'delete_if_equals',
  delete: 'delete',
  addToIndex: 'add_to_index',
  removeFromIndex: 'remove_from_index',
  indexMembers: 'index_members',
} as const satisfies Record<keyof KeyValueStore, string>;
