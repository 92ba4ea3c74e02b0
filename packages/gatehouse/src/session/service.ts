// Longer than 300 lines on purpose: the locked read-modify-write and the writes kept in memory
// during a store outage share the lease, the update path and their bookkeeping; split, each half
// would have to expose the other's internals.
import { sha256, userDigest } from '../digest.ts';
import type { AuditActor, AuditOrigin, SessionEndReason } from '../observability/audit.ts';
import type { KeyValueStore } from './kv.ts';
import type { Logger } from 'pino';
import { Lease, sleep } from './lock.ts';
import { sessionExpiresAt, sessionUser, type SessionRecord } from './model.ts';
import type { SessionStore, StoredSession } from './session-store.ts';
import type { Clock } from '../clock.ts';

export interface SessionServiceOptions {
  /** The sessions themselves. */
  store: SessionStore;
  /** Leases and indexes. */
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
 * Reads and writes sessions outside the HTTP adapter's request cycle. Every write after login is
 * a read-modify-write under the session's lock, so a slide on one instance can never put back
 * tokens that a refresh on another instance has just rotated; and the write lands only if the
 * session still exists, so one that was ended meanwhile (logout, back-channel logout, an admin)
 * stays ended. Ending a session needs no lock for that reason.
 */
export class SessionService {
  readonly store: SessionStore;
  readonly kv: KeyValueStore;
  readonly clock: Clock;
  readonly idleTimeoutMs: number;
  readonly lockLeaseMs: number;
  readonly keptWriteMaxMs: number;
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
    this.#logger = options.logger;
    this.#onEnded = options.onEnded;
  }

  /** The session's record, if the session exists (frozen: see `SessionStore.read`). */
  read(sessionId: string): Promise<SessionRecord | undefined> {
    return this.store.read(sessionId);
  }

  /**
   * The record to use for a session read from the store: the one kept in memory when the store
   * still holds what it replaces (a refresh whose write has not landed yet), else the stored one.
   */
  current(sessionId: string, stored: SessionRecord): SessionRecord {
    const kept = this.#kept.get(sessionId);
    if (!kept) return stored;
    if (stored.tokens !== kept.replaces) {
      // Ours landed after all (a write that timed out but ran), or someone else wrote new
      // tokens: theirs win, ours are no longer needed.
      this.#forget(sessionId, stored.tokens === kept.record.tokens ? 'stored' : 'superseded');
      return stored;
    }
    return {
      ...kept.record,
      lastSeenAtMs: Math.max(stored.lastSeenAtMs, kept.record.lastSeenAtMs),
    };
  }

