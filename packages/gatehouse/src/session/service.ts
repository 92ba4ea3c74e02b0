import type { SessionData, Store } from 'express-session';
import type { KeyValueStore } from './kv.ts';
import { withLock } from './lock.ts';
import type { SessionRecord } from './model.ts';
import { storeOps, type Clock } from './stores.ts';

export interface SessionServiceOptions {
  store: Store;
  kv: KeyValueStore;
  clock: Clock;
  idleTimeoutSeconds: number;
  lockLeaseMs?: number;
}

/**
 * Reads and writes sessions outside express-session's request cycle. Every write after login is
 * a read-modify-write under the session's lock, so a slide on one instance can never put back
 * tokens that a refresh on another instance has just rotated.
 */
export class SessionService {
  readonly store: Store;
  readonly kv: KeyValueStore;
  readonly clock: Clock;
  readonly idleTimeoutMs: number;
  readonly lockLeaseMs: number;
  readonly #ops: ReturnType<typeof storeOps>;

  constructor(options: SessionServiceOptions) {
    this.store = options.store;
    this.kv = options.kv;
    this.clock = options.clock;
    this.idleTimeoutMs = options.idleTimeoutSeconds * 1000;
    this.lockLeaseMs = options.lockLeaseMs ?? 5000;
    this.#ops = storeOps(options.store);
  }

  async read(sid: string): Promise<SessionData | undefined> {
    return this.#ops.get(sid);
  }

  async write(sid: string, data: SessionData): Promise<void> {
    await this.#ops.set(sid, data);
  }

  async destroy(sid: string): Promise<void> {
    await this.#ops.destroy(sid);
  }

  /** Whether the record is past its idle or absolute limit. */
  isExpired(record: SessionRecord): boolean {
    const now = this.clock();
    return now >= record.absoluteExpiresAt || now >= record.lastSeenAt + this.idleTimeoutMs;
  }

  lockKey(sid: string): string {
    // The hash tag keeps a session's lock in one Redis Cluster slot.
    return `lock:{${sid}}`;
  }

  /**
   * Applies `mutate` to the freshly re-read record under the session lock. Returns undefined
   * when the lock is busy (the caller decides whether to wait) and null when the session is gone.
   */
  async tryUpdate(
    sid: string,
    mutate: (record: SessionRecord) => Promise<SessionRecord> | SessionRecord,
  ): Promise<SessionRecord | null | undefined> {
    const result = await withLock(this.kv, this.lockKey(sid), this.lockLeaseMs, async () => {
      const data = await this.read(sid);
      if (!data?.gh) return null;
      const updated = await mutate(data.gh);
      if (updated !== data.gh) await this.write(sid, { ...data, gh: updated });
      return updated;
    });
    return result.acquired ? result.value : undefined;
  }
}
