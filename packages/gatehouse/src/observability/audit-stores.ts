import type { Cluster, Redis } from 'ioredis';
import {
  type AuditEvent,
  type AuditPage,
  type AuditQuery,
  type AuditRetention,
  type AuditStore,
  type StoredAuditEvent,
} from './audit.ts';

/** Where each tenant's audit trail is kept: a Redis stream per tenant, or memory. */

const matchesAction = (wanted: string | undefined, action: string) =>
  wanted === undefined || (wanted.endsWith('.') ? action.startsWith(wanted) : action === wanted);

const compareIds = (a: string, b: string): number => {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
};

/** How many events one read scans at most while filtering by action (bounds one request's work). */
const MAX_SCANNED_PER_READ = 5000;

/**
 * The trails in process memory (development, no Redis): capped per tenant exactly at
 * `maxEvents`, aged out at `maxAgeMs`.
 */
export class MemoryAuditStore implements AuditStore {
  readonly #retention: AuditRetention;
  readonly #clock: () => number;
  readonly #trails = new Map<string, StoredAuditEvent[]>();
  #lastMs = 0;
  #seq = 0;

  constructor(retention: AuditRetention, clock: () => number = Date.now) {
    this.#retention = retention;
    this.#clock = clock;
  }

  append(event: AuditEvent): Promise<void> {
    const now = this.#clock();
    if (now > this.#lastMs) {
      this.#lastMs = now;
      this.#seq = 0;
    } else {
      this.#seq += 1;
    }
    const trail = this.#trails.get(event.tenant) ?? [];
    trail.push({ ...event, id: `${this.#lastMs}-${this.#seq}` });
    if (trail.length > this.#retention.maxEvents)
      trail.splice(0, trail.length - this.#retention.maxEvents);
    this.#trails.set(event.tenant, trail);
    return Promise.resolve();
  }

  read(tenant: string, query: AuditQuery): Promise<AuditPage> {
    const oldest = this.#retention.maxAgeMs ? this.#clock() - this.#retention.maxAgeMs : 0;
    const since = query.since;
    const after = (event: StoredAuditEvent) => {
      const ms = Number(event.id.split('-')[0]);
      if (ms < oldest) return false;
      if (!since) return true;
      return 'id' in since ? compareIds(event.id, since.id) > 0 : ms >= since.time;
    };
    const candidates = (this.#trails.get(tenant) ?? []).filter(after);
    const events: StoredAuditEvent[] = [];
    let last: string | undefined;
    let scanned = 0;
    for (const event of candidates) {
      if (events.length === query.limit || scanned === MAX_SCANNED_PER_READ) break;
      scanned += 1;
      last = event.id;
      if (matchesAction(query.action, event.action)) events.push({ ...event });
    }
    const more = candidates.length > scanned;
    return Promise.resolve({ events, next: more && last ? last : null });
  }
}

/**
 * How often one instance trims a trail by age: a sign-in's audit write is then one command
 * (`XADD`), not a `MULTI` of four.
 */
export const AGE_TRIM_INTERVAL_MS = 60_000;
const MAX_TRIM_TIMES = 10_000;

/** One tenant's trail: the hash tag keeps it in one Cluster slot, whatever else the key says. */
export const auditStreamKey = (tenant: string, prefix = 'gh:') => `${prefix}audit:{${tenant}}`;

/**
 * The trails in Redis: one stream per tenant (`gh:audit:{<tenant>}`), appended with
 * `XADD … MAXLEN ~ <maxEvents>` (Redis trims whole stream nodes, so a trail may briefly hold a
 * little more) and, with an age limit, trimmed by `XTRIM … MINID ~ <now − maxAge>` in the same
 * round trip (`MULTI`) by the first append to a trail in each {@link AGE_TRIM_INTERVAL_MS} of
 * this instance; the others are a lone `XADD`. Reads never return events past the age limit,
 * trimmed or not, so the trim only bounds what is kept, by the day. Both commands name only the
 * tenant's key, so a Cluster runs them on one node.
 */
export class RedisAuditStore implements AuditStore {
  readonly #redis: Redis | Cluster;
  readonly #retention: AuditRetention;
  readonly #clock: () => number;
  readonly #prefix: string;
  /** When this instance last trimmed each trail by age (its clock). */
  readonly #trimmedAt = new Map<string, number>();

  constructor(
    redis: Redis | Cluster,
    retention: AuditRetention,
    options: { clock?: () => number; prefix?: string } = {},
  ) {
    this.#redis = redis;
    this.#retention = retention;
    this.#clock = options.clock ?? Date.now;
    this.#prefix = options.prefix ?? 'gh:';
  }

  async append(event: AuditEvent): Promise<void> {
    const key = auditStreamKey(event.tenant, this.#prefix);
    const { tenant: _tenant, ...rest } = event;
    const fields = ['e', JSON.stringify(rest)];
    const maxLen = String(this.#retention.maxEvents);
    const now = this.#clock();
    const trimmedAt = this.#trimmedAt.get(key);
    if (
      !this.#retention.maxAgeMs ||
      (trimmedAt !== undefined && now >= trimmedAt && now - trimmedAt < AGE_TRIM_INTERVAL_MS)
    ) {
      await this.#redis.xadd(key, 'MAXLEN', '~', maxLen, '*', ...fields);
      return;
    }
    const minId = `${Math.max(0, now - this.#retention.maxAgeMs)}-0`;
    const results = await this.#redis
      .multi()
      .xadd(key, 'MAXLEN', '~', maxLen, '*', ...fields)
      .xtrim(key, 'MINID', '~', minId)
      .exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed) throw failed?.[0] ?? new Error('audit write discarded');
    // Bounded: a deployment with more trails than this trims some of them more often.
    if (this.#trimmedAt.size >= MAX_TRIM_TIMES) this.#trimmedAt.clear();
    this.#trimmedAt.set(key, now);
  }

  async read(tenant: string, query: AuditQuery): Promise<AuditPage> {
    const key = auditStreamKey(tenant, this.#prefix);
    const oldest = this.#retention.maxAgeMs ? this.#clock() - this.#retention.maxAgeMs : 0;
    const since = query.since;
    let start: string;
    if (since && 'id' in since) {
      start = compareIds(since.id, `${oldest}-0`) >= 0 ? `(${since.id}` : `${oldest}-0`;
    } else {
      start = `${Math.max(oldest, since?.time ?? 0)}-0`;
    }
    const events: StoredAuditEvent[] = [];
    let scanned = 0;
    let last: string | undefined;
    /** Whether the scan saw the end of the stream. */
    let atEnd = false;
    while (events.length < query.limit && scanned < MAX_SCANNED_PER_READ) {
      const wanted = query.action ? 500 : query.limit - events.length;
      const batch = Math.min(wanted, MAX_SCANNED_PER_READ - scanned);
      const entries = await this.#redis.xrange(key, start, '+', 'COUNT', batch);
      let consumed = 0;
      for (const [id, fields] of entries) {
        if (events.length === query.limit) break;
        consumed += 1;
        last = id;
        const event = parseEntry(tenant, id, fields);
        if (event && matchesAction(query.action, event.action)) events.push(event);
      }
      scanned += consumed;
      if (entries.length < batch) {
        atEnd = consumed === entries.length;
        break;
      }
      if (last !== undefined) start = `(${last}`;
    }
    if (!atEnd && last !== undefined) {
      atEnd = (await this.#redis.xrange(key, `(${last}`, '+', 'COUNT', 1)).length === 0;
    }
    return { events, next: atEnd ? null : (last ?? null) };
  }
}

function parseEntry(tenant: string, id: string, fields: string[]): StoredAuditEvent | undefined {
  const index = fields.indexOf('e');
  const raw = index >= 0 ? fields[index + 1] : undefined;
  if (raw === undefined) return undefined;
  try {
    const parsed = JSON.parse(raw) as Omit<AuditEvent, 'tenant'>;
    return { id, tenant, ...parsed };
  } catch {
    return undefined;
  }
}
