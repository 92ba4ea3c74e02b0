import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '@gatehouse/testkit';
import { ConfigError, createLogger, loadConfig } from '../src/index.ts';
import { parseAuditQuery } from '../src/admin/audit.ts';
import { GatehouseError } from '../src/errors.ts';
import { AuditLog, type AuditEvent, type AuditStore } from '../src/observability/audit.ts';
import {
  AGE_TRIM_INTERVAL_MS,
  MemoryAuditStore,
  RedisAuditStore,
  auditStreamKey,
} from '../src/observability/audit-stores.ts';
import { jsonLines } from './support/json-lines.ts';

const DAY = 86_400_000;

const event = (tenant: string, n: number, action: AuditEvent['action'] = 'sign-in') => ({
  tenant,
  actor: { kind: 'user', id: `digest-${n}` } as const,
  action,
  outcome: 'success' as const,
  requestId: `r${n}`,
});

/** The store contract, run on memory and on a real redis-server. */
describe.each([
  [
    'memory',
    () => ({
      make: (retention: Retention, clock: () => number) => new MemoryAuditStore(retention, clock),
    }),
  ],
  [
    'redis',
    () => ({
      make: (retention: Retention, clock: () => number) =>
        new RedisAuditStore(client, retention, { clock }),
    }),
  ],
] as const)('%s audit store', (_name, factory) => {
  let tenant = '';
  let counter = 0;
  const now = { ms: Date.now() };
  const clock = () => now.ms;
  const make = (retention: Retention) => factory().make(retention, clock);
  const append = async (store: AuditStore, n: number, action?: AuditEvent['action']) =>
    store.append({ time: new Date(now.ms).toISOString(), ...event(tenant, n, action) });

  beforeAll(() => {
    tenant = `t${Math.random().toString(36).slice(2, 8)}`;
  });

  it('reads oldest first, page by page, with the cursor', async () => {
    tenant = `page${++counter}`;
    const store = make({ maxEvents: 100, maxAgeMs: 0 });
    for (let n = 0; n < 7; n += 1) await append(store, n);
    const first = await store.read(tenant, { limit: 3 });
    expect(first.events.map((e) => e.requestId)).toEqual(['r0', 'r1', 'r2']);
    expect(first.next).toBe(first.events[2]!.id);
    const second = await store.read(tenant, { limit: 3, since: { id: first.next! } });
    expect(second.events.map((e) => e.requestId)).toEqual(['r3', 'r4', 'r5']);
    const last = await store.read(tenant, { limit: 3, since: { id: second.next! } });
    expect(last.events.map((e) => e.requestId)).toEqual(['r6']);
    expect(last.next).toBeNull();
    expect(last.events[0]).toMatchObject({ tenant, outcome: 'success', actor: { kind: 'user' } });
  });

  it('filters by action and by a kind of action, paging over what it skipped', async () => {
    tenant = `filter${++counter}`;
    const store = make({ maxEvents: 100, maxAgeMs: 0 });
    await append(store, 0, 'sign-in');
    await append(store, 1, 'provider.created');
    await append(store, 2, 'sign-out');
    await append(store, 3, 'provider.deleted');
    const providers = await store.read(tenant, { limit: 10, action: 'provider.' });
    expect(providers.events.map((e) => e.action)).toEqual(['provider.created', 'provider.deleted']);
    expect(providers.next).toBeNull();
    const one = await store.read(tenant, { limit: 1, action: 'sign-out' });
    expect(one.events.map((e) => e.requestId)).toEqual(['r2']);
  });

  it('reads from a time on', async () => {
    tenant = `time${++counter}`;
    const store = make({ maxEvents: 100, maxAgeMs: 0 });
    await append(store, 0);
    const page = await store.read(tenant, { limit: 10 });
    const at = Number(page.events[0]!.id.split('-')[0]);
    expect((await store.read(tenant, { limit: 10, since: { time: at } })).events).toHaveLength(1);
    expect((await store.read(tenant, { limit: 10, since: { time: at + 1 } })).events).toHaveLength(
      0,
    );
  });

  it('keeps no more than maxEvents (about: whole stream nodes) and drops the oldest', async () => {
    tenant = `cap${++counter}`;
    const store = make({ maxEvents: 10, maxAgeMs: 0 });
    for (let n = 0; n < 40; n += 1) await append(store, n);
    const page = await store.read(tenant, { limit: 1000 });
    expect(page.events.length).toBeGreaterThanOrEqual(10);
    expect(page.events.length).toBeLessThanOrEqual(10 + NODE_ENTRIES);
    expect(page.events.at(-1)?.requestId).toBe('r39');
    expect(page.events.map((e) => e.requestId)).not.toContain('r0');
  });

  it('hides events older than maxAge at once and trims them on the next write', async () => {
    tenant = `age${++counter}`;
    const store = make({ maxEvents: 1000, maxAgeMs: DAY });
    for (let n = 0; n < 2 * NODE_ENTRIES; n += 1) await append(store, n);
    expect((await store.read(tenant, { limit: 100 })).events).toHaveLength(2 * NODE_ENTRIES);
    now.ms += 2 * DAY;
    try {
      expect((await store.read(tenant, { limit: 100 })).events).toHaveLength(0);
      await append(store, 99);
      if (store instanceof RedisAuditStore) {
        // The full stream nodes of old events are gone (XTRIM MINID ~). Redis stamps ids with
        // its own time, which this test's clock cannot move: the new event, stamped "two days
        // ago" by that clock, went with them.
        expect(await client.xlen(auditStreamKey(tenant))).toBe(0);
      } else {
        const events = (await store.read(tenant, { limit: 100 })).events;
        expect(events.map((e) => e.requestId)).toEqual(['r99']);
      }
    } finally {
      now.ms -= 2 * DAY;
    }
  });
});

