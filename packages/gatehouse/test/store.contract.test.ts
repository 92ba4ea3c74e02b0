import type { SessionData } from 'express-session';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  startRedisCluster,
  startRedisSentinel,
  startRedisServer,
  type RedisTopology,
} from '@gatehouse/testkit';
import { ExpressSessionStore } from '../src/http/express-session-store.ts';
import { MemoryKeyValueStore, RedisKeyValueStore, type KeyValueStore } from '../src/session/kv.ts';
import type { SessionRecord } from '../src/session/model.ts';
import { Lease } from '../src/session/lock.ts';
import { SessionService, idpSessionIndexKey } from '../src/session/service.ts';
import { SessionStore, sessionKey } from '../src/session/session-store.ts';
import { userDigest } from '../src/digest.ts';
import { sessionRecord as record } from './support/session-stores.ts';

/**
 * One contract, two implementations: whatever passes here for memory must pass for a real
 * redis-server. No test sleeps: time passes on a controllable clock for memory, and for Redis
 * by shortening every key's remaining lifetime server-side (PTTL minus the time, so Redis
 * itself drops what is due). Every window is seconds wide, so a loaded machine cannot move a
 * test across a boundary.
 */
const IDLE_SECONDS = 60;

const REDIS_TOPOLOGIES = ['redis', 'redis sentinel', 'redis cluster'] as const;
const topologies: RedisTopology[] = [];
/** One client per topology, by name. */
const clients = new Map<string, Redis | Cluster>();

beforeAll(async () => {
  topologies.push(
    ...(await Promise.all([startRedisServer(), startRedisSentinel(), startRedisCluster()])),
  );
  for (const [index, name] of REDIS_TOPOLOGIES.entries()) {
    clients.set(name, topologies[index]!.client());
  }
});
afterAll(async () => {
  for (const client of clients.values()) client.disconnect();
  await Promise.all(topologies.map((topology) => topology.stop()));
});

function clientOf(name: string): Redis | Cluster {
  const client = clients.get(name);
  if (!client) throw new Error(`${name} did not start`);
  return client;
}

/** Takes `ARGV[1]` ms off a key's lifetime; a non-positive PEXPIRE deletes it, as expiry would. */
const SHORTEN_TTL = `local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl - tonumber(ARGV[1])) end
return ttl`;

/** Lets `ms` pass for every key matching `pattern` (on every master of a cluster). */
async function elapseInRedis(redis: Redis | Cluster, pattern: string, ms: number): Promise<void> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) await redis.eval(SHORTEN_TTL, 1, key, ms);
    } while (cursor !== '0');
  }
}

/** A controllable clock, starting now (records in these tests are stamped with `Date.now()`). */
function testClock() {
  let now = Date.now();
  return {
    now: () => now,
    elapse: (ms: number) => {
      now += ms;
    },
  };
}

const sessionData = (gh: SessionRecord): SessionData => ({
  cookie: { originalMaxAge: 3_600_000, path: '/', httpOnly: true },
  gh,
});

const asError = (err: unknown) => (err instanceof Error ? err : new Error(String(err)));

/** Promise form of the express-session store's callbacks. */
const expressOps = (store: ExpressSessionStore) => ({
  get: (sid: string) =>
    new Promise<SessionData | undefined>((resolve, reject) =>
      store.get(sid, (err, data) => (err ? reject(asError(err)) : resolve(data ?? undefined))),
    ),
  set: (sid: string, data: SessionData) =>
    new Promise<void>((resolve, reject) =>
      store.set(sid, data, (err) => (err ? reject(asError(err)) : resolve())),
    ),
  destroy: (sid: string) =>
    new Promise<void>((resolve, reject) =>
      store.destroy(sid, (err) => (err ? reject(asError(err)) : resolve())),
    ),
});

interface SessionHarness {
  /** The store port the sessions live in. */
  kv: KeyValueStore;
  /** The core's sessions over it. */
  sessions: SessionStore;
  /** express-session's adapter over the same sessions. */
  store: ExpressSessionStore;
  /** Writes a stored session as it is, under its key (as an older Gatehouse wrote it). */
  writeRaw(sessionId: string, json: string): Promise<void>;
  /** The stored session's JSON as it is. */
  readRaw(sessionId: string): Promise<string | undefined>;
  /** Lets `ms` pass for what the store holds. */
  elapse(ms: number): Promise<void>;
  /** The store's clock (it moves with `elapse` only for memory: Redis keeps real time). */
  now(): number;
}

