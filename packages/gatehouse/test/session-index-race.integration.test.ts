import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import {
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { startHoldingRedisProxy, type HoldingRedisProxy } from './support/holding-redis-proxy.ts';

/**
 * A new session and the indexes that find it (its user, its IdP session, its tenant), with
 * real Redis. A listing of the user's sessions (their device list, here on another instance)
 * prunes the entries whose session record it does not find: one that runs while a sign-in on
 * another instance is still writing (Redis slow to answer that instance: a proxy holds its
 * connection at the session's write) must not lose the new session's entries, or "end my other
 * sessions", a back-channel logout and the admin's end-all would miss it for good. And a
 * sign-in whose writes Redis refuses halfway is a 503 that leaves nothing behind: no session
 * without its index entries, no entry without its session.
 */
describe('session indexes while a sign-in writes (real Redis)', () => {
  let redis: RedisServer;
  let proxy: HoldingRedisProxy;
  let stack: Stack;
  let admin: Redis;
  let first: string;
  let second: string;
  const alice = { login: 'alice', password: 'alice' };

  beforeAll(async () => {
    redis = await startRedisServer();
    proxy = await startHoldingRedisProxy(redis.port);
    // Both instances reach Redis through the proxy, each on connections of its own.
    stack = await startStack({
      redis: {
        kind: 'standalone',
        env: { REDIS_URL: proxy.url },
        client: () => redis.client(),
        stop: async () => undefined,
      },
      instances: 2,
      // The back-channel logouts below are sent by the dev IdP's control API.
      devIdp: { controlApi: true },
    });
    [first, second] = stack.gatehouses.map((gatehouse) => gatehouse.origin) as [string, string];
    admin = redis.client();
  });
  afterAll(async () => {
    admin?.disconnect();
    proxy?.release();
    await stack?.close();
    await proxy?.close();
    await redis?.stop();
  });

  /** The signed-in user's sessions as their device list shows them (handles). */
  const deviceList = async (http: CookieFetch, origin: string) => {
    const res = await http(`${origin}/bff/sessions`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { sessions: Array<{ id: string; current: boolean }> }).sessions;
  };

  it('a listing on another instance while the new session is being written keeps it findable', async () => {
    const laptop = createCookieFetch();
    await signIn(laptop, second, alice);
    expect(await deviceList(laptop, second)).toHaveLength(1);

    const phone = createCookieFetch();
    const start = await phone(`${first}/bff/login`);
    const callbackUrl = await completeDevIdpLogin(
      phone,
      start.headers.get('location') ?? '',
      alice,
    );
    const held = proxy.holdAt(([name, key]) => name === 'set' && !!key?.startsWith('gh:sess:'));
    const callback = phone(callbackUrl);
    await held;
    // Whatever the sign-in sent before its session's write reaches Redis meanwhile.
    await sleep(100);
    // The laptop's device list, on the other instance, while Redis has not taken the session.
    expect(await deviceList(laptop, second)).toHaveLength(1);
    proxy.release();
    const signedIn = await callback;
    expect(signedIn.status).toBe(302);
    expect((await phone(`${first}/bff/user`)).status).toBe(200);

    // The new session is listed, and "end my other sessions" on the laptop ends it.
    const listed = await deviceList(laptop, second);
    expect(listed).toHaveLength(2);
    const ended = await laptop(`${second}/bff/sessions/end-others`, {
      method: 'POST',
      headers: { 'x-csrf': '1' },
    });
    expect(ended.status).toBe(204);
    expect((await phone(`${first}/bff/user`)).status).toBe(401);
    expect(await deviceList(laptop, second)).toHaveLength(1);
  });

  /**
   * A sign-in on the second instance up to its session's write, held there (the token exchange
   * done, the session neither written nor indexed); its callback's answer, and the IdP session
   * id the held write carries.
   */
  const signInHeldAtWrite = async (http: CookieFetch) => {
    const start = await http(`${second}/bff/login`);
    const callbackUrl = await completeDevIdpLogin(http, start.headers.get('location') ?? '', alice);
    let idpSid = '';
    const held = proxy.holdAt(([name, key, value]) => {
      if (name !== 'set' || !key?.startsWith('gh:sess:')) return false;
      idpSid = (JSON.parse(value ?? '{}') as { gh?: { idpSid?: string } }).gh?.idpSid ?? '';
      return true;
    });
    const callback = http(callbackUrl);
    await held;
    return { callback, idpSid };
  };

  /** The dev IdP's back-channel logout, delivered to the first instance. */
  const idpLogout = async (logout: { sub: string; sid?: string }) => {
    const res = await fetch(`${stack.idp.origin}/__control/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ realm: '', ...logout }),
    });
    expect(res.status).toBe(200);
    // The realm's other clients are providers this stack does not configure (their 404s).
    const outcome = (await res.json()) as { delivered: string[]; failed: Array<{ error: string }> };
    expect(outcome.delivered.length).toBeGreaterThan(0);
    expect(outcome.failed.filter(({ error }) => error.includes('/acme/dev,'))).toEqual([]);
  };

  it('a back-channel logout of the IdP session while its sign-in writes ends the new session', async () => {
    const phone = createCookieFetch();
    const { callback, idpSid } = await signInHeldAtWrite(phone);
    try {
      expect(idpSid).not.toBe('');
      // The IdP ends that session now: the other instance lists the IdP session's index, where
      // the new session is not yet.
      await idpLogout({ sub: 'alice', sid: idpSid });
    } finally {
      proxy.release();
    }
    expect((await callback).status).toBe(302);
    // Ended by the sign-in itself, once its entries were written: on every instance.
    expect((await phone(`${second}/bff/user`)).status).toBe(401);
    expect((await phone(`${first}/bff/user`)).status).toBe(401);
  });

  it('a back-channel logout of the user (no sid) while a sign-in writes ends it; a later sign-in stays', async () => {
    const phone = createCookieFetch();
    const { callback } = await signInHeldAtWrite(phone);
    try {
      await idpLogout({ sub: 'alice' });
    } finally {
      proxy.release();
    }
    expect((await callback).status).toBe(302);
    expect((await phone(`${second}/bff/user`)).status).toBe(401);

    // Word of the logout stays for minutes: a sign-in begun after the logout (the user signing
    // in again at once) is not touched by it.
    const later = createCookieFetch();
    await signIn(later, second, alice);
    expect((await later(`${second}/bff/user`)).status).toBe(200);
    expect((await later(`${first}/bff/user`)).status).toBe(200);
  });

  /** Every session and every index entry in Redis (`key` and `index member`). */
  const stored = async () => {
    const sessions = await admin.keys('gh:sess:*');
    const entries: string[] = [];
    for (const key of await admin.keys('gh:idx:*')) {
      for (const member of await admin.zrange(key, '0', '-1')) entries.push(`${key} ${member}`);
    }
    return { sessions: sessions.sort(), entries: entries.sort() };
  };

  it.each([
    ['the index writes (the session write taken)', 'eval'],
    ['the session write', 'set'],
  ])('Redis refusing %s: 503, no cookie, no session and no entry left', async (_what, command) => {
    const http = createCookieFetch();
    const start = await http(`${first}/bff/login`);
    const callbackUrl = await completeDevIdpLogin(http, start.headers.get('location') ?? '', alice);
    const before = await stored();
    // The callback's own refusal: the command denied to the user Gatehouse connects as.
    await admin.call('ACL', 'SETUSER', 'default', `-${command}`);
    let res: Response;
    try {
      res = await http(callbackUrl, { headers: { accept: 'application/json' } });
    } finally {
      await admin.call('ACL', 'SETUSER', 'default', '+@all');
    }
    expect(res.status).toBe(503);
    expect(((await res.json()) as { code?: string }).code).toBe('store_unavailable');
    expect(res.headers.getSetCookie().some((line) => line.startsWith('gatehouse='))).toBe(false);
    expect(await http.cookie(first, 'gatehouse')).toBeUndefined();
    // The failed sign-in's clean-up is not waited for by its answer.
    await expect.poll(stored, { timeout: 2000 }).toEqual(before);
  });
});
