import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieFetch, signIn, startStack, type Stack } from '@gatehouse/testkit';

const REFRESH_TTL_SECONDS = 400;

/**
 * The absolute timeout never outlives the refresh token: when the IdP says how long a refresh
 * token lives (`refresh_expires_in`, as Keycloak and the dev IdP do), the session ends with it,
 * and a rotation that brings a fresh refresh token moves that limit.
 */
describe('session life bounded by the refresh token', () => {
  let stack: Stack;
  let offsetMs = 0;
  const csrf = { 'x-csrf': '1' };

  beforeAll(async () => {
    stack = await startStack({
      devIdp: { accessTokenTtlSeconds: 300, refreshTokenTtlSeconds: REFRESH_TTL_SECONDS },
      deps: { clock: () => Date.now() + offsetMs },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const absoluteIn = async (http: ReturnType<typeof createCookieFetch>) => {
    const user = (await (await http(`${stack.origin}/bff/user?slide=false`)).json()) as {
      session: { absoluteExpiresAt: string };
    };
    return (Date.parse(user.session.absoluteExpiresAt) - (Date.now() + offsetMs)) / 1000;
  };

  it('ends when the refresh token dies, and moves with each rotation', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    const first = await absoluteIn(http);
    expect(first).toBeGreaterThan(REFRESH_TTL_SECONDS - 5);
    expect(first).toBeLessThanOrEqual(REFRESH_TTL_SECONDS);

    offsetMs = 301_000; // access token expired: the next call refreshes and rotates
    expect((await http(`${stack.origin}/api/demo/me`, { headers: csrf })).status).toBe(200);
    const afterRotation = await absoluteIn(http);
    expect(afterRotation).toBeGreaterThan(REFRESH_TTL_SECONDS - 5);

    offsetMs += (REFRESH_TTL_SECONDS - 10) * 1000;
    expect((await http(`${stack.origin}/bff/user?slide=false`)).status).toBe(200);
    offsetMs += 11_000;
    const res = await http(`${stack.origin}/bff/user`);
    expect(res.status).toBe(401);
    // The memory store drops the record at that instant itself, so the session is simply gone.
    expect(['session_expired', 'unauthenticated']).toContain(
      ((await res.json()) as { code: string }).code,
    );
  });
});