function sessionHarness(
  kv: KeyValueStore,
  clock: () => number,
  parts: Pick<SessionHarness, 'writeRaw' | 'readRaw' | 'elapse'>,
): SessionHarness {
  const sessions = new SessionStore(kv, { idleTimeoutMs: IDLE_SECONDS * 1000, clock });
  return { kv, sessions, store: new ExpressSessionStore(sessions), now: clock, ...parts };
}

const sessionStores: Array<[string, () => SessionHarness]> = [
  [
    'memory',
    () => {
      const clock = testClock();
      const kv = new MemoryKeyValueStore({ clock: clock.now });
      return sessionHarness(kv, clock.now, {
        writeRaw: (sessionId, json) => kv.put(sessionKey(sessionId), json, 3_600_000),
        readRaw: (sessionId) => kv.get(sessionKey(sessionId)),
        elapse: async (ms) => clock.elapse(ms),
      });
    },
  ],
  ...REDIS_TOPOLOGIES.map((name): [string, () => SessionHarness] => [
    name,
    () => {
      const redis = clientOf(name);
      // The key and the SET connect-redis used: `gh:sess:<id>`, JSON, a TTL in seconds.
      return sessionHarness(new RedisKeyValueStore(redis), Date.now, {
        writeRaw: async (sessionId, json) => {
          await redis.set(`gh:sess:${sessionId}`, json, 'EX', 3600);
        },
        readRaw: async (sessionId) => (await redis.get(`gh:sess:${sessionId}`)) ?? undefined,
        elapse: (ms) => elapseInRedis(redis, 'gh:sess:*', ms),
      });
    },
  ]),
];

describe.each(sessionStores)('session store contract: %s', (_name, make) => {
  let harness: SessionHarness;
  let ops: ReturnType<typeof expressOps>;
  beforeEach(() => {
    harness = make();
    ops = expressOps(harness.store);
  });

  it('returns undefined for an unknown id', async () => {
    expect(await ops.get(`unknown-${Math.random()}`)).toBeUndefined();
    expect(await harness.sessions.read(`unknown-${Math.random()}`)).toBeUndefined();
  });

  it('round-trips a session as data (a copy, not the same object)', async () => {
    const data = sessionData(record({ user: 'rt' }));
    await ops.set('sid-rt', data);
    const loaded = await ops.get('sid-rt');
    expect(loaded).toEqual(data);
    expect(loaded).not.toBe(data);
    expect(await harness.sessions.read('sid-rt')).toEqual(data.gh);
  });

  it('overwrites on set and forgets on destroy', async () => {
    await ops.set('sid-ow', sessionData(record({ user: 'one' })));
    await ops.set('sid-ow', sessionData(record({ user: 'two' })));
    expect((await ops.get('sid-ow'))?.gh?.user).toBe('two');
    await ops.destroy('sid-ow');
    expect(await ops.get('sid-ow')).toBeUndefined();
    await ops.destroy('sid-ow'); // destroying twice is fine
  });

  it('keeps a session no longer than its idle deadline', async () => {
    await ops.set('sid-ttl', sessionData(record()));
    await harness.elapse((IDLE_SECONDS - 5) * 1000);
    expect(await ops.get('sid-ttl')).toBeDefined();
    // TTLs are whole seconds, rounded up: gone within a second of the deadline.
    await harness.elapse(5000 + 1000);
    expect(await ops.get('sid-ttl')).toBeUndefined();
  });

  it('keeps a session no longer than its absolute deadline when that comes first', async () => {
    const absoluteMs = 30_000;
    await ops.set(
      'sid-abs',
      sessionData(record({ absoluteExpiresAtMs: harness.now() + absoluteMs })),
    );
    await harness.elapse(absoluteMs - 5000);
    expect(await ops.get('sid-abs')).toBeDefined();
    // Long before the idle deadline (60 s).
    await harness.elapse(5000 + 1000);
    expect(await ops.get('sid-abs')).toBeUndefined();
  });

  it('a write moves the deadline: the record lives its full idle time from the write', async () => {
    await ops.set('sid-slide', sessionData(record()));
    await harness.elapse(40_000);
    await ops.set('sid-slide', sessionData(record({ lastSeenAtMs: harness.now() })));
    await harness.elapse(IDLE_SECONDS * 1000 - 30_000);
    expect(await ops.get('sid-slide')).toBeDefined();
  });

  it('saveIfExists writes only while the session exists (an ended session stays ended)', async () => {
    const { sessions } = harness;
    expect(await sessions.saveIfExists('sid-never', sessionData(record()))).toBe(false);
    expect(await ops.get('sid-never')).toBeUndefined();
    await ops.set('sid-cond', sessionData(record({ user: 'before' })));
    expect(await sessions.saveIfExists('sid-cond', sessionData(record({ user: 'after' })))).toBe(
      true,
    );
    expect((await ops.get('sid-cond'))?.gh?.user).toBe('after');
    await ops.destroy('sid-cond');
    expect(
      await sessions.saveIfExists('sid-cond', sessionData(record({ user: 'resurrected' }))),
    ).toBe(false);
    expect(await ops.get('sid-cond')).toBeUndefined();
  });

  it('a core update keeps what express-session stored beside the record (its cookie)', async () => {
    const data = sessionData(record({ tokens: 'sealed-v1' }));
    await ops.set('sid-both', data);
    const service = new SessionService({
      store: harness.sessions,
      kv: harness.kv,
      clock: () => harness.now(),
      idleTimeoutSeconds: IDLE_SECONDS,
    });
    const updated = await service.tryUpdate('sid-both', (current) => ({
      ...current,
      tokens: 'sealed-v2',
    }));
    expect(updated?.tokens).toBe('sealed-v2');
    expect(await ops.get('sid-both')).toEqual({ ...data, gh: { ...data.gh, tokens: 'sealed-v2' } });
    service.close();
  });

  it('touch never writes (sliding is explicit)', async () => {
    const data = sessionData(record({ user: 'touch' }));
    await ops.set('sid-touch', data);
    const changed = sessionData(record({ user: 'changed-by-touch' }));
    await new Promise<void>((resolve) =>
      harness.store.touch('sid-touch', changed, () => resolve()),
    );
    expect((await ops.get('sid-touch'))?.gh?.user).toBe('touch');
  });

  it('a value that is not a session document is no session (never a failure)', async () => {
    await harness.writeRaw('sid-garbage', 'not json');
    expect(await ops.get('sid-garbage')).toBeUndefined();
    await harness.writeRaw('sid-unknown-version', JSON.stringify({ gh: { v: 99 } }));
    expect(await harness.sessions.read('sid-unknown-version')).toBeUndefined();
  });
});

