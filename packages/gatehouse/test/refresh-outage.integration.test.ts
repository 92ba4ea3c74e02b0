import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  inspectSession,
  signIn,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';

/**
 * A refresh whose write cannot reach Redis: the dev IdP rotates refresh tokens and revokes the
 * whole grant when one is used twice, so losing the rotated token — or refreshing again with the
 * old one — would end the session. Redis dies while the token request is in flight.
 */
describe('refresh during a Redis outage', () => {
  let redis: RedisServer;
  let stack: Stack;
  let offsetMs = 0;
  const csrf = { 'x-csrf': '1' };
  const clock = () => Date.now() + offsetMs;

  beforeAll(async () => {
    redis = await startRedisServer({ appendOnly: true });
    stack = await startStack({
      redis,
      devIdp: { accessTokenTtlSeconds: 300 },
      deps: { clock },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  const refreshGrants = () => stack.idp.tokenEndpointCallsByGrantType('')['refresh_token'] ?? 0;

  it('keeps the rotated refresh token in memory, uses it, and stores it when Redis is back', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    const before = await inspectSession(stack, http);
    const grants = refreshGrants();
    const tokenRequests = stack.idp.tokenEndpointCalls('');
    const call = async () => {
      const res = await http(`${stack.origin}/api/demo/me`, { headers: csrf });
      return { status: res.status, body: (await res.json()) as { code?: string } };
    };

    offsetMs = 301_000; // the access token (300 s) has expired for Gatehouse
    stack.idp.setTokenEndpointDelay(800);
    const admin = redis.client();
    try {
      const refreshing = call();
      await expect
        .poll(() => stack.idp.tokenEndpointCalls(''), { interval: 10 })
        .toBe(tokenRequests + 1);
      // Another instance takes over the session's lock meanwhile: the kept write must wait for
      // it, so the store still holds the old tokens after Redis is back.
      await admin.set(`gh:lock:{${before.sid}}`, 'another-instance', 'PX', 60_000);
      admin.disconnect();
      await redis.kill();
      // The IdP answered with a rotated refresh token; the write failed; the call goes on.
      expect(await refreshing).toMatchObject({ status: 200 });
      expect(await call()).toMatchObject({ status: 503, body: { code: 'store_unavailable' } });
    } finally {
      stack.idp.setTokenEndpointDelay(0);
      await redis.restart();
    }

    // The store still has the old (already used) refresh token; this process uses what it kept
    // instead of refreshing again with it.
    expect((await inspectSession(stack, http)).tokens.refreshToken).toBe(
      before.tokens.refreshToken,
    );
    for (let i = 0; i < 3; i += 1) expect((await call()).status).toBe(200);
    expect(refreshGrants() - grants).toBe(1);

    // The other instance lets go: the kept write lands.
    const client = redis.client();
    await client.del(`gh:lock:{${before.sid}}`);
    client.disconnect();
    await expect
      .poll(async () => (await inspectSession(stack, http)).tokens.refreshToken, {
        timeout: 10_000,
      })
      .not.toBe(before.tokens.refreshToken);

    // The next expiry refreshes with the stored (rotated) token: no invalid_grant, no sign-out.
    offsetMs = 602_000;
    expect(await call()).toMatchObject({ status: 200 });
    expect(refreshGrants() - grants).toBe(2);
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
  });

  it('survives a Redis frozen during the write: no second refresh, no invalid_grant', async () => {
    offsetMs = 0;
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
    const before = await inspectSession(stack, http);
    const grants = refreshGrants();
    const tokenRequests = stack.idp.tokenEndpointCalls('');
    const call = async () => {
      const res = await http(`${stack.origin}/api/demo/me`, { headers: csrf });
      await res.arrayBuffer();
      return res.status;
    };

    offsetMs = 301_000;
    stack.idp.setTokenEndpointDelay(500);
    try {
      const refreshing = call();
      await expect
        .poll(() => stack.idp.tokenEndpointCalls(''), { interval: 10 })
        .toBe(tokenRequests + 1);
      redis.pause();
      // The write times out (it would run when Redis resumes); the call goes on with the token.
      expect(await refreshing).toBe(200);
    } finally {
      stack.idp.setTokenEndpointDelay(0);
      redis.resume();
    }
    for (let i = 0; i < 3; i += 1) expect(await call()).toBe(200);
    expect(refreshGrants() - grants).toBe(1);
    await expect
      .poll(async () => (await inspectSession(stack, http)).tokens.refreshToken, {
        timeout: 10_000,
      })
      .not.toBe(before.tokens.refreshToken);
    offsetMs = 602_000;
    expect(await call()).toBe(200);
    expect(refreshGrants() - grants).toBe(2);
  });
});
