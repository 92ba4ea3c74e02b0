import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { ADMIN_TOKEN, withAdminToken } from './support/admin.ts';

const IDLE_SECONDS = 600;
const ABSOLUTE_SECONDS = 900;
/** Gatehouse slides at most once per min(5 min, idle / 6) = 100 s here. */
const SLIDE_SECONDS = IDLE_SECONDS / 6;

/**
 * Idle (sliding) and absolute timeouts with a controllable clock, and the Redis write budget of
 * sliding: requests inside the slide interval write nothing; the first one after it writes the
 * session once (under the session lock).
 */
describe('session timeouts', () => {
  let redis: RedisServer;
  let stack: Stack;
  let offsetMs = 0;
  const csrf = { 'x-csrf': '1' };
  const advance = (seconds: number) => {
    offsetMs += seconds * 1000;
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({
      redis,
      // Access tokens outlive the test's clock jumps, so no refresh muddies the write counts.
      devIdp: { accessTokenTtlSeconds: 3600 },
      deps: { clock: () => Date.now() + offsetMs },
      extraCallbacks: [{ realm: '', tenant: 'initech', provider: 'main' }],
      configure: (input) => ({
        ...withAdminToken(input),
        // globex keeps its own, shorter limits.
        tenants: input.tenants?.map((tenant) =>
          tenant.id === 'globex'
            ? { ...tenant, session: { idleTimeoutSeconds: 120, absoluteTimeoutSeconds: 300 } }
            : tenant,
        ),
        session: {
          secrets: ['unused-overridden-by-env-000000000000'],
          idleTimeoutSeconds: IDLE_SECONDS,
          absoluteTimeoutSeconds: ABSOLUTE_SECONDS,
        },
      }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  async function freshSession(): Promise<CookieFetch> {
    offsetMs = 0;
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    return http;
  }

  const writes = (counts: Record<string, number>) =>
    Object.fromEntries(Object.entries(counts).filter(([command]) => command !== 'get'));

  it('writes nothing inside the slide interval and once after it', async () => {
    const http = await freshSession();
    await http(`${stack.origin}/api/demo/me`, { headers: csrf });
    await redis.resetStats();
    for (let i = 0; i < 10; i += 1) {
      advance((SLIDE_SECONDS - 5) / 10);
      expect((await http(`${stack.origin}/api/demo/me`, { headers: csrf })).status).toBe(200);
    }
    expect(await redis.commandCounts()).toEqual({ get: 10 });

    advance(10); // past the slide interval
    await redis.resetStats();
    expect((await http(`${stack.origin}/api/demo/me`, { headers: csrf })).status).toBe(200);
    // Lock (SET NX), re-read (GET), the one session write — a SET XX, which writes only if the
    // session still exists — and the lock release (a script whose compare-and-DEL counts too).
    expect(writes(await redis.commandCounts())).toEqual({ set: 2, eval: 1, del: 1 });

    await redis.resetStats();
    for (let i = 0; i < 5; i += 1) await http(`${stack.origin}/bff/user`);
    expect(writes(await redis.commandCounts())).toEqual({});
  });

  it('`?slide=false` checks without extending', async () => {
    const http = await freshSession();
    advance(SLIDE_SECONDS + 1);
    await redis.resetStats();
    const checked = (await (await http(`${stack.origin}/bff/user?slide=false`)).json()) as {
      session: { idleExpiresAt: string };
    };
    expect(writes(await redis.commandCounts())).toEqual({});
    const slid = (await (await http(`${stack.origin}/bff/user`)).json()) as {
      session: { idleExpiresAt: string };
    };
    expect(Date.parse(slid.session.idleExpiresAt)).toBeGreaterThan(
      Date.parse(checked.session.idleExpiresAt),
    );
  });

  it('ends an idle session with 401 session_expired', async () => {
    const http = await freshSession();
    advance(IDLE_SECONDS - 1);
    expect((await http(`${stack.origin}/bff/user?slide=false`)).status).toBe(200);
    advance(2);
    const expired = await http(`${stack.origin}/api/demo/me`, { headers: csrf });
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as { code: string }).code).toBe('session_expired');
    // It is gone, not just refused.
    const after = await http(`${stack.origin}/bff/user`);
    expect(((await after.json()) as { code: string }).code).toBe('unauthenticated');
  });

  it('ends an active session at the absolute limit however often it slides', async () => {
    const http = await freshSession();
    for (
      let elapsed = 0;
      elapsed < ABSOLUTE_SECONDS - SLIDE_SECONDS;
      elapsed += SLIDE_SECONDS + 1
    ) {
      advance(SLIDE_SECONDS + 1);
      expect((await http(`${stack.origin}/api/demo/me`, { headers: csrf })).status).toBe(200);
    }
    const user = (await (await http(`${stack.origin}/bff/user`)).json()) as {
      session: { expiresAt: string; absoluteExpiresAt: string };
    };
    expect(user.session.expiresAt).toBe(user.session.absoluteExpiresAt);
    offsetMs = ABSOLUTE_SECONDS * 1000 + 1000;
    const res = await http(`${stack.origin}/bff/user`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe('session_expired');
  });

  it('applies a tenant’s own idle and absolute timeouts', async () => {
    offsetMs = 0;
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'carol', password: 'carol' }, { tenant: 'globex' });
    const cookie = (await http.jar.getCookies(stack.origin)).find((c) => c.key === 'gatehouse');
    const user = (await (await http(`${stack.origin}/bff/user?slide=false`)).json()) as {
      tenant: string;
      session: { idleExpiresAt: string; absoluteExpiresAt: string };
    };
    expect(user.tenant).toBe('globex');
    expect(Date.parse(user.session.idleExpiresAt) - Date.now()).toBeLessThanOrEqual(120_000);
    expect(Date.parse(user.session.absoluteExpiresAt) - Date.now()).toBeLessThanOrEqual(300_000);
    // The cookie lives as long as the tenant's absolute limit, not the deployment's.
    expect(Number(cookie?.TTL())).toBeLessThanOrEqual(300_000);
    advance(121); // idle for longer than globex allows, far less than the deployment's 600 s
    const res = await http(`${stack.origin}/bff/user`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe('session_expired');
  });

  it('applies the timeouts of a tenant created through the admin API', async () => {
    offsetMs = 0;
    const admin = (method: string, path: string, body: unknown) =>
      fetch(`${stack.origin}/admin/api${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const created = await admin('POST', '/tenants', {
      id: 'initech',
      name: 'Initech',
      session: { idleTimeoutSeconds: 120, absoluteTimeoutSeconds: 300 },
    });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { tenant: { session: unknown } }).tenant.session).toEqual({
      idleTimeoutSeconds: 120,
      absoluteTimeoutSeconds: 300,
    });
    expect(
      (
        await admin('POST', '/tenants', {
          id: 'bad',
          name: 'Bad',
          session: { idleTimeoutSeconds: 5 },
        })
      ).status,
    ).toBe(422);
    const provider = await admin('POST', '/tenants/initech/providers', {
      id: 'main',
      issuer: stack.idp.issuer(''),
      clientId: 'gatehouse-acme',
      clientSecret: 'dev-only-acme-secret',
      authorizationParams: { prompt: 'consent' },
    });
    expect(provider.status).toBe(201);

    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' }, { tenant: 'initech' });
    const user = (await (await http(`${stack.origin}/bff/user?slide=false`)).json()) as {
      tenant: string;
      session: { idleExpiresAt: string; absoluteExpiresAt: string };
    };
    expect(user.tenant).toBe('initech');
    expect(Date.parse(user.session.idleExpiresAt) - Date.now()).toBeLessThanOrEqual(120_000);
    expect(Date.parse(user.session.absoluteExpiresAt) - Date.now()).toBeLessThanOrEqual(300_000);
    advance(121);
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(401);
  });
});