describe('redis audit store, trimming by age', () => {
  it('trims with the first write of each interval only; the other writes are a lone XADD', async () => {
    const tenant = `trim${Math.random().toString(36).slice(2, 8)}`;
    const key = auditStreamKey(tenant);
    // One full stream node of events from the epoch's first milliseconds.
    for (let id = 1; id <= NODE_ENTRIES; id += 1) await client.xadd(key, `${id}-0`, 'e', '{}');
    const now = { ms: DAY };
    const store = new RedisAuditStore(
      client,
      { maxEvents: 1000, maxAgeMs: DAY },
      {
        clock: () => now.ms,
      },
    );
    const append = (n: number) =>
      store.append({ time: new Date(now.ms).toISOString(), ...event(tenant, n) });
    // Nothing is a day old yet: the trim finds nothing, and the interval starts.
    await append(1);
    // The old node is past the age now, but the interval is not over: no trim.
    now.ms = DAY + AGE_TRIM_INTERVAL_MS / 2;
    await append(2);
    expect(await client.xlen(key)).toBe(NODE_ENTRIES + 2);
    // Reads leave it out all the same.
    expect((await store.read(tenant, { limit: 100 })).events.map((e) => e.requestId)).toEqual([
      'r1',
      'r2',
    ]);
    now.ms = DAY + AGE_TRIM_INTERVAL_MS;
    await append(3);
    expect(await client.xlen(key)).toBe(3);
  });
});

type Retention = { maxEvents: number; maxAgeMs: number };

/** Small stream nodes, so that `~` trimming is close to exact in these tests. */
const NODE_ENTRIES = 5;
let redis: RedisServer;
let client: Redis;

beforeAll(async () => {
  redis = await startRedisServer();
  client = new Redis(redis.url, { maxRetriesPerRequest: 0 });
  await client.config('SET', 'stream-node-max-entries', String(NODE_ENTRIES));
});
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

interface Line {
  level: number;
  msg: string;
  audit?: boolean;
  log?: string;
  action?: string;
  unstored?: number;
  reason?: string;
}

