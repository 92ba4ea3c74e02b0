import type { SessionRecord } from '../session/model.ts';

export interface SessionWatchOptions {
  /** How often the sessions of open sockets are read again. */
  intervalMs: number;
  /** The stored record, undefined when the session is gone; rejects when the store cannot answer. */
  read(sid: string): Promise<SessionRecord | undefined>;
  /** Whether a record that still exists has ended all the same (expired, provider removed). */
  hasEnded(record: SessionRecord): Promise<boolean>;
  /** Called once per check in which the store failed for some sessions (they stay open). */
  onStoreError?(error: unknown, sessions: number): void;
  /** Called after each check with the sessions that are still live (e.g. to slide them). */
  onLive?(live: Map<string, SessionRecord>): Promise<void>;
}

/** Reads per check at once: bounded, so a check of thousands of sessions does not flood Redis. */
const READ_BATCH = 100;

/**
 * One per process: every `intervalMs` the sessions of all open sockets are read again from the
 * shared store — one read per session, however many sockets it has, sent together — and the
 * sockets of every session that is gone or has ended are told so. A session ended on another
 * instance (logout, back-channel logout, an admin) is therefore noticed within one interval.
 * A store that cannot answer ends nothing: its sessions are simply checked again next time.
 */
export class SessionWatch {
  readonly #options: SessionWatchOptions;
  readonly #watchers = new Map<string, Set<() => void>>();
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;

  constructor(options: SessionWatchOptions) {
    this.#options = options;
  }

  /** How many sessions are watched. */
  get size(): number {
    return this.#watchers.size;
  }

  /** Calls `onEnded` once the session `sid` has ended; returns the function that stops watching. */
  watch(sid: string, onEnded: () => void): () => void {
    let set = this.#watchers.get(sid);
    if (!set) {
      set = new Set();
      this.#watchers.set(sid, set);
    }
    set.add(onEnded);
    this.#start();
    return () => {
      const current = this.#watchers.get(sid);
      if (!current?.delete(onEnded)) return;
      if (current.size === 0) this.#watchers.delete(sid);
      if (this.#watchers.size === 0) this.#stop();
    };
  }

  /** One check now (also what the timer runs); a check already running is joined, not repeated. */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  /** Stops the timer (shutdown); watchers stay registered but are no longer checked. */
  close(): void {
    this.#stop();
    this.#watchers.clear();
  }

  #start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.check(), this.#options.intervalMs);
    this.#timer.unref();
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #check(): Promise<void> {
    const sids = [...this.#watchers.keys()];
    const live = new Map<string, SessionRecord>();
    let failed = 0;
    let firstError: unknown;
    for (let start = 0; start < sids.length; start += READ_BATCH) {
      const batch = sids.slice(start, start + READ_BATCH);
      const outcomes = await Promise.allSettled(
        batch.map(async (sid) => {
          const record = await this.#options.read(sid);
          return { record, ended: !record || (await this.#options.hasEnded(record)) };
        }),
      );
      for (const [index, outcome] of outcomes.entries()) {
        const sid = batch[index] as string;
        if (outcome.status === 'rejected') {
          failed += 1;
          firstError ??= outcome.reason;
        } else if (outcome.value.ended) {
          this.#end(sid);
        } else if (outcome.value.record) {
          live.set(sid, outcome.value.record);
        }
      }
    }
    if (failed > 0) this.#options.onStoreError?.(firstError, failed);
    if (live.size > 0) await this.#options.onLive?.(live);
  }

  #end(sid: string): void {
    const set = this.#watchers.get(sid);
    if (!set) return;
    this.#watchers.delete(sid);
    for (const onEnded of set) onEnded();
    if (this.#watchers.size === 0) this.#stop();
  }
}
