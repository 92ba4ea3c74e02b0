import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import {
  createCookieFetch,
  signIn,
  startRedisCluster,
  startRedisServer,
  startStack,
  type ClusterTopology,
  type RedisServer,
  type Stack,
  type StackOptions,
} from '@gatehouse/testkit';
import { gatehouseInternals } from '@gatehouse/core/testing';
import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import type { ConfigInput } from '../src/index.ts';
import { createLogger } from '../src/index.ts';
import { ADMIN_TOKEN } from './support/admin.ts';
import { jsonLines } from './support/json-lines.ts';
import { scrape } from './support/scrape.ts';

type Limits = NonNullable<ConfigInput['rateLimits']>;

interface LogLine {
  level: number;
  msg: string;
  limit?: string;
  key?: string;
}

/** A stack with the rate limits on, set to `limits` (the others stay at their defaults). */
function limitedStack(
  redis: RedisServer,
  limits: Limits,
  options: Partial<StackOptions> & { trustProxy?: ConfigInput['trustProxy'] } = {},
): Promise<Stack> {
  const { trustProxy = 'loopback', ...rest } = options;
  return startStack({
    redis,
    rateLimits: true,
    metrics: true,
    configure: (input) => ({ ...input, trustProxy, adminToken: ADMIN_TOKEN, rateLimits: limits }),
    ...rest,
  });
}

const from = (ip: string) => ({ 'x-forwarded-for': ip });

