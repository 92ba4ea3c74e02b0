import { sha256 } from '../digest.ts';
import type { SessionData } from 'express-session';
import type { KeyValueStore } from './kv.ts';
import { sleep, withLock } from './lock.ts';
import { sessionExpiresAt, type SessionRecord } from './model.ts';
import { storeOps, type Clock, type ConditionalSessionStore } from './stores.ts';
import { storeUnavailable } from '../errors.ts';

export interface SessionServiceOptions {
  store: ConditionalSessionStore;
  kv: KeyValueStore;
  clock: Clock;
  idleTimeoutSeconds: number;
  lockLeaseMs?: number;
}

/**
 * Reads and writes sessions outside express-session's request cycle. Every write after login is
 * a read-modify-write under the session's lock, so a slide on one instance can never put back
 * tokens that a refresh on another instance has just rotated; and the write lands only if the
 * session still exists, so one that was ended meanwhile (logout, back-channel logout, an admin)
 * stays ended. Ending a session needs no lock for that reason.
 */
export class SessionService {
  readonly store: ConditionalSessionStore;
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

  /**
   * A write after a refresh carries a rotated refresh token the IdP will not accept twice:
   * losing it would end the session, so a failing store gets a few more tries first.
   */
  async #writeIfExists(sid: string, data: SessionData): Promise<boolean> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.store.setIfExists(sid, data);
      } catch (error) {
        if (attempt >= WRITE_RETRY_DELAYS_MS.length) throw storeUnavailable(error);
        await sleep(WRITE_RETRY_DELAYS_MS[attempt] ?? 0);
      }
    }
  }

  async destroy(sid: string): Promise<void> {
    await this.#ops.destroy(sid);
  }

  /** Whether the record is past its idle or absolute limit. */
  isExpired(record: SessionRecord): boolean {
    const now = this.clock();
    return now >= sessionExpiresAt(record, this.idleTimeoutMs);
  }

  /** The idle deadline (epoch ms) of a record: its tenant's idle timeout or the deployment's. */
  idleExpiresAt(record: SessionRecord): number {
    return record.lastSeenAt + (record.idleTimeoutMs ?? this.idleTimeoutMs);
  }

  /**
   * How often (at most) a session's idle deadline moves forward: a sixth of the idle timeout,
   * at most five minutes — so sliding costs one write per session every few minutes.
   */
  slideIntervalMs(record: SessionRecord): number {
    return Math.min(5 * 60_000, (record.idleTimeoutMs ?? this.idleTimeoutMs) / 6);
  }

  /**
   * Records the session under its user (issuer, sub) and its IdP session (issuer, sid), for
   * back-channel logout and session management. Each index key carries a Redis Cluster hash tag
   * of its own identity, so one user's index lives in one slot.
   */
  async indexSession(sid: string, record: SessionRecord): Promise<void> {
    const now = this.clock();
    const until = Math.max(now + 1000, record.absoluteExpiresAt);
    await this.kv.addToIndex(userIndexKey(record.issuer, record.sub), sid, until, now);
    if (record.sid)
      await this.kv.addToIndex(idpSessionIndexKey(record.issuer, record.sid), sid, until, now);
    await this.kv.addToIndex(tenantIndexKey(record.tenant), sid, until, now);
  }

  async unindexSession(sid: string, record: SessionRecord): Promise<void> {
    await this.kv.removeFromIndex(userIndexKey(record.issuer, record.sub), sid);
    if (record.sid)
      await this.kv.removeFromIndex(idpSessionIndexKey(record.issuer, record.sid), sid);
    await this.kv.removeFromIndex(tenantIndexKey(record.tenant), sid);
  }

  /** Every live session of a tenant (operator: end them all). */
  async sessionsOfTenant(tenant: string): Promise<Map<string, SessionRecord>> {
    return this.#liveMembers(tenantIndexKey(tenant));
  }

  /** The live sessions of a user, keyed by session id; dead index entries are pruned on the way. */
  async sessionsOfUser(issuer: string, sub: string): Promise<Map<string, SessionRecord>> {
    return this.#liveMembers(userIndexKey(issuer, sub));
  }

  async sessionsOfIdpSession(issuer: string, idpSid: string): Promise<Map<string, SessionRecord>> {
    return this.#liveMembers(idpSessionIndexKey(issuer, idpSid));
  }

  /** Ends a session on every instance: the shared record goes, and with it every cookie's use. */
  async end(sid: string, record: SessionRecord): Promise<void> {
    await this.destroy(sid);
    await this.unindexSession(sid, record);
  }

  /** Ends every listed session that `matches`; returns how many ended. */
  async endMatching(
    sessions: Map<string, SessionRecord>,
    matches: (record: SessionRecord, sid: string) => boolean,
  ): Promise<number> {
    let ended = 0;
    for (const [sid, record] of sessions) {
      if (!matches(record, sid)) continue;
      await this.end(sid, record);
      ended += 1;
    }
    return ended;
  }

  async #liveMembers(key: string): Promise<Map<string, SessionRecord>> {
    const live = new Map<string, SessionRecord>();
    for (const sid of await this.kv.indexMembers(key, this.clock())) {
      const record = (await this.read(sid))?.gh;
      if (record && !this.isExpired(record)) live.set(sid, record);
      else await this.kv.removeFromIndex(key, sid);
    }
    return live;
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
      // Only while the session still exists: a logout, a back-channel logout or an admin may
      // have ended it during a slow token request, and it must stay ended.
      if (updated !== data.gh && !(await this.#writeIfExists(sid, { ...data, gh: updated })))
        return null;
      return updated;
    });
    return result.acquired ? result.value : undefined;
  }
}

const WRITE_RETRY_DELAYS_MS = [100, 300, 1000];

export const userIndexKey = (issuer: string, sub: string) => `idx:user:{${sha256(issuer, sub)}}`;

export const tenantIndexKey = (tenant: string) => `idx:tenant:{${tenant}}`;

export const idpSessionIndexKey = (issuer: string, idpSid: string) =>
  `idx:idp-sid:{${sha256(issuer, idpSid)}}`;