/**
 * A session signed in before the record's names and units changed, exactly as the previous
 * Gatehouse stored it (in Redis: connect-redis's `SET gh:sess:<id> <json> EX <ttl>`): version 1,
 * the access tokens' expiries in epoch seconds, the other times in epoch ms without a unit in
 * the name, `sid` for the IdP's session id.
 */
function versionOneSession(now: number) {
  const nowSeconds = Math.floor(now / 1000);
  return {
    cookie: {
      originalMaxAge: 28_800_000,
      expires: new Date(now + 28_800_000).toISOString(),
      secure: false,
      httpOnly: true,
      path: '/',
      sameSite: 'lax',
    },
    gh: {
      v: 1,
      tenant: 'acme',
      provider: 'dev',
      issuer: 'http://localhost:4000',
      user: 'alice-digest',
      sid: 'idp-session-1',
      claims: 'sealed-claims',
      tokens: 'sealed-tokens',
      accessTokenExpiresAt: nowSeconds + 300,
      resourceTokens: {
        'https://api.example': { token: 'sealed-api', expiresAt: nowSeconds + 600 },
      },
      createdAt: now - 60_000,
      lastSeenAt: now - 30_000,
      absoluteExpiresAt: now + 3_600_000,
      idleTimeoutMs: 900_000,
      refreshExpiresAt: now + 1_800_000,
      handle: 'handle-v1',
      device: 'Firefox 140 on Linux',
      testFaults: { idpUntil: now + 5000 },
    },
  };
}