describe('AuditLog', () => {
  it('writes each event to the audit logger and the store; a store outage fails nothing and is logged once per transition', async () => {
    const lines: Line[] = [];
    const outageRedis = await startRedisServer();
    const outageClient = new Redis(outageRedis.url, {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => 50,
    });
    outageClient.on('error', () => undefined);
    try {
      await new Promise((resolve) => outageClient.once('ready', resolve));
      const audit = new AuditLog({
        logger: createLogger('info', jsonLines(lines)),
        store: new RedisAuditStore(outageClient, { maxEvents: 100, maxAgeMs: 0 }),
      });
      audit.record(event('acme', 1));
      await audit.settled();
      expect((await audit.read('acme', { limit: 10 })).events).toHaveLength(1);

      await outageRedis.kill();
      for (let n = 2; n <= 4; n += 1) expect(() => audit.record(event('acme', n))).not.toThrow();
      await audit.settled();
      const auditLines = lines.filter((line) => line.audit === true);
      expect(auditLines.map((line) => line.action)).toEqual(Array(4).fill('sign-in'));
      expect(auditLines.every((line) => line.log === 'audit')).toBe(true);
      const errors = lines.filter((line) => line.level === 50);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.msg).toContain('audit trail store unavailable');

      await outageRedis.restart();
      await expect.poll(() => outageClient.status, { timeout: 10_000, interval: 50 }).toBe('ready');
      audit.record(event('acme', 5));
      await audit.settled();
      const recovered = lines.filter((line) => line.msg.includes('available again'));
      expect(recovered).toHaveLength(1);
      expect(recovered[0]?.unstored).toBe(3);
      expect(lines.filter((line) => line.level === 50)).toHaveLength(1);
    } finally {
      outageClient.disconnect();
      await outageRedis.stop();
    }
  });

  it('keeps a trail only for known tenants, but logs every event', async () => {
    const lines: Line[] = [];
    const store = new MemoryAuditStore({ maxEvents: 10, maxAgeMs: 0 });
    const audit = new AuditLog({
      logger: createLogger('info', jsonLines(lines)),
      store,
      isKnownTenant: async (tenant) => tenant === 'acme',
    });
    audit.record(event('acme', 1));
    audit.record(event('made-up', 2));
    await audit.settled();
    expect((await store.read('acme', { limit: 10 })).events).toHaveLength(1);
    expect((await store.read('made-up', { limit: 10 })).events).toHaveLength(0);
    expect(lines.filter((line) => line.audit === true)).toHaveLength(2);
  });
});

describe('parseAuditQuery', () => {
  it('reads since (id or ISO time), action and limit', () => {
    expect(parseAuditQuery({})).toEqual({ limit: 100 });
    expect(parseAuditQuery({ since: '1700000000000-3', action: 'provider.', limit: '5' })).toEqual({
      since: { id: '1700000000000-3' },
      action: 'provider.',
      limit: 5,
    });
    expect(parseAuditQuery({ since: '2026-01-02T03:04:05.678+01:00' })).toEqual({
      limit: 100,
      since: { time: Date.parse('2026-01-02T02:04:05.678Z') },
    });
  });

  it.each([
    [{ limit: '0' }],
    [{ limit: '-1' }],
    [{ limit: '1.5' }],
    [{ limit: ['1', '2'] }],
    [{ since: 'Tue, 01 Jan 2030 00:00:00 GMT' }],
    [{ since: '2030-01-01' }],
    [{ since: '1-2-3' }],
    [{ action: 'sign' }],
    [{ action: '.' }],
    [{ other: 'x' }],
  ])('refuses %j with invalid_parameter', (query) => {
    let thrown: unknown;
    try {
      parseAuditQuery(query);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(GatehouseError);
    expect((thrown as GatehouseError).code).toBe('invalid_parameter');
    expect((thrown as GatehouseError).status).toBe(400);
  });
});

describe('audit retention config', () => {
  const input = { mode: 'development' as const, publicUrl: 'http://localhost:3000' };

  it('defaults to 100000 events and 90 days; the file and AUDIT_* variables override', () => {
    expect(loadConfig({ input }).config.audit).toEqual({ maxEvents: 100_000, maxAgeDays: 90 });
    const fromFile = loadConfig({ input: { ...input, audit: { maxEvents: 500 } } }).config.audit;
    expect(fromFile).toEqual({ maxEvents: 500, maxAgeDays: 90 });
    const fromEnv = loadConfig({
      env: { AUDIT_MAX_EVENTS: '2000', AUDIT_MAX_AGE_DAYS: '0' },
      input: { ...input, audit: { maxEvents: 500, maxAgeDays: 7 } },
    }).config.audit;
    expect(fromEnv).toEqual({ maxEvents: 2000, maxAgeDays: 0 });
  });

  it.each([
    ['AUDIT_MAX_EVENTS', '0', /^audit\.maxEvents: /],
    ['AUDIT_MAX_EVENTS', 'lots', /^audit\.maxEvents: /],
    ['AUDIT_MAX_AGE_DAYS', '-1', /^audit\.maxAgeDays: /],
    ['AUDIT_MAX_AGE_DAYS', '1.5', /^audit\.maxAgeDays: /],
  ])('refuses %s=%s', (name, value, pattern) => {
    let problems: readonly string[] = [];
    try {
      loadConfig({ env: { [name]: value }, input });
    } catch (error) {
      if (error instanceof ConfigError) problems = error.problems;
      else throw error;
    }
    expect(
      problems.some((problem) => pattern.test(problem)),
      problems.join('; '),
    ).toBe(true);
  });
});
