import { startRedisServer, type RedisServer } from '@gatehouse/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteConfig } from '../src/config/schema.ts';
import { matchRoute } from '../src/proxy/routes.ts';
import { RedisKeyValueStore } from '../src/session/kv.ts';
import type { SessionRecord } from '../src/session/model.ts';
import { SessionStore, sessionKey } from '../src/session/session-store.ts';
import { sessionRecord } from './support/session-stores.ts';

/**
 * The in-process caches of the proxied call's hot path: none of them may stand in for the store
 * read (a logout or a write on any instance is seen at the next request), none may keep what a
 * caller changes, and the metrics a scrape sees are the same as prom-client's own.
 */

function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  return sessionRecord({
    tokens: 'sealed-tokens-1',
    resourceTokens: {
      'https://api.example': { token: 'sealed-r', expiresAtMs: Date.now() + 300_000 },
    },
    ...overrides,
  });
}

let redis: RedisServer;
const clients: Redis[] = [];
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  for (const client of clients) client.disconnect();
  await redis.stop();
});

/** A session store as one Gatehouse instance has it: its own client and its own cache. */
function instance(): SessionStore {
  const client = redis.client();
  clients.push(client);
  return new SessionStore(new RedisKeyValueStore(client), {
    idleTimeoutMs: 60_000,
    clock: Date.now,
  });
}

describe('SessionStore.read: the parsed-record cache', () => {
  it('hands out the same frozen record while the stored JSON is the same, and parses a change', async () => {
    const a = instance();
    await a.save('sid-1', { gh: record() });
    const first = await a.read('sid-1');
    const second = await a.read('sid-1');
    expect(second).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first?.resourceTokens?.['https://api.example'])).toBe(true);
    expect(() => {
      (first as { tokens: string }).tokens = 'changed';
    }).toThrow(TypeError);

    await a.save('sid-1', { gh: record({ tokens: 'sealed-tokens-2' }) });
    const third = await a.read('sid-1');
    expect(third).not.toBe(first);
    expect(third?.tokens).toBe('sealed-tokens-2');
  });

  it('sees a logout or a write of another instance at the next read, never the cached record', async () => {
    const a = instance();
    const b = instance();
    await a.save('sid-2', { gh: record({ user: 'before' }) });
    expect((await a.read('sid-2'))?.user).toBe('before');
    expect((await a.read('sid-2'))?.user).toBe('before');

    await b.save('sid-2', { gh: record({ user: 'after' }) });
    expect((await a.read('sid-2'))?.user).toBe('after');

    await b.delete('sid-2');
    expect(await a.read('sid-2')).toBeUndefined();
    // Written again under the same id (the same JSON as before the delete): read afresh.
    await b.save('sid-2', { gh: record({ user: 'after' }) });
    expect((await a.read('sid-2'))?.user).toBe('after');
  });

  it('treats unreadable JSON as no session, even after a good record of the same id was cached', async () => {
    const a = instance();
    await a.save('sid-3', { gh: record() });
    expect(await a.read('sid-3')).toBeDefined();
    const raw = redis.client();
    clients.push(raw);
    await raw.set(`gh:${sessionKey('sid-3')}`, '{"gh":', 'PX', 60_000);
    expect(await a.read('sid-3')).toBeUndefined();
    await raw.set(`gh:${sessionKey('sid-3')}`, '{"gh":{"v":99}}', 'PX', 60_000);
    expect(await a.read('sid-3')).toBeUndefined();
  });

  it('still reads the store on every call (one GET each)', async () => {
    const a = instance();
    await a.save('sid-4', { gh: record() });
    await a.read('sid-4');
    await redis.resetStats();
    for (let i = 0; i < 5; i += 1) await a.read('sid-4');
    expect(await redis.commandCounts()).toEqual({ get: 5 });
  });

  it('load() (express-session’s path, which changes what it gets) is never the shared record', async () => {
    const a = instance();
    await a.save('sid-5', { gh: record() });
    const shared = await a.read('sid-5');
    const loaded = await a.load('sid-5');
    expect(loaded?.gh).not.toBe(shared);
    expect(Object.isFrozen(loaded?.gh)).toBe(false);
  });
});

describe('matchRoute: the match cache', () => {
  const demo: RouteConfig = {
    prefix: '/api/demo',
    upstream: 'http://localhost:4001/base',
    tokenMode: 'user',
    methods: ['GET'],
    timeoutMs: 10_000,
    idleTimeoutMs: 300_000,
    allowSetCookie: false,
    websocket: false,
    websocketIdleTimeoutMs: 300_000,
    websocketMaxMessageBytes: 1024 * 1024,
  };
  const routes = [demo];

  it('gives the same match for the same target, with the origin and path undici sends', () => {
    const first = matchRoute(routes, '/api/demo/notes?x=1');
    expect(matchRoute(routes, '/api/demo/notes?x=1')).toBe(first);
    expect(first.upstreamOrigin).toBe('http://localhost:4001');
    expect(first.upstreamPath).toBe('/base/notes?x=1');
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('refuses a hostile target every time (a refusal is never kept)', () => {
    for (let i = 0; i < 3; i += 1) {
      expect(() => matchRoute(routes, '/api/demo/%2e%2e/admin')).toThrow();
      expect(() => matchRoute(routes, '/api/other')).toThrow();
    }
  });

  it('matches a target too long to be kept all the same', () => {
    const long = `/api/demo/${'a'.repeat(600)}`;
    expect(matchRoute(routes, long).upstreamPath).toBe(`/base/${'a'.repeat(600)}`);
  });
});