describe.each(sessionStores)('a session stored by the previous version: %s', (_name, make) => {
  it('reads it in the new names and units, through the core and through express-session', async () => {
    const harness = make();
    const now = harness.now();
    const old = versionOneSession(now);
    await harness.writeRaw('sid-v1', JSON.stringify(old));
    const expected: SessionRecord = {
      v: 2,
      tenant: 'acme',
      provider: 'dev',
      issuer: 'http://localhost:4000',
      user: 'alice-digest',
      idpSid: 'idp-session-1',
      claims: 'sealed-claims',
      tokens: 'sealed-tokens',
      accessTokenExpiresAtMs: old.gh.accessTokenExpiresAt * 1000,
      resourceTokens: {
        'https://api.example': {
          token: 'sealed-api',
          expiresAtMs: old.gh.resourceTokens['https://api.example'].expiresAt * 1000,
        },
      },
      createdAtMs: now - 60_000,
      lastSeenAtMs: now - 30_000,
      absoluteExpiresAtMs: now + 3_600_000,
      idleTimeoutMs: 900_000,
      refreshExpiresAtMs: now + 1_800_000,
      handle: 'handle-v1',
      device: 'Firefox 140 on Linux',
      testFaults: { idpUntilMs: now + 5000 },
    };
    expect(await harness.sessions.read('sid-v1')).toEqual(expected);
    const loaded = await expressOps(harness.store).get('sid-v1');
    expect(loaded).toEqual({ cookie: old.cookie, gh: expected });
  });

  it('is found by its IdP session and written back in the new shape at its next write', async () => {
    const harness = make();
    const now = harness.now();
    await harness.writeRaw('sid-v1-write', JSON.stringify(versionOneSession(now)));
    const service = new SessionService({
      store: harness.sessions,
      kv: harness.kv,
      clock: () => harness.now(),
      idleTimeoutSeconds: IDLE_SECONDS,
    });
    const record = await service.read('sid-v1-write');
    await service.indexSession('sid-v1-write', record!);
    const found = await service.sessionsOfIdpSession('http://localhost:4000', 'idp-session-1');
    expect([...found.keys()]).toEqual(['sid-v1-write']);

    await service.tryUpdate('sid-v1-write', (current) => ({ ...current, lastSeenAtMs: now }));
    const raw = JSON.parse((await harness.readRaw('sid-v1-write')) ?? '{}') as {
      cookie: unknown;
      gh: Record<string, unknown>;
    };
    expect(raw.cookie).toEqual(versionOneSession(now).cookie);
    expect(raw.gh).toMatchObject({ v: 2, idpSid: 'idp-session-1', lastSeenAtMs: now });
    for (const old of [
      'sid',
      'accessTokenExpiresAt',
      'createdAt',
      'lastSeenAt',
      'absoluteExpiresAt',
    ]) {
      expect(raw.gh).not.toHaveProperty(old);
    }
    service.close();
  });
});

