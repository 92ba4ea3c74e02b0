import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import {
  createCookieFetch,
  monitorRedis,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisMonitor,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';

/**
 * What a sign-in does to the sessions in Redis, command by command (MONITOR): the callback
 * writes the new session once, under a fresh id, and deletes only a session the browser
 * presented (its pre-login id, never stored, costs nothing); a store failure at the callback is
 * a 503 that sets no session cookie. The session it wrote is express-session's on `/bff` and the
 * direct read's on `/api`.
 */
describe('the session a sign-in writes (real Redis)', () => {
  let redis: RedisServer;
  let stack: Stack;
  let admin: Redis;
  let monitor: RedisMonitor;
  let seen: string[][] = [];
  const alice = { login: 'alice', password: 'alice' };

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({ redis });
    admin = redis.client();
    monitor = await monitorRedis(redis.port);
    seen = monitor.commands;
  });
  afterAll(async () => {
    monitor?.stop();
    admin?.disconnect();
    await stack?.close();
    await redis?.stop();
  });

  /** The session commands Redis ran while `action` ran (MONITOR, fenced by two ECHOs). */
  async function sessionCommands(action: () => Promise<unknown>): Promise<string[][]> {
    const fence = async (marker: string) => {
      await admin.echo(marker);
      await expect
        .poll(() => seen.some((args) => args[0] === 'echo' && args[1] === marker), {
          timeout: 10_000,
        })
        .toBe(true);
      return seen.findIndex((args) => args[0] === 'echo' && args[1] === marker);
    };
    const from = await fence(`from-${Math.random()}`);
    await action();
    const to = await fence(`to-${Math.random()}`);
    return seen
      .slice(from + 1, to)
      .filter((args) => args.some((arg) => arg.startsWith('gh:sess:')))
      .map((args) => args.slice(0, 2));
  }

  const sessionId = async (http: CookieFetch) => {
    const cookie = decodeURIComponent((await http.cookie(stack.origin, 'gatehouse')) ?? '');
    return /^s:([\w-]+)\./.exec(cookie)?.[1];
  };

  it('writes the new session once and deletes nothing for a browser without one', async () => {
    const http = createCookieFetch();
    const commands = await sessionCommands(() => signIn(http, stack.origin, alice));
    const sid = await sessionId(http);
    expect(sid).toMatch(/^[\w-]{32}$/);
    expect(commands).toEqual([['set', `gh:sess:${sid}`]]);

    // express-session's document: the record beside its cookie, which it loads on /bff.
    const stored = JSON.parse((await admin.get(`gh:sess:${sid}`)) ?? '{}') as {
      cookie?: Record<string, unknown>;
      gh?: { tenant?: string };
    };
    expect(stored.gh?.tenant).toBe('acme');
    expect(stored.cookie).toMatchObject({ httpOnly: true, path: '/', sameSite: 'strict' });
    expect(Date.parse(String(stored.cookie?.expires))).toBeGreaterThan(Date.now());
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
    const api = await http(`${stack.origin}/api/demo/me`, { headers: { 'x-csrf': '1' } });
    expect(api.status).toBe(200);
  });

  it('ends the session a signed-in browser had, and the new one has a fresh id', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, alice);
    const before = await sessionId(http);
    const commands = await sessionCommands(() => signIn(http, stack.origin, alice));
    const after = await sessionId(http);
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    expect(commands).toEqual([
      ['del', `gh:sess:${before}`],
      ['set', `gh:sess:${after}`],
    ]);
    expect(await admin.exists(`gh:sess:${before}`)).toBe(0);
  });

  it('answers 503 and sets no session cookie when the store refuses the writes', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login`);
    const callback = await completeDevIdpLogin(http, start.headers.get('location') ?? '', alice);
    const sessionsBefore = (await admin.keys('gh:sess:*')).length;
    // Redis refuses every write past its memory limit (reads still work).
    await admin.config('SET', 'maxmemory', '1');
    let res: Response;
    try {
      res = await http(callback, { headers: { accept: 'application/json' } });
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    expect(res.status).toBe(503);
    expect(((await res.json()) as { code?: string }).code).toBe('store_unavailable');
    expect(res.headers.getSetCookie().some((line) => line.startsWith('gatehouse='))).toBe(false);
    expect(await http.cookie(stack.origin, 'gatehouse')).toBeUndefined();
    expect((await admin.keys('gh:sess:*')).length).toBe(sessionsBefore);
  });
});
