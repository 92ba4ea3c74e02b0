import type { Redis } from 'ioredis';
import type { Clock } from './stores.ts';

/**
 * The small key-value surface Gatehouse needs besides sessions: one-time login transactions,
 * refresh locks, replay markers and session indexes. One interface, a memory and a Redis
 * implementation, one contract suite (`test/kv.contract.test.ts`).
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
  addToSet(key: string, member: string, ttlMs: number): Promise<void>;
  removeFromSet(key: string, member: string): Promise<void>;
  members(key: string): Promise<string[]>;
}

interface MemoryEntry {
  value: string | Set<string>;
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

  async addToSet(key: string, member: string, ttlMs: number): Promise<void> {
    const entry = this.#live(key);
    const set = entry?.value instanceof Set ? entry.value : new Set<string>();
    set.add(member);
    this.#entries.set(key, {
      value: set,
      expiresAt: Math.max(entry?.expiresAt ?? 0, this.#clock() + ttlMs),
    });
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    const value = this.#live(key)?.value;
    if (value instanceof Set) value.delete(member);
  }

  async members(key: string): Promise<string[]> {
    const value = this.#live(key)?.value;
    return value instanceof Set ? [...value] : [];
  }
}

const RENEW_IF_EQUALS = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const DELETE_IF_EQUALS = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
// Sets keep the longest TTL any member needs (a user's sessions index outlives its oldest session).
const ADD_TO_SET = `redis.call('SADD', KEYS[1], ARGV[1]); local ttl = redis.call('PTTL', KEYS[1]); if ttl < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end; return 1`;

/** Redis implementation; every operation is a single atomic command or script. */
export class RedisKeyValueStore implements KeyValueStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, options: { prefix?: string } = {}) {
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

  async addToSet(key: string, member: string, ttlMs: number): Promise<void> {
    await this.#redis.eval(ADD_TO_SET, 1, this.#prefix + key, member, ttlMs);
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    await this.#redis.srem(this.#prefix + key, member);
  }

  async members(key: string): Promise<string[]> {
    return this.#redis.smembers(this.#prefix + key);
  }
}