describe.each(sessionStores)('session indexes over the store: %s', (_name, make) => {
  /** A session service over the harness, and a fresh user and tenant (Redis is shared). */
  function setUp() {
    const harness = make();
    const service = new SessionService({
      store: harness.sessions,
      kv: harness.kv,
      clock: () => harness.now(),
      idleTimeoutSeconds: IDLE_SECONDS,
    });
    const unique = Math.random().toString(36).slice(2);
    const gh = record({
      user: `user-${unique}`,
      tenant: `tenant-${unique}`,
      idpSid: `idp-${unique}`,
      createdAtMs: harness.now(),
      lastSeenAtMs: harness.now(),
      absoluteExpiresAtMs: harness.now() + 3_600_000,
    });
    const start = (sid: string) =>
      service.startSession(`${sid}-${unique}`, gh, () =>
        harness.sessions.save(`${sid}-${unique}`, sessionData(gh)),
      );
    /** The ids listed under each index (the user's, the IdP session's, the tenant's), sorted. */
    const listed = async () =>
      [
        await service.sessionsOfUserDigest(gh.user),
        await service.sessionsOfIdpSession(gh.issuer, gh.idpSid ?? ''),
        await service.sessionsOfTenant(gh.tenant),
      ].map((found) => [...found.keys()].map((sid) => sid.split('-')[0]).sort());
    /** What each index holds, listed or not. */
    const entries = async () =>
      Promise.all(
        [
          `idx:user:{${gh.user}}`,
          idpSessionIndexKey(gh.issuer, gh.idpSid ?? ''),
          `idx:tenant:{${gh.tenant}}`,
        ].map(async (key) =>
          (await harness.kv.indexMembers(key, harness.now()))
            .map((sid) => sid.split('-')[0])
            .sort(),
        ),
      );
    return { harness, service, gh, unique, start, listed, entries };
  }

  it('a listing while a new session is being saved neither lists it nor loses its entries', async () => {
    const { harness, service, gh, unique, listed, entries } = setUp();
    let saved!: () => void;
    const saving = new Promise<void>((resolve) => {
      saved = resolve;
    });
    const starting = service.startSession(`new-${unique}`, gh, async () => {
      await saving;
      await harness.sessions.save(`new-${unique}`, sessionData(gh));
    });
    // Redis slow to take the session: every listing meanwhile, on any index.
    expect(await listed()).toEqual([[], [], []]);
    saved();
    await starting;
    expect(await listed()).toEqual([['new'], ['new'], ['new']]);
    expect(await entries()).toEqual([['new'], ['new'], ['new']]);
    service.close();
  });

  it('a listing still prunes the entries of a session that ended or expired', async () => {
    const { harness, service, unique, start, listed, entries } = setUp();
    await start('ended');
    await start('live');
    expect(await listed()).toEqual([
      ['ended', 'live'],
      ['ended', 'live'],
      ['ended', 'live'],
    ]);
    // Its record gone, its entries left (ended where the entries were not removed).
    await harness.sessions.delete(`ended-${unique}`);
    expect(await listed()).toEqual([['live'], ['live'], ['live']]);
    expect(await entries()).toEqual([['live'], ['live'], ['live']]);
    // Past its idle limit: the store drops the record, the next listing its entries.
    await harness.elapse((IDLE_SECONDS + 1) * 1000);
    expect(await listed()).toEqual([[], [], []]);
    expect(await entries()).toEqual([[], [], []]);
    service.close();
  });

  it('word of a back-channel logout, left before a sign-in indexes its session, ends it', async () => {
    const { harness, service, gh, unique, listed } = setUp();
    const at = { tenant: gh.tenant, provider: gh.provider, issuer: gh.issuer };
    // Each sign-in began its code exchange before the logout, unless told otherwise.
    const startBegun = (sid: string, record: typeof gh, begunAtMs = harness.now() - 1000) =>
      service.startSession(
        `${sid}-${unique}`,
        record,
        () => harness.sessions.save(`${sid}-${unique}`, sessionData(record)),
        begunAtMs,
      );
    // By the IdP session: a sign-in of it ends; one of another IdP session of the user stays.
    await service.rememberIdpLogout(at, { sid: gh.idpSid });
    await startBegun('bysid', gh);
    await startBegun('other', { ...gh, idpSid: `other-${unique}` });
    expect(await harness.sessions.load(`bysid-${unique}`)).toBeUndefined();
    expect(await harness.sessions.load(`other-${unique}`)).toBeDefined();
    expect((await listed())[0]).toEqual(['other']);
    // By the user: a sign-in of theirs begun before the logout ends, one begun after stays.
    const sub = `sub-${unique}`;
    const user = { ...gh, user: userDigest(gh.issuer, sub), idpSid: `user-${unique}` };
    await service.rememberIdpLogout(at, { sub });
    await startBegun('byuser', user);
    await startBegun('newer', user, harness.now() + 1000);
    expect(await harness.sessions.load(`byuser-${unique}`)).toBeUndefined();
    expect(await harness.sessions.load(`newer-${unique}`)).toBeDefined();
    service.close();
  });
});

describe('memory session store with a controllable clock', () => {
  it('expires exactly at the idle deadline', async () => {
    let now = 1_000_000;
    const sessions = new SessionStore(new MemoryKeyValueStore({ clock: () => now }), {
      idleTimeoutMs: IDLE_SECONDS * 1000,
      clock: () => now,
    });
    await sessions.save(
      's',
      sessionData(
        record({ lastSeenAtMs: now, createdAtMs: now, absoluteExpiresAtMs: now + 10_000_000 }),
      ),
    );
    now += IDLE_SECONDS * 1000 - 1;
    expect(await sessions.read('s')).toBeDefined();
    now += 1;
    expect(await sessions.read('s')).toBeUndefined();
  });
});

interface KeyValueHarness {
  kv: KeyValueStore;
  /** Lets `ms` pass for what the store holds. */
  elapse(ms: number): Promise<void>;
  /** The store's clock (it moves with `elapse` only for memory: Redis keeps real time). */
  now(): number;
}

