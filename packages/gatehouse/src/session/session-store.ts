import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.ts';
import type { KeyValueStore } from './kv.ts';
import { sessionExpiresAt, type SessionRecord } from './model.ts';
import { upgradeSessionRecord } from './record-upgrade.ts';

/**
 * A session as stored: one JSON document per session id, Gatehouse's record under `gh`, and
 * beside it whatever the HTTP adapter keeps there (express-session's `cookie`), carried through
 * every write unchanged. The core reads and writes only `gh`.
 */
export interface StoredSession {
  gh?: SessionRecord;
}

export interface SessionStoreOptions {
  /** The deployment's idle timeout (a record may carry its tenant's own). */
  idleTimeoutMs: number;
  clock: Clock;
  /**
   * Bytes of stored JSON the parsed-record cache of {@link SessionStore.read} may hold (each
   * entry also holds the parsed record, about as large; 0: no cache). Default 8 MiB.
   */
  parsedCacheBytes?: number;
}

/** Key of a session in the key-value store: `gh:sess:<id>` in Redis, connect-redis's key. */
export const sessionKey = (sessionId: string) => `sess:${sessionId}`;

const SECOND_MS = 1000;

/** A record parsed from `bytes`, the exact value the store held when it was read. */
interface ParsedRecord {
  bytes: Buffer;
  record: SessionRecord;
}

/** The record and everything in it, read-only: one object serves every request that reads it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** A stored session document (record upgraded), or undefined when it is not one. */
function parseStored(json: string): StoredSession | undefined {
  let stored: unknown;
  try {
    stored = JSON.parse(json);
  } catch {
    // Not a session Gatehouse wrote: no session, as if it had expired.
    return undefined;
  }
  if (typeof stored !== 'object' || stored === null) return undefined;
  const document = stored as { gh?: unknown };
  if (document.gh === undefined) return document as StoredSession;
  const gh = upgradeSessionRecord(document.gh);
  if (gh === document.gh) return document as StoredSession;
  return gh ? { ...document, gh } : undefined;
}

/**
 * The sessions in the store port ({@link KeyValueStore}): a session lives under
 * {@link sessionKey} as JSON — the key and format connect-redis used, so sessions written before
 * and the `/api` fast read keep working — for as long as its idle or absolute limit allows,
 * whichever comes first (whole seconds, rounded up). Every read upgrades an older record
 * ({@link upgradeSessionRecord}). Failures are the port's: decorate it with `withStoreErrors`.
 */
export class SessionStore {
  readonly #kv: KeyValueStore;
  readonly #idleTimeoutMs: number;
  readonly #clock: Clock;
  /**
   * Records already parsed, per session id, with the exact bytes of JSON each came from. The
   * store is still read on every {@link read}: an entry is used only when the value read just now
   * is byte for byte that value (a logout, a refresh or a slide anywhere changes or deletes it,
   * and the next read sees it), so it saves the decoding, the `JSON.parse` and the upgrade of a
   * record seen before, and hands out the same record object (whose sealed values are then the
   * same strings: the opened-token cache keyed by them needs no hashing). Bounded by the size of
   * the JSON it holds.
   */
  readonly #parsed: LRUCache<string, ParsedRecord> | undefined;

  constructor(kv: KeyValueStore, options: SessionStoreOptions) {
    this.#kv = kv;
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#clock = options.clock;
    const bytes = options.parsedCacheBytes ?? 8 * 1024 * 1024;
    this.#parsed =
      bytes > 0
        ? new LRUCache<string, ParsedRecord>({
            max: 100_000,
            maxSize: bytes,
            sizeCalculation: (entry, sessionId) => entry.bytes.length + sessionId.length,
          })
        : undefined;
  }

  /** The stored document (record upgraded), or undefined when there is none (or it is unreadable). */
  async load(sessionId: string): Promise<StoredSession | undefined> {
    const json = await this.#kv.get(sessionKey(sessionId));
    if (json === undefined) return undefined;
    return parseStored(json);
  }

  /**
   * The session's record, if the session exists and holds one: read from the store every time,
   * parsed only when the stored JSON differs from the one this process last parsed for it. The
   * record is frozen (shared by every request that read the same JSON): change a copy.
   */
  async read(sessionId: string): Promise<SessionRecord | undefined> {
    const cache = this.#parsed;
    if (!cache) return (await this.load(sessionId))?.gh;
    const read = await this.#kv.getBytes(sessionKey(sessionId));
    if (read === undefined) {
      cache.delete(sessionId);
      return undefined;
    }
    const known = cache.get(sessionId);
    if (known !== undefined && known.bytes.equals(read)) return known.record;
    // A copy: what the store hands out may be a view of its receive buffer.
    const bytes = Buffer.from(read);
    const record = parseStored(bytes.toString('utf8'))?.gh;
    if (record === undefined) {
      cache.delete(sessionId);
      return undefined;
    }
    cache.set(sessionId, { bytes, record: deepFreeze(record) });
    return record;
  }

  /** Writes the session (created or replaced) with the lifetime its record allows. */
  async save(sessionId: string, session: StoredSession): Promise<void> {
    await this.#kv.put(sessionKey(sessionId), JSON.stringify(session), this.ttlMs(session));
  }

  /**
   * Writes the session only while it still exists: how a refresh or a slide that took a while
   * avoids bringing back a session that was ended meanwhile. True when written.
   */
  async saveIfExists(sessionId: string, session: StoredSession): Promise<boolean> {
    return this.#kv.putIfExists(
      sessionKey(sessionId),
      JSON.stringify(session),
      this.ttlMs(session),
    );
  }

  /** True when the session existed: this call is the one that deleted it. */
  async delete(sessionId: string): Promise<boolean> {
    return this.#kv.delete(sessionKey(sessionId));
  }

  /** How long the stored session should live: until its idle or absolute limit, whichever is first. */
  ttlMs(session: StoredSession): number {
    if (!session.gh) return this.#idleTimeoutMs;
    const leftMs = sessionExpiresAt(session.gh, this.#idleTimeoutMs) - this.#clock();
    return Math.max(1, Math.ceil(leftMs / SECOND_MS)) * SECOND_MS;
  }
}