  /**
   * A store blip of a moment is ridden out here (quick failures are retried within a short
   * budget; a timeout is not retried); a longer outage is the caller's choice. The failure
   * thrown is the store port's own (503 `store_unavailable` from its decorator).
   */
  async #writeIfExists(sessionId: string, stored: StoredSession): Promise<boolean> {
    const started = Date.now();
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.store.saveIfExists(sessionId, stored);
      } catch (error) {
        const delay = WRITE_RETRY_DELAYS_MS[attempt];
        if (delay === undefined || Date.now() - started + delay > WRITE_RETRY_BUDGET_MS)
          throw error;
        await sleep(delay);
      }
    }
  }

  /** True when the session existed: this call is the one that deleted it. */
  destroy(sessionId: string): Promise<boolean> {
    return this.store.delete(sessionId);
  }

  /** Whether the record is past its idle or absolute limit. */
  isExpired(record: SessionRecord): boolean {
    const now = this.clock();
    return now >= sessionExpiresAt(record, this.idleTimeoutMs);
  }

  /** The idle deadline (epoch ms) of a record: its tenant's idle timeout or the deployment's. */
  idleExpiresAt(record: SessionRecord): number {
    return record.lastSeenAtMs + (record.idleTimeoutMs ?? this.idleTimeoutMs);
  }

  /**
   * How often (at most) a session's idle deadline moves forward: a sixth of the idle timeout,
   * at most five minutes — so sliding costs one write per session every few minutes.
   */
  slideIntervalMs(record: SessionRecord): number {
    return Math.min(5 * 60_000, (record.idleTimeoutMs ?? this.idleTimeoutMs) / 6);
  }

  /**
   * Records the session under its user (issuer, sub) and its IdP session (issuer, idpSid), for
   * back-channel logout and session management. Each index key carries a Redis Cluster hash tag
   * of its own identity, so one user's index lives in one slot. A new session is indexed only
   * once it is stored ({@link SessionService.startSession}).
   */
  async indexSession(sessionId: string, record: SessionRecord): Promise<void> {
    // All at once: one round trip to Redis (auto-pipelined), not one per index.
    await Promise.all(this.#indexWrites(sessionId, record));
  }

  #indexWrites(sessionId: string, record: SessionRecord): Array<Promise<void>> {
    const now = this.clock();
    const until = Math.max(now + 1000, record.absoluteExpiresAtMs);
    const { issuer, idpSid } = record;
    return [
      this.kv.addToIndex(userIndexKey(sessionUser(record)), sessionId, until, now),
      ...(idpSid
        ? [this.kv.addToIndex(idpSessionIndexKey(issuer, idpSid), sessionId, until, now)]
        : []),
      this.kv.addToIndex(tenantIndexKey(record.tenant), sessionId, until, now),
    ];
  }

  /**
   * Makes a new session (a sign-in): `save` writes it (the adapter's document), then it is
   * indexed. Every listing ({@link SessionService.sessionsOfUser} and the others) prunes an index
   * entry whose session record it does not find, so an entry must never be visible before its
   * record: were the two written together (or the entries first), a listing on any instance
   * between the entries' write and the record's — another tab's device list, an admin's, a
   * back-channel logout of another session — would prune the new session's entries for good,
   * and "end all", the tenant's end-all and a back-channel logout would miss it until it
   * expires. Written in this order, a listing that sees an entry finds its record, however slow
   * Redis is to take the record (a failover, a fork for a snapshot). The price is one more
   * round trip per sign-in, and nothing on any other path. A grace period for young entries
   * (their time of addition beside them, checked by a script at pruning) would keep the single
   * round trip, but an entry whose record is slower than the grace would still be lost, and
   * every listing would pay for the check.
   *
   * When a write fails the sign-in fails (the caller answers 503 and sets no cookie): a record
   * already written is then deleted again, best effort (nobody holds its id, so it serves no one;
   * it should not sit in the store unindexed, with its tokens, until its absolute limit).
   */
  async startSession(
    sessionId: string,
    record: SessionRecord,
    save: () => Promise<void>,
    exchangeStartedAtMs?: number,
  ): Promise<void> {
    try {
      await save();
      // The index entries, and then word of a back-channel logout: one that listed the indexes
      // before these entries were written (the IdP ended its session while this sign-in was
      // between its token exchange and here) did not find this session, and left word first.
      // Each word is read from its index's slot (same hash tag), issued after that index's
      // write on the same connection: Redis answers it once it has taken the entry, in the
      // same round trip.
      const writes = this.#indexWrites(sessionId, record);
      const [loggedOut] = await Promise.all([
        this.#loggedOutAtIdp(record, exchangeStartedAtMs),
        ...writes,
      ]);
      if (loggedOut) {
        await this.end(sessionId, record, {
          reason: 'back-channel',
          by: { kind: 'provider', id: record.provider },
        });
      }
    } catch (error) {
      // Also after a failed save: one that timed out may still land, and the delete follows it
      // (same key, same connection). Not waited for: a Redis that does not answer would hold
      // the 503 back for another command timeout.
      this.destroy(sessionId).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Leaves word of a back-channel logout (the IdP's session `sid`, or every session of `sub`
   * whose sign-in began its code exchange before now) for {@link IDP_LOGOUT_MEMORY_MS}: called
   * before the receiver lists the indexes, so a sign-in that indexes its session after that
   * listing finds the word ({@link SessionService.startSession}) and ends the session itself.
   * Each side writes before it reads, so one of the two always sees the other.
   */
  async rememberIdpLogout(
    at: { tenant: string; provider: string; issuer: string },
    logout: { sid?: string | undefined; sub?: string | undefined },
  ): Promise<void> {
    const { tenant, provider, issuer } = at;
    if (logout.sid) {
      // With the user it names, if it names one: as the receiver, a sign-in of another user
      // under that `sid` is not ended.
      const user = logout.sub ? userDigest(issuer, logout.sub) : ANY_USER;
      await this.kv.put(
        idpLogoutKey(tenant, provider, issuer, logout.sid),
        user,
        IDP_LOGOUT_MEMORY_MS,
      );
    } else if (logout.sub) {
      const key = userLogoutKey(tenant, provider, userDigest(issuer, logout.sub));
      await this.kv.put(key, String(this.clock()), IDP_LOGOUT_MEMORY_MS);
    }
  }

  /**
   * Whether the IdP logged out this session's IdP session, or its user after this sign-in began
   * its code exchange (`exchangeStartedAtMs`; word of a logout by `sub` holds when it was
   * received, both by the instances' clocks, in milliseconds: a sign-in begun after a logout is
   * a new one, the user having signed in again).
   */
  async #loggedOutAtIdp(record: SessionRecord, exchangeStartedAtMs?: number): Promise<boolean> {
    const { tenant, provider, issuer, idpSid } = record;
    const [bySid, byUser] = await Promise.all([
      idpSid ? this.kv.get(idpLogoutKey(tenant, provider, issuer, idpSid)) : undefined,
      this.kv.get(userLogoutKey(tenant, provider, sessionUser(record))),
    ]);
    if (bySid === ANY_USER || bySid === sessionUser(record)) return true;
    return (
      byUser !== undefined &&
      (exchangeStartedAtMs === undefined || Number(byUser) >= exchangeStartedAtMs)
    );
  }

  async unindexSession(sessionId: string, record: SessionRecord): Promise<void> {
    await this.kv.removeFromIndex(userIndexKey(sessionUser(record)), sessionId);
    if (record.idpSid) {
      for (const key of idpSessionIndexKeys(record.issuer, record.idpSid)) {
        await this.kv.removeFromIndex(key, sessionId);
      }
    }
    await this.kv.removeFromIndex(tenantIndexKey(record.tenant), sessionId);
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

  /** Under both names of the index (see {@link idpSessionIndexKeys}). */
  async sessionsOfIdpSession(issuer: string, idpSid: string): Promise<Map<string, SessionRecord>> {
    const live = new Map<string, SessionRecord>();
    for (const key of idpSessionIndexKeys(issuer, idpSid)) {
      for (const [sessionId, record] of await this.#liveMembers(key)) live.set(sessionId, record);
    }
    return live;
  }

  /**
   * Ends a session on every instance: the shared record goes, and with it every cookie's use.
   * `ending` says why (for the audit trail; `admin` when not given). Several requests, or
   * instances, may find the same session to end at the same moment (three calls of one page
   * after its idle limit, a back-channel logout and an admin): only the one whose delete
   * found the record tells the audit trail, so each end is recorded once. True for that one.
   */
  async end(sessionId: string, record: SessionRecord, ending?: SessionEnding): Promise<boolean> {
    this.#forget(sessionId, 'ended');
    const ended = await this.destroy(sessionId);
    if (ended) this.#onEnded?.(record, ending ?? { reason: 'admin' });
    await this.unindexSession(sessionId, record);
    return ended;
  }

  /** Ends every listed session that `matches`; returns how many ended (by this call). */
  async endMatching(
    sessions: Map<string, SessionRecord>,
    matches: (record: SessionRecord, sessionId: string) => boolean,
    ending?: SessionEnding,
  ): Promise<number> {
    let ended = 0;
    for (const [sessionId, record] of sessions) {
      if (!matches(record, sessionId)) continue;
      if (await this.end(sessionId, record, ending)) ended += 1;
    }
    return ended;
  }

  /** Tells the audit trail about a session ended elsewhere (a logout through the HTTP adapter). */
  ended(record: SessionRecord, ending: SessionEnding): void {
    this.#onEnded?.(record, ending);
  }

  async #liveMembers(key: string): Promise<Map<string, SessionRecord>> {
    const live = new Map<string, SessionRecord>();
    for (const sessionId of await this.kv.indexMembers(key, this.clock())) {
      const record = await this.read(sessionId);
      if (record && !this.isExpired(record)) live.set(sessionId, record);
      else await this.kv.removeFromIndex(key, sessionId);
    }
    return live;
  }

  lockKey(sessionId: string): string {
    // The hash tag keeps a session's lock in one Redis Cluster slot.
    return `lock:{${sessionId}}`;
  }

  /**
   * Applies `mutate` to the freshly re-read record under the session lock (with a write kept in
   * memory applied first, see {@link SessionService.current}). Returns undefined when the lock is
   * busy (the caller decides whether to wait) and null when the session is gone.
   */
  async tryUpdate(
    sessionId: string,
    mutate: (record: SessionRecord) => Promise<SessionRecord> | SessionRecord,
    options: UpdateOptions = {},
  ): Promise<SessionRecord | null | undefined> {
    if (this.#updating.has(sessionId)) return undefined;
    this.#updating.add(sessionId);
    const lease =
      this.#kept.get(sessionId)?.lease ??
      new Lease(this.kv, this.lockKey(sessionId), this.lockLeaseMs);
    try {
      if (!(await lease.acquire())) return undefined;
      const stopRenewing = lease.keepRenewed();
      try {
        return await this.#update(sessionId, lease, mutate, options);
      } finally {
        stopRenewing();
        // A kept write keeps the lease: nobody else refreshes with the tokens it replaces.
        if (!this.#kept.has(sessionId)) await lease.release();
      }
    } finally {
      this.#updating.delete(sessionId);
    }
  }

  async #update(
    sessionId: string,
    lease: Lease,
    mutate: (record: SessionRecord) => Promise<SessionRecord> | SessionRecord,
    options: UpdateOptions,
  ): Promise<SessionRecord | null> {
    const stored = await this.store.load(sessionId);
    if (!stored?.gh) {
      this.#forget(sessionId, 'ended');
      return null;
    }
    const updated = await mutate(this.current(sessionId, stored.gh));
    if (updated === stored.gh) return updated;
    let written: boolean;
    try {
      // Only while the session still exists: a logout, a back-channel logout or an admin may
      // have ended it during a slow token request, and it must stay ended.
      // The document's other fields (express-session's cookie) are kept as they are.
      written = await this.#writeIfExists(sessionId, { ...stored, gh: updated });
    } catch (error) {
      if (!options.keepIfUnwritten && !this.#kept.has(sessionId)) throw error;
      this.#keep(sessionId, updated, stored.gh.tokens, lease);
      return updated;
    }
    this.#forget(sessionId, written ? 'stored' : 'ended');
    return written ? updated : null;
  }

  #keep(sessionId: string, record: SessionRecord, replaces: string, lease: Lease): void {
    const kept = this.#kept.get(sessionId);
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
    this.#kept.set(sessionId, entry);
    this.#logger?.warn(
      { session: record.handle },
      'session write kept in memory until the store answers',
    );
    this.#scheduleRetry(sessionId, entry);
  }

  #scheduleRetry(sessionId: string, entry: KeptWrite): void {
    if (this.#closed) return;
    const delay = Math.min(KEPT_RETRY_MAX_MS, KEPT_RETRY_FIRST_MS * 2 ** entry.attempt);
    entry.attempt += 1;
    entry.timer = setTimeout(() => void this.#retry(sessionId, entry), delay);
    entry.timer.unref();
  }

  /** One more try to store a kept write; the next one is scheduled while it is still kept. */
  async #retry(sessionId: string, entry: KeptWrite): Promise<void> {
    if (this.#kept.get(sessionId) !== entry) return;
    if (Date.now() - entry.since > this.keptWriteMaxMs || this.isExpired(entry.record)) {
      this.#forget(sessionId, 'abandoned');
      return;
    }
    try {
      // Unchanged: `current` puts the kept record in, so the update writes it.
      await this.tryUpdate(sessionId, (current) => current);
    } catch {
      // Still unreachable: try again later.
    }
    if (this.#kept.get(sessionId) === entry) this.#scheduleRetry(sessionId, entry);
  }

  #forget(sessionId: string, outcome: 'stored' | 'superseded' | 'ended' | 'abandoned'): void {
    const entry = this.#kept.get(sessionId);
    if (!entry) return;
    this.#kept.delete(sessionId);
    clearTimeout(entry.timer);
    const fields = { session: entry.record.handle, keptForMs: Date.now() - entry.since };
    if (outcome === 'abandoned') {
      this.#logger?.error(fields, 'session write kept in memory given up: the store stayed down');
    } else {
      this.#logger?.info({ ...fields, outcome }, 'session write kept in memory settled');
    }
    // A running update releases the lease itself when it ends.
    if (!this.#updating.has(sessionId)) void entry.lease.release();
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

/**
 * How long word of a back-channel logout is kept for the sign-ins it may have crossed: as long as
 * a login transaction lives, longer than any callback takes between its token exchange and its
 * index write.
 */
export const IDP_LOGOUT_MEMORY_MS = 10 * 60 * 1000;

/** The user a back-channel logout by `sid` names when its token has no `sub`. */
const ANY_USER = '*';

/**
 * Word of a back-channel logout of an IdP session (issuer, `sid`) at one tenant's provider (the
 * receiver ends only that provider's sessions). In the slot of that IdP session's index (its
 * hash tag).
 */
export const idpLogoutKey = (tenant: string, provider: string, issuer: string, idpSid: string) =>
  `idp-logout:sid:{${sha256(issuer, idpSid)}}:${sha256(tenant, provider)}`;

/**
 * Word of a back-channel logout of every session of a user (`userDigest`) at one tenant's
 * provider. In the slot of the user's index (its hash tag).
 */
export const userLogoutKey = (tenant: string, provider: string, user: string) =>
  `idp-logout:user:{${user}}:${sha256(tenant, provider)}`;

/** The index of a user's sessions, by `userDigest(issuer, sub)` (digest.ts). */
export const userIndexKey = (user: string) => `idx:user:{${user}}`;

export const tenantIndexKey = (tenant: string) => `idx:tenant:{${tenant}}`;

/**
 * The index of an IdP session's sessions, by (issuer, the ID token's `sid`): the name every
 * version wrote until a rename, and the one instances of that version still read during a
 * rolling upgrade.
 */
export const idpSessionIndexKey = (issuer: string, idpSid: string) =>
  `idx:idp-sid:{${sha256(issuer, idpSid)}}`;

/**
 * Where sessions of an IdP session may be indexed: {@link idpSessionIndexKey}, and the name the
 * builds in between wrote by mistake (`idp-sessionId`). Both are read and cleaned, so that a
 * back-channel logout naming the `sid` finds every session signed in by any of them; the second
 * empties itself as the sessions there reach their absolute limit.
 */
export const idpSessionIndexKeys = (issuer: string, idpSid: string) => [
  idpSessionIndexKey(issuer, idpSid),
  `idx:idp-sessionId:{${sha256(issuer, idpSid)}}`,
];