const kvStores: Array<[string, () => KeyValueHarness]> = [
  [
    'memory',
    () => {
      const clock = testClock();
      return {
        kv: new MemoryKeyValueStore({ clock: clock.now }),
        elapse: async (ms) => clock.elapse(ms),
        now: clock.now,
      };
    },
  ],
  ...REDIS_TOPOLOGIES.map((name): [string, () => KeyValueHarness] => [
    name,
    () => {
      const redis = clientOf(name);
      const prefix = `t${Math.random()}:`;
      return {
        kv: new RedisKeyValueStore(redis, { prefix }),
        elapse: (ms) => elapseInRedis(redis, `${prefix}*`, ms),
        now: Date.now,
      };
    },
  ]),
];

describe.each(kvStores)('key-value store contract: %s', (_name, make) => {
  let kv: KeyValueStore;
  let harness: KeyValueHarness;
  beforeEach(() => {
    harness = make();
    kv = harness.kv;
  });

  it('put/get/delete', async () => {
    expect(await kv.get('a')).toBeUndefined();
    await kv.put('a', '1', 10_000);
    expect(await kv.get('a')).toBe('1');
    await kv.delete('a');
    expect(await kv.get('a')).toBeUndefined();
  });

  it('delete says whether the key was there (the one of two deletes that ended a session)', async () => {
    await kv.put('once', '1', 10_000);
    expect(await kv.delete('once')).toBe(true);
    expect(await kv.delete('once')).toBe(false);
    await kv.put('gone', '1', 1000);
    await harness.elapse(2000);
    expect(await kv.delete('gone')).toBe(false);
  });

  it('putIfExists replaces a live value only (never brings back an expired or deleted one)', async () => {
    expect(await kv.putIfExists('cond', 'x', 10_000)).toBe(false);
    expect(await kv.get('cond')).toBeUndefined();
    await kv.put('cond', 'one', 10_000);
    expect(await kv.putIfExists('cond', 'two', 20_000)).toBe(true);
    expect(await kv.get('cond')).toBe('two');
    // The write set a new TTL: alive past the first one, gone after its own.
    await harness.elapse(15_000);
    expect(await kv.get('cond')).toBe('two');
    await harness.elapse(5_000);
    expect(await kv.putIfExists('cond', 'three', 10_000)).toBe(false);
    expect(await kv.get('cond')).toBeUndefined();
    await kv.put('cond', 'four', 10_000);
    await kv.delete('cond');
    expect(await kv.putIfExists('cond', 'five', 10_000)).toBe(false);
    expect(await kv.get('cond')).toBeUndefined();
  });

  it('getBytes reads the value undecoded: its UTF-8 bytes, nothing for a missing key', async () => {
    const value = '{"gh":{"device":"Firefox 142 on Linux — café"}}';
    await kv.put('bytes', value, 60_000);
    const bytes = await kv.getBytes('bytes');
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(bytes ?? []).equals(Buffer.from(value, 'utf8'))).toBe(true);
    expect(await kv.getBytes('missing')).toBeUndefined();
    await kv.delete('bytes');
    expect(await kv.getBytes('bytes')).toBeUndefined();
  });

  it('take reads once (one-time login transactions)', async () => {
    await kv.put('tx', 'state', 10_000);
    const results = await Promise.all([kv.take('tx'), kv.take('tx'), kv.take('tx')]);
    expect(results.filter((r) => r === 'state')).toHaveLength(1);
    expect(await kv.get('tx')).toBeUndefined();
  });

  it('expires values after their TTL', async () => {
    await kv.put('short', 'x', 10_000);
    await harness.elapse(5_000);
    expect(await kv.get('short')).toBe('x');
    await harness.elapse(5_000);
    expect(await kv.get('short')).toBeUndefined();
    expect(await kv.take('short')).toBeUndefined();
  });

  it('putIfAbsent lets exactly one of many concurrent callers win', async () => {
    const wins = await Promise.all(
      Array.from({ length: 20 }, (_, i) => kv.putIfAbsent('lock', `owner-${i}`, 10_000)),
    );
    expect(wins.filter(Boolean)).toHaveLength(1);
  });

  it('putIfAbsent succeeds again after the lease expires', async () => {
    expect(await kv.putIfAbsent('lease', 'a', 10_000)).toBe(true);
    await harness.elapse(5_000);
    expect(await kv.putIfAbsent('lease', 'b', 10_000)).toBe(false);
    await harness.elapse(5_000);
    expect(await kv.putIfAbsent('lease', 'b', 10_000)).toBe(true);
    expect(await kv.get('lease')).toBe('b');
  });

  it('renewIfEquals extends only the owner’s lease', async () => {
    await kv.putIfAbsent('renew', 'owner', 10_000);
    expect(await kv.renewIfEquals('renew', 'intruder', 60_000)).toBe(false);
    expect(await kv.renewIfEquals('renew', 'owner', 60_000)).toBe(true);
    // Well past the first lease's end, still held thanks to the renewal.
    await harness.elapse(30_000);
    expect(await kv.get('renew')).toBe('owner');
    await harness.elapse(30_000);
    expect(await kv.get('renew')).toBeUndefined();
  });

  it('an expired lease can be neither renewed nor released by its old owner', async () => {
    await kv.putIfAbsent('lost', 'old', 10_000);
    await harness.elapse(10_000);
    expect(await kv.renewIfEquals('lost', 'old', 10_000)).toBe(false);
    expect(await kv.putIfAbsent('lost', 'new', 10_000)).toBe(true);
    expect(await kv.renewIfEquals('lost', 'old', 10_000)).toBe(false);
    expect(await kv.deleteIfEquals('lost', 'old')).toBe(false);
    expect(await kv.get('lost')).toBe('new');
  });

  it('deleteIfEquals releases only the owner’s lock', async () => {
    await kv.putIfAbsent('release', 'owner', 10_000);
    expect(await kv.deleteIfEquals('release', 'intruder')).toBe(false);
    expect(await kv.get('release')).toBe('owner');
    expect(await kv.deleteIfEquals('release', 'owner')).toBe(true);
    expect(await kv.get('release')).toBeUndefined();
  });

  it('indexes: add, list, remove; each member expires on its own', async () => {
    const now = harness.now();
    await kv.addToIndex('index', 'a', now + 10_000, now);
    await kv.addToIndex('index', 'b', now + 10_000, now);
    await kv.addToIndex('index', 'a', now + 20_000, now);
    expect((await kv.indexMembers('index', now)).sort()).toEqual(['a', 'b']);
    await kv.removeFromIndex('index', 'a');
    expect(await kv.indexMembers('index', now)).toEqual(['b']);
    expect(await kv.indexMembers('missing', now)).toEqual([]);
    // A member past its expiry is no longer listed, whatever the others do.
    await kv.addToIndex('index', 'short', now + 100, now);
    expect((await kv.indexMembers('index', now + 200)).sort()).toEqual(['b']);
  });

  it('an index drops expired members as it grows and dies with its last member', async () => {
    const now = harness.now();
    for (let i = 0; i < 50; i += 1) await kv.addToIndex('busy', `old-${i}`, now + 10_000, now);
    // Adding at a later moment drops every member expired by then.
    await kv.addToIndex('busy', 'fresh', now + 40_000, now + 15_000);
    expect(await kv.indexMembers('busy', 0)).toEqual(['fresh']);
    // The index itself lives as long as its longest-lived member, and no longer.
    await harness.elapse(35_000);
    expect(await kv.indexMembers('busy', 0)).toEqual(['fresh']);
    await harness.elapse(5_000);
    expect(await kv.indexMembers('busy', 0)).toEqual([]);
  });
});

describe.each(kvStores)('session lease on the store port: %s', (_name, make) => {
  const LEASE_MS = 10_000;

  it('one owner at a time; its own lease is taken again (extended), a lapsed one by another', async () => {
    const { kv, ...harness } = make();
    const elapse = (ms: number) => harness.elapse(ms);
    const first = new Lease(kv, 'lock:{lease-a}', LEASE_MS);
    const second = new Lease(kv, 'lock:{lease-a}', LEASE_MS);
    expect(await first.acquire()).toBe(true);
    expect(await second.acquire()).toBe(false);
    await elapse(6_000);
    // Taking it again renews it: still held 6 s later, past the first lease's end.
    expect(await first.acquire()).toBe(true);
    await elapse(6_000);
    expect(await second.acquire()).toBe(false);
    await elapse(LEASE_MS);
    expect(await second.acquire()).toBe(true);
    // The old owner's release leaves the new owner's lease alone.
    await first.release();
    expect(await first.acquire()).toBe(false);
    await second.release();
    expect(await first.acquire()).toBe(true);
  });
});