async function loginStart(origin: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${origin}/bff/login?tenant=acme`, { redirect: 'manual', headers });
  const body = await res.text();
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body, res };
}

async function admin(origin: string, path: string, bearer: string, method = 'GET', body?: unknown) {
  const res = await fetch(`${origin}/admin/api${path}`, {
    method,
    headers: {
      authorization: `Bearer ${bearer}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function postLogoutToken(origin: string, tenant: string, provider: string) {
  const res = await fetch(`${origin}/bff/backchannel-logout/${tenant}/${provider}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: 'not-a-jwt' }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('rate limits (real Redis)', () => {
  let redis: RedisServer;
  let stack: Stack;
  const lines: LogLine[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await limitedStack(
      redis,
      {
        loginStart: { points: 3, durationSeconds: 60 },
        failedCallback: { points: 2, durationSeconds: 60 },
        adminApi: { points: 3, durationSeconds: 60 },
        providerTest: { points: 1, durationSeconds: 60 },
        backchannelLogout: { points: 2, durationSeconds: 60 },
      },
      { instances: 2, deps: { logger: createLogger('info', jsonLines(lines)) } },
    );
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  const one = () => stack.gatehouses[0]?.origin ?? '';
  const two = () => stack.gatehouses[1]?.origin ?? '';

  it('refuses login starts past the limit per client IP with 429 and Retry-After; another IP goes on', async () => {
    for (let i = 0; i < 3; i += 1) {
      expect((await loginStart(one(), from('203.0.113.7'))).status).toBe(302);
    }
    const refused = await loginStart(one(), from('203.0.113.7'));
    expect(refused.status).toBe(429);
    expect(refused.res.headers.get('content-type')).toContain('application/problem+json');
    expect(JSON.parse(refused.body)).toMatchObject({ status: 429, code: 'rate_limited' });
    const retryAfter = Number(refused.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // A browser navigation gets a page that says what to do.
    const page = await fetch(`${one()}/bff/login?tenant=acme`, {
      redirect: 'manual',
      headers: { ...from('203.0.113.7'), accept: 'text/html' },
    });
    expect(page.status).toBe(429);
    expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
    const html = await page.text();
    expect(html).toContain('Too many requests; wait a moment and try again.');
    expect(html).toContain(`Try again in ${page.headers.get('retry-after') ?? ''} seconds.`);
    // Another address behind the same trusted proxy is not limited.
    expect((await loginStart(one(), from('203.0.113.8'))).status).toBe(302);
    // The counter is in Redis under one Cluster hash tag.
    const client = new Redis(redis.url);
    try {
      expect(await client.get('gh:rl:login_start:{ip:203.0.113.7}')).toBe('5');
    } finally {
      client.disconnect();
    }
  });

  it('shares the counters between two instances on the same Redis', async () => {
    const ip = from('198.51.100.20');
    expect((await loginStart(one(), ip)).status).toBe(302);
    expect((await loginStart(two(), ip)).status).toBe(302);
    expect((await loginStart(one(), ip)).status).toBe(302);
    expect((await loginStart(two(), ip)).status).toBe(429);
    expect((await loginStart(one(), ip)).status).toBe(429);
  });

  it('logs a refused key once per window and counts every refusal in the metrics', async () => {
    const metricsOrigin = stack.gatehouses[0]?.metricsOrigin ?? '';
    const before = (await scrape(metricsOrigin)).sum('gatehouse_rate_limited_total', {
      limit: 'login_start',
    });
    const ip = from('198.51.100.30');
    for (let i = 0; i < 3; i += 1) await loginStart(one(), ip);
    for (let i = 0; i < 4; i += 1) expect((await loginStart(one(), ip)).status).toBe(429);
    const logged = lines.filter(
      (line) => line.msg === 'rate limit reached' && line.key === 'ip:198.51.100.30',
    );
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ limit: 'login_start', level: 40 });
    const after = (await scrape(metricsOrigin)).sum('gatehouse_rate_limited_total', {
      limit: 'login_start',
    });
    expect(after - before).toBe(4);
  });

  it('refuses every callback from an address after too many failed ones', async () => {
    const ip = from('192.0.2.44');
    const callback = () =>
      fetch(`${one()}/bff/callback/acme/dev?code=x&state=forged`, { headers: ip });
    expect((await callback()).status).toBe(400);
    expect((await callback()).status).toBe(400);
    const refused = await callback();
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { code: string }).code).toBe('rate_limited');
    // The refusal is the answer even to a callback that would have failed otherwise.
    const malformed = await fetch(`${one()}/bff/callback/acme/dev?state=a&state=b`, {
      headers: ip,
    });
    expect(malformed.status).toBe(429);
    // Another address still gets the ordinary answer.
    const other = await fetch(`${one()}/bff/callback/acme/dev?code=x&state=forged`, {
      headers: from('192.0.2.45'),
    });
    expect(other.status).toBe(400);
  });

  it('a callback refused by a limit uses its transaction up, as every other answer does', async () => {
    // A real sign-in up to the IdP's redirect back, started from an address of its own.
    const http = createCookieFetch();
    const start = await http(`${one()}/bff/login?tenant=acme`, { headers: from('192.0.2.60') });
    expect(start.status).toBe(302);
    const state = new URL(start.headers.get('location') ?? '').searchParams.get('state') ?? '';
    const callbackUrl = await completeDevIdpLogin(http, start.headers.get('location') ?? '', {
      login: 'alice',
      password: 'alice',
    });
    const admin = redis.client();
    try {
      expect(await admin.exists(`gh:tx:${state}`)).toBe(1);
      // Its callback arrives from an address past the failed-callback limit.
      const limited = from('192.0.2.61');
      const forged = `${one()}/bff/callback/acme/dev?code=x&state=forged`;
      for (let n = 0; n < 2; n += 1) {
        expect((await fetch(forged, { headers: limited })).status).toBe(400);
      }
      const refused = await http(callbackUrl, {
        headers: { ...limited, accept: 'application/json' },
      });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('set-cookie') ?? '').not.toMatch(/gatehouse/);
      // The take went with the limits: the transaction is gone, and the same callback from
      // an address under the limits is refused as spent, never completed.
      expect(await admin.exists(`gh:tx:${state}`)).toBe(0);
      const again = await http(callbackUrl, {
        headers: { ...from('192.0.2.62'), accept: 'application/json' },
      });
      expect(again.status).toBe(400);
      expect(((await again.json()) as { code: string }).code).toBe('login_transaction_invalid');
    } finally {
      admin.disconnect();
    }
  });

  it('limits the admin API per principal: the operator is refused, a tenant API key is not', async () => {
    const issued = await admin(one(), '/tenants/acme/api-keys', ADMIN_TOKEN, 'POST');
    expect(issued.status).toBe(201);
    const apiKey = String(issued.body.key);
    expect((await admin(one(), '/me', ADMIN_TOKEN)).status).toBe(200);
    expect((await admin(two(), '/me', ADMIN_TOKEN)).status).toBe(200);
    const refused = await admin(one(), '/me', ADMIN_TOKEN);
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('rate_limited');
    expect((await admin(one(), '/me', apiKey)).status).toBe(200);
  });

  it('limits provider tests per tenant', async () => {
    const key = await admin(one(), '/tenants/globex/api-keys', ADMIN_TOKEN, 'POST');
    // The operator's budget is spent (previous test): issue keys through the other principal.
    const globexKey =
      key.status === 201 ? String(key.body.key) : await issueWithFreshOperator('globex');
    const acmeKey = await issueWithFreshOperator('acme');
    const test = (tenant: string, bearer: string) =>
      admin(one(), `/tenants/${tenant}/providers/dev/test`, bearer, 'POST');
    expect((await test('globex', globexKey)).status).toBe(200);
    const refused = await test('globex', globexKey);
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('rate_limited');
    // Checking a candidate provider draws on the same budget: it reaches out to the IdP too.
    const candidate = {
      id: 'candidate',
      issuer: stack.idp.issuer('/globex'),
      clientId: 'gatehouse-globex',
      clientSecret: 'candidate-secret',
    };
    const checks = await admin(
      one(),
      '/tenants/globex/provider-checks',
      globexKey,
      'POST',
      candidate,
    );
    expect(checks.status).toBe(429);
    expect(checks.body.code).toBe('rate_limited');
    expect((await test('acme', acmeKey)).status).toBe(200);
  });

  /** A key issued straight through the registry (the operator's admin budget is used up). */
  async function issueWithFreshOperator(tenant: string): Promise<string> {
    const instance = stack.gatehouses[1];
    if (!instance) throw new Error('no instance');
    const { registry } = gatehouseInternals(instance.gatehouse);
    return (await registry.issueApiKey(tenant, 'rate-limit test')).key;
  }

  it('limits back-channel logouts per provider', async () => {
    expect(await postLogoutToken(one(), 'acme', 'dev')).toBe(400);
    expect(await postLogoutToken(two(), 'acme', 'dev')).toBe(400);
    expect(await postLogoutToken(one(), 'acme', 'dev')).toBe(429);
    // Another provider has its own budget.
    expect(await postLogoutToken(one(), 'globex', 'dev')).toBe(400);
  });
});

describe('rate limits behind no trusted proxy', () => {
  let redis: RedisServer;
  let stack: Stack;

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await limitedStack(
      redis,
      { loginStart: { points: 2, durationSeconds: 60 } },
      { trustProxy: false },
    );
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  it('an untrusted peer cannot pick a fresh address with X-Forwarded-For', async () => {
    expect((await loginStart(stack.origin)).status).toBe(302);
    expect((await loginStart(stack.origin, from('203.0.113.1'))).status).toBe(302);
    expect((await loginStart(stack.origin, from('203.0.113.2'))).status).toBe(429);
    expect((await loginStart(stack.origin, from('203.0.113.3, 10.0.0.1'))).status).toBe(429);
  });
});

describe('rate limits while Redis is down', () => {
  let redis: RedisServer;
  let stack: Stack;
  const lines: LogLine[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await limitedStack(
      redis,
      { adminApi: { points: 3, durationSeconds: 60 } },
      { deps: { logger: createLogger('info', jsonLines(lines)) } },
    );
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  const unavailable =
    'rate limits: shared counters unavailable; counting per instance until Redis answers';
  const back = 'rate limits: shared counters available again';

  it('counts per instance instead of locking anyone out, and says so once per outage', async () => {
    // The operator's `/me` needs no store: only the limiter talks to Redis here.
    expect((await admin(stack.origin, '/me', ADMIN_TOKEN)).status).toBe(200);
    expect((await admin(stack.origin, '/me', ADMIN_TOKEN)).status).toBe(200);
    await redis.kill();
    // Redis's count (2 of 3) is out of reach: the instance counts afresh, it does not refuse.
    expect((await admin(stack.origin, '/me', ADMIN_TOKEN)).status).toBe(200);
    expect((await admin(stack.origin, '/me', ADMIN_TOKEN)).status).toBe(200);
    expect((await admin(stack.origin, '/me', ADMIN_TOKEN)).status).toBe(200);
    // …within the same limits all the same.
    expect((await admin(stack.origin, '/me', ADMIN_TOKEN)).status).toBe(429);
    expect(lines.filter((line) => line.msg === unavailable)).toHaveLength(1);

    await redis.restart();
    // Redis is back (its data was not kept): the shared count starts again.
    await expect
      .poll(async () => (await admin(stack.origin, '/me', ADMIN_TOKEN)).status, {
        timeout: 15_000,
        interval: 200,
      })
      .toBe(200);
    expect(lines.filter((line) => line.msg === back)).toHaveLength(1);
    expect(lines.filter((line) => line.msg === unavailable)).toHaveLength(1);
  });
});

describe('a per-session limit on one API route (opt-in)', () => {
  let redis: RedisServer;
  let stack: Stack;
  const csrf = { 'x-csrf': '1' };

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({
      redis,
      configure: (input) => ({
        ...input,
        // Gateway mode (the test plays the gateway, from 127.0.0.1) shares the route's budget.
        gateway: { enabled: true },
        trustProxy: '127.0.0.1',
        routes: [
          ...(input.routes ?? []),
          {
            prefix: '/api/limited',
            upstream: input.routes?.[0]?.upstream ?? '',
            tokenMode: 'user',
            rateLimit: { points: 2, durationSeconds: 60 },
          },
        ],
      }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  it('limits each session on that route only; the other routes cost no extra Redis command', async () => {
    const alice = createCookieFetch();
    await signIn(alice, stack.origin, { login: 'alice', password: 'alice' });
    const bob = createCookieFetch();
    await signIn(bob, stack.origin, { login: 'bob', password: 'bob' });
    const call = (who: typeof alice, route: string) =>
      who(`${stack.origin}${route}/me`, { headers: csrf });

    expect((await call(alice, '/api/limited')).status).toBe(200);
    await redis.resetStats();
    expect((await call(alice, '/api/limited')).status).toBe(200);
    // The session read and the limiter's one script call (EVALSHA; commandstats also counts
    // the SET NX, INCRBY and PTTL it runs inside).
    expect(await redis.commandCounts()).toEqual({
      get: 1,
      evalsha: 1,
      set: 1,
      incrby: 1,
      pttl: 1,
    });

    const refused = await call(alice, '/api/limited');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await refused.json()) as { code: string }).code).toBe('rate_limited');
    // Bob's session has its own budget; alice's other routes are not limited.
    expect((await call(bob, '/api/limited')).status).toBe(200);
    await call(alice, '/api/demo'); // warm
    await redis.resetStats();
    for (let i = 0; i < 5; i += 1) expect((await call(alice, '/api/demo')).status).toBe(200);
    expect(await redis.commandCounts()).toEqual({ get: 5 });
  });

  it('counts gateway mode’s answers for that route against the same budget', async () => {
    const carol = createCookieFetch();
    await signIn(carol, stack.origin, { login: 'alice', password: 'alice' });
    const authz = () =>
      carol(`${stack.origin}/bff/authz?route=limited`, {
        headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/limited/me' },
      });
    expect((await authz()).status).toBe(200);
    // One call through /api, then the gateway again: the third call of the session is refused.
    expect((await carol(`${stack.origin}/api/limited/me`, { headers: csrf })).status).toBe(200);
    const refused = await authz();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(refused.headers.get('gatehouse-problem')).toBe('rate_limited');
    expect(refused.headers.get('authorization')).toBeNull();
    // A route without a limit costs the gateway no limiter command either.
    await redis.resetStats();
    const free = await carol(`${stack.origin}/bff/authz?route=demo`, {
      headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/demo/me' },
    });
    expect(free.status).toBe(200);
    expect(await redis.commandCounts()).toEqual({ get: 1 });
  });
});

describe('rate limits on a Redis Cluster', () => {
  let cluster: ClusterTopology;
  let stack: Stack;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    stack = await startStack({
      redis: cluster,
      instances: 2,
      rateLimits: true,
      configure: (input) => ({
        ...input,
        trustProxy: 'loopback',
        rateLimits: { loginStart: { points: 2, durationSeconds: 60 } },
      }),
    });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await cluster?.stop();
  });

  it('counts in one slot per key and shares the count between instances', async () => {
    const [one, two] = stack.gatehouses.map((g) => g.origin);
    const ip = from('203.0.113.90');
    expect((await loginStart(one ?? '', ip)).status).toBe(302);
    expect((await loginStart(two ?? '', ip)).status).toBe(302);
    expect((await loginStart(one ?? '', ip)).status).toBe(429);
    expect((await loginStart(two ?? '', from('203.0.113.91'))).status).toBe(302);
    const client = cluster.client();
    try {
      expect(await client.get('gh:rl:login_start:{ip:203.0.113.90}')).toBe('3');
    } finally {
      client.disconnect();
    }
  });
});
