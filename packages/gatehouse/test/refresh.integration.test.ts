import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  callIdpAsClient,
  inspectSession,
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';

/**
 * Rotation-safe refresh across instances: two Gatehouse instances share one real Redis; the
 * dev IdP rotates refresh tokens and revokes the whole grant when one is reused, so a second
 * refresh with the same token would end the session and fail calls.
 */
describe('token refresh across two instances', () => {
  let redis: RedisServer;
  let stack: Stack;
  let offsetMs = 0;
  const csrf = { 'x-csrf': '1' };
  const clock = () => Date.now() + offsetMs;

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({
      redis,
      instances: 2,
      devIdp: { controlApi: true, accessTokenTtlSeconds: 300 },
      // A short lease so that a slow token endpoint outlives it many times over.
      deps: { clock, lockLeaseMs: 300 },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  const refreshCalls = () => stack.idp.tokenEndpointCallsByGrantType('')['refresh_token'] ?? 0;

  async function signedIn(login = 'alice'): Promise<CookieFetch> {
    offsetMs = 0;
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login, password: login });
    return http;
  }

  /** 50 concurrent calls, alternating between the instances (the jar's cookie fits both). */
  async function burst(http: CookieFetch, count = 50): Promise<number[]> {
    return Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const origin = stack.gatehouses[i % 2]!.origin;
        const res = await http(`${origin}/api/demo/me`, { headers: csrf });
        await res.arrayBuffer();
        return res.status;
      }),
    );
  }

  it('refreshes an expired access token exactly once for 50 concurrent calls on two instances', async () => {
    const http = await signedIn();
    const before = refreshCalls();
    offsetMs = 301_000; // the access token (300 s) has expired for Gatehouse
    const statuses = await burst(http);
    expect(statuses).toEqual(Array(50).fill(200));
    expect(refreshCalls() - before).toBe(1);
    // And the new token is used from then on without refreshing again.
    expect(await burst(http, 10)).toEqual(Array(10).fill(200));
    expect(refreshCalls() - before).toBe(1);
  });

  it('still refreshes exactly once when the token endpoint is slower than the lock lease', async () => {
    const http = await signedIn();
    const before = refreshCalls();
    offsetMs = 301_000;
    stack.idp.setTokenEndpointDelay(1500); // five leases of 300 ms
    try {
      const statuses = await burst(http);
      expect(statuses).toEqual(Array(50).fill(200));
    } finally {
      stack.idp.setTokenEndpointDelay(0);
    }
    expect(refreshCalls() - before).toBe(1);
  });

  it('a logout during a slow refresh stays a logout: the refresh cannot bring the session back', async () => {
    const http = await signedIn('bob');
    const cookie = (await http.jar.getCookieString(stack.origin)) ?? '';
    offsetMs = 301_000;
    stack.idp.setTokenEndpointDelay(1000);
    try {
      const inFlight = http(`${stack.gatehouses[0]!.origin}/api/demo/me`, { headers: csrf });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const logout = await http(`${stack.gatehouses[1]!.origin}/bff/logout`, {
        method: 'POST',
        headers: csrf,
      });
      expect(logout.status).toBe(303);
      const refreshed = await inFlight;
      expect(refreshed.status).toBe(401);
    } finally {
      stack.idp.setTokenEndpointDelay(0);
    }
    for (const { origin } of stack.gatehouses) {
      expect((await fetch(`${origin}/bff/user`, { headers: { cookie } })).status).toBe(401);
    }
  });

  it('ends the session with 401 session_expired when the refresh token is dead (invalid_grant)', async () => {
    const http = await signedIn('bob');
    const { refreshToken } = (await inspectSession(stack, http)).tokens;
    expect((await callIdpAsClient(stack, 'revocation_endpoint', refreshToken ?? '')).status).toBe(
      200,
    );
    offsetMs = 301_000;
    const res = await http(`${stack.gatehouses[1]!.origin}/api/demo/me`, { headers: csrf });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe('session_expired');
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(401);
  });

  it('keeps the session and answers 502 when the IdP is unreachable', async () => {
    const http = await signedIn();
    offsetMs = 301_000;
    await stack.idp.close();
    const res = await http(`${stack.origin}/api/demo/me`, { headers: csrf });
    expect(res.status).toBe(502);
    expect(((await res.json()) as { code: string }).code).toBe('idp_unavailable');
    const user = await http(`${stack.origin}/bff/user?slide=false`);
    expect(user.status).toBe(200);
  });
});
