// A `tokenMode: 'gatehouse'` route whose session's claims are sealed under an encryption key that
// is no longer configured (retired after a rotation): the Gatehouse-signed token cannot be made
// of them, so the session ends with 401 `session_expired`, as it does on every other route —
// never a 500. A real sign-in on one instance, the call on a second instance (same Redis, same
// cookie secret) whose only encryption key is a newer one.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { startBesideStack, type BesideInstance } from './support/beside-stack.ts';

let redis: RedisServer;
let stack: Stack;
let retired: BesideInstance;

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startStack({ redis });
  // The stack's instance seals under `test1`; this one knows only `k2` (test1 retired).
  retired = await startBesideStack(stack, redis, {
    GATEHOUSE_ENCRYPTION_KEYS: `k2:${randomBytes(32).toString('base64url')}`,
  });
}, 60_000);

afterAll(async () => {
  await retired?.close();
  await stack?.close();
  await redis?.stop();
});

describe('a gatehouse-mode route and claims sealed under a retired key', () => {
  it('ends the session with 401 session_expired, not a 500', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    const csrf = { 'x-csrf': '1' };
    expect((await http(`${stack.origin}/api/demo-gh/me`, { headers: csrf })).status).toBe(200);

    const refused = await http(`${retired.origin}/api/demo-gh/me`, { headers: csrf });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await refused.json()) as { code?: string }).code).toBe('session_expired');
    // The session has ended for the whole fleet: the instance that sealed it knows it no more.
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(401);
    const client = redis.client();
    try {
      expect(await client.keys('gh:sess:*')).toEqual([]);
    } finally {
      client.disconnect();
    }
  });
});
