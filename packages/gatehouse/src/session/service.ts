import { sha256, userDigest } from '../digest.ts';
import type { AuditActor, AuditOrigin, SessionEndReason } from '../observability/audit.ts';
import type { SessionData } from 'express-session';
import type { KeyValueStore } from './kv.ts';
import type { Logger } from 'pino';
import { Lease, sleep } from './lock.ts';
import { sessionExpiresAt, sessionUser, type SessionRecord } from './model.ts';
import { storeOps, type ConditionalSessionStore } from './stores.ts';
import type { Clock } from '../clock.ts';
import { problem } from '../errors.ts';

export interface SessionServiceOptions {
  store: ConditionalSessionStore;
  kv: KeyValueStore;
  clock: Clock;
  idleTimeoutSeconds: number;
  lockLeaseMs?: number;
  /** How long a write kept in memory during a store outage is retried (default 15 minutes). */
  keptWriteMaxMs?: number;
  /** Hears about writes kept in memory (never a session id: the record's public handle). */
  logger?: Logger;
  /** Hears about every session ended through {@link SessionService.end} (the audit trail). */
  onEnded?: (record: SessionRecord, ending: SessionEnding) => void;
}

/** Why a session is ended, by whom and from which request (for the audit trail). */
export interface SessionEnding extends AuditOrigin {
  reason: SessionEndReason;
  /** Who ended it; Gatehouse itself (`system`) when absent. */
  by?: AuditActor | undefined;
}

/**
 * A write that must not be lost (a rotated refresh token) and could not reach the store yet:
 * it lives here, with the session's lease, until it lands or the stored session moves on.
 */
interface KeptWrite {
  record: SessionRecord;
  /** The sealed tokens the store holds, which `record` replaces: any other value means moved on. */
  replaces: string;
  lease: Lease;
  since: number;
  attempt: number;
  timer: NodeJS.Timeout | undefined;
}

export interface UpdateOptions {
  /**
   * When the write cannot reach the store, keep the result in memory and retry it in the
   * background (holding the session's lease) instead of failing: for results that cannot be
   * had again, like a refresh token the IdP has just rotated.
   */
  keepIfUnwritten?: boolean;
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
  readonly keptWriteMaxMs: number;
  readonly #ops: ReturnType<typeof storeOps>;
  readonly #logger: Logger | undefined;
  readonly #onEnded: SessionServiceOptions['onEnded'];
  readonly #kept = new Map<string, KeptWrite>();
  /** Sessions with an update running in this process (the lease may be ours already). */
  readonly #updating = new Set<string>();
  #closed = false;

  constructor(options: SessionServiceOptions) {
    this.store = options.store;
    this.kv = options.kv;
    this.clock = options.clock;
    this.idleTimeoutMs = options.idleTimeoutSeconds * 1000;
    this.lockLeaseMs = options.lockLeaseMs ?? 5000;
    this.keptWriteMaxMs = options.keptWriteMaxMs ?? 15 * 60_000;
    this.#ops = storeOps(options.store);
    this.#logger = options.logger;
    this.#onEnded = options.onEnded;
  }

  async read(sid: string): Promise<SessionData | undefined> {
    return this.#ops.get(sid);
  }

  /**
   * The record to use for a session read from the store: the one kept in memory when the store
   * still holds what it replaces (a refresh whose write has not landed yet), else the stored one.
   */
  current(sid: string, stored: SessionRecord): SessionRecord {
    const kept = this.#kept.get(sid);
    if (!kept) return stored;
    if (stored.tokens !== kept.replaces) {
      // Ours landed after all (a write that timed out but ran), or someone else wrote new
      // tokens: theirs win, ours are no longer needed.
      this.#forget(sid, stored.tokens === kept.record.tokens ? 'stored' : 'superseded');
      return stored;
    }
    return { ...kept.record, lastSeenAt: Math.max(stored.lastSeenAt, kept.record.lastSeenAt) };
  }

  /**
   * A store blip of a moment is ridden out here (quick failures are retried within a short
   * budget; a timeout is not retried); a longer outage is the caller's choice.
   */
  async #writeIfExists(sid: string, data: SessionData): Promise<boolean> {
    const started = Date.now();
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.store.setIfExists(sid, data);
      } catch (error) {
        const delay = WRITE_RETRY_DELAYS_MS[attempt];
        if (delay === undefined || Date.now() - started + delay > WRITE_RETRY_BUDGET_MS)
          throw problem('store_unavailable', { cause: error });
        await sleep(delay);
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
    // All at once: one round trip to Redis (auto-pipelined), not one per index.
    await Promise.all([
      this.kv.addToIndex(userIndexKey(sessionUser(record)), sid, until, now),
      record.sid &&
        this.kv.addToIndex(idpSessionIndexKey(record.issuer, record.sid), sid, until, now),
      this.kv.addToIndex(tenantIndexKey(record.tenant), sid, until, now),
    ]);
  }

  async unindexSession(sid: string, record: SessionRecord): Promise<void> {
    await this.kv.removeFromIndex(userIndexKey(sessionUser(record)), sid);
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
    return this.sessionsOfUserDigest(userDigest(issuer, sub));
  }

  /** The same, by `userDigest(issuer, sub)`: what a session record keeps of its user. */
  async sessionsOfUserDigest(user: string): Promise<Map<string, SessionRecord>> {
    return this.#liveMembers(userIndexKey(user));
  }

  async sessionsOfIdpSession(issuer: string, idpSid: string): Promise<Map<string, SessionRecord>> {
    return this.#liveMembers(idpSessionIndexKey(issuer, idpSid));
  }

  /**
   * Ends a session on every instance: the shared record goes, and with it every cookie's use.
   * `ending` says why (for the audit trail; `admin` when not given).
   */
  async end(sid: string, record: SessionRecord, ending?: SessionEnding): Promise<void> {
    this.#forget(sid, 'ended');
    await this.destroy(sid);
    this.#onEnded?.(record, ending ?? { reason: 'admin' });
    await this.unindexSession(sid, record);
  }

  /** Ends every listed session that `matches`; returns how many ended. */
  async endMatching(
    sessions: Map<string, SessionRecord>,
    matches: (record: SessionRecord, sid: string) => boolean,
    ending?: SessionEnding,
  ): Promise<number> {
    let ended = 0;
    for (const [sid, record] of sessions) {
      if (!matches(record, sid)) continue;
      await this.end(sid, record, ending);
      ended += 1;
    }
    return ended;
  }

  /** Tells the audit trail about a session ended elsewhere (logout through express-session). */
  ended(record: SessionRecord, ending: SessionEnding): void {
    this.#onEnded?.(record, ending);
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
   * Applies `mutate` to the freshly re-read record under the session lock (with a write kept in
   * memory applied first, see {@link SessionService.current}). Returns undefined when the lock is
   * busy (the caller decides whether to wait) and null when the session is gone.
   */
  async tryUpdate(
    sid: string,
    mutate: (record: SessionRecord) => Promise<SessionRecord> | SessionRecord,
    options: UpdateOptions = {},
  ): Promise<SessionRecord | null | undefined> {
    if (this.#updating.has(sid)) return undefined;
    this.#updating.add(sid);
    const lease =
      this.#kept.get(sid)?.lease ?? new Lease(this.kv, this.lockKey(sid), this.lockLeaseMs);
    try {
      if (!(await lease.acquire())) return undefined;
      const stopRenewing = lease.keepRenewed();
      try {
        return await this.#update(sid, lease, mutate, options);
      } finally {
        stopRenewing();
        // A kept write keeps the lease: nobody else refreshes with the tokens it replaces.
        if (!this.#kept.has(sid)) await lease.release();
      }
    } finally {
      this.#updating.delete(sid);
    }
  }

  async #update(
    sid: string,
    lease: Lease,
    mutate: (record: SessionRecord) => Promise<SessionRecord> | SessionRecord,
    options: UpdateOptions,
  ): Promise<SessionRecord | null> {
    const data = await this.read(sid);
    if (!data?.gh) {
      this.#forget(sid, 'ended');
      return null;
    }
    const updated = await mutate(this.current(sid, data.gh));
    if (updated === data.gh) return updated;
    let written: boolean;
    try {
      // Only while the session still exists: a logout, a back-channel logout or an admin may
      // have ended it during a slow token request, and it must stay ended.
      written = await this.#writeIfExists(sid, { ...data, gh: updated });
    } catch (error) {
      if (!options.keepIfUnwritten && !this.#kept.has(sid)) throw error;
      this.#keep(sid, updated, data.gh.tokens, lease);
      return updated;
    }
    this.#forget(sid, written ? 'stored' : 'ended');
    return written ? updated : null;
  }

  #keep(sid: string, record: SessionRecord, replaces: string, lease: Lease): void {
    const kept = this.#kept.get(sid);
    if (kept) {
      kept.record = record;
      return;
    }
    const entry: KeptWrite = {
      record,
      replaces,
      lease,
      since: Date.now(),
      attempt: 0,
      timer: undefined,
    };
    this.#kept.set(sid, entry);
    this.#logger?.warn(
      { session: record.handle },
      'session write kept in memory until the store answers',
    );
    this.#scheduleRetry(sid, entry);
  }

  #scheduleRetry(sid: string, entry: KeptWrite): void {
    if (this.#closed) return;
    const delay = Math.min(KEPT_RETRY_MAX_MS, KEPT_RETRY_FIRST_MS * 2 ** entry.attempt);
    entry.attempt += 1;
    entry.timer = setTimeout(() => void this.#retry(sid, entry), delay);
    entry.timer.unref();
  }

  /** One more try to store a kept write; the next one is scheduled while it is still kept. */
  async #retry(sid: string, entry: KeptWrite): Promise<void> {
    if (this.#kept.get(sid) !== entry) return;
    if (Date.now() - entry.since > this.keptWriteMaxMs || this.isExpired(entry.record)) {
      this.#forget(sid, 'abandoned');
      return;
    }
    try {
      // Unchanged: `current` puts the kept record in, so the update writes it.
      await this.tryUpdate(sid, (current) => current);
    } catch {
      // Still unreachable: try again later.
    }
    if (this.#kept.get(sid) === entry) this.#scheduleRetry(sid, entry);
  }

  #forget(sid: string, outcome: 'stored' | 'superseded' | 'ended' | 'abandoned'): void {
    const entry = this.#kept.get(sid);
    if (!entry) return;
    this.#kept.delete(sid);
    clearTimeout(entry.timer);
    const fields = { session: entry.record.handle, keptForMs: Date.now() - entry.since };
    if (outcome === 'abandoned') {
      this.#logger?.error(fields, 'session write kept in memory given up: the store stayed down');
    } else {
      this.#logger?.info({ ...fields, outcome }, 'session write kept in memory settled');
    }
    // A running update releases the lease itself when it ends.
    if (!this.#updating.has(sid)) void entry.lease.release();
  }

  /** Stops retrying kept writes (shutdown); what they hold is lost with the process. */
  close(): void {
    this.#closed = true;
    for (const entry of this.#kept.values()) clearTimeout(entry.timer);
  }
}

/** A blip of a moment, ridden out within the request. */
const WRITE_RETRY_DELAYS_MS = [50, 200];
const WRITE_RETRY_BUDGET_MS = 500;
/** Back-off of the background retries of a kept write: 100 ms doubling up to 500 ms. */
const KEPT_RETRY_FIRST_MS = 100;
const KEPT_RETRY_MAX_MS = 500;

/** The index of a user's sessions, by `userDigest(issuer, sub)` (digest.ts). */
export const userIndexKey = (user: string) => `idx:user:{${user}}`;

export const tenantIndexKey = (tenant: string) => `idx:tenant:{${tenant}}`;

export const idpSessionIndexKey = (issuer: string, idpSid: string) =>
  `idx:idp-sid:{${sha256(issuer, idpSid)}}`;
