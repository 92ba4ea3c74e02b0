import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  inspectSession,
  signIn,
  startStack,
  type CookieFetch,
  type Stack,
} from '@gatehouse/testkit';
import { gatehouseInternals } from '@gatehouse/core/testing';
import { pino } from 'pino';
import { ConfigError, createGatehouse, loadConfig } from '../src/index.ts';

/**
 * The test controls (`testControls`, development mode only): each acts on the caller's own
 * session, authenticated like any state-changing BFF call, and only brings an end or a failure
 * forward. Real dev IdP, real sign-ins through its pages.
 */
const csrf = { 'x-csrf': '1' };
const json = { ...csrf, 'content-type': 'application/json' };

interface ProblemBody {
  code?: string;
  errors?: Array<{ path: string }>;
}

async function newUser(stack: Stack, extra: Record<string, unknown> = {}) {
  const res = await fetch(`${stack.idp.origin}/__control/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ realm: '', ...extra }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { login: string; password: string; sub: string };
}

async function signedIn(stack: Stack, user?: { login: string; password: string }) {
  const http = createCookieFetch();
  await signIn(http, stack.origin, user ?? (await newUser(stack)), { tenant: 'acme' });
  return http;
}

async function control(
  stack: Stack,
  http: CookieFetch,
  name: string,
  body?: unknown,
): Promise<Response> {
  return http(`${stack.origin}/bff/test-controls/${name}`, {
    method: 'POST',
    headers: body === undefined ? csrf : json,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function status(http: CookieFetch, url: string, headers: Record<string, string> = csrf) {
  const res = await http(url, { headers });
  const body = (await res.json().catch((): unknown => ({}))) as ProblemBody;
  return { status: res.status, code: body.code, retryAfter: res.headers.get('retry-after') };
}

describe('test controls on (development mode, GATEHOUSE_TEST_CONTROLS=1)', () => {
  let stack: Stack;
  const refreshes = () => stack.idp.tokenEndpointCallsByGrantType('')['refresh_token'] ?? 0;

  beforeAll(async () => {
    stack = await startStack({
      devIdp: { controlApi: true },
      configure: (input) => ({ ...input, testControls: true }),
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('expireAccessToken: the next API call refreshes at the IdP, then none does', async () => {
    const http = await signedIn(stack);
    const api = `${stack.origin}/api/demo/me`;
    expect((await status(http, api)).status).toBe(200);
    const before = refreshes();
    const { tokens: oldTokens } = await inspectSession(stack, http);

    const res = await control(stack, http, 'expire-access-token');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accessTokenExpiresAt: 0 });

    expect((await status(http, api)).status).toBe(200);
    expect(refreshes()).toBe(before + 1);
    const { tokens, record } = await inspectSession(stack, http);
    expect(tokens.refreshToken).not.toBe(oldTokens.refreshToken);
    expect(record.accessTokenExpiresAtMs).toBeGreaterThan(Date.now());
    expect((await status(http, api)).status).toBe(200);
    expect(refreshes()).toBe(before + 1);
  });

  it('expireSession: the next request gets 401 session_expired; the same user’s other session is untouched', async () => {
    const user = await newUser(stack);
    const mine = await signedIn(stack, user);
    const other = await signedIn(stack, user);
    const res = await control(stack, mine, 'expire-session');
    expect(res.status).toBe(204);
    expect(await status(mine, `${stack.origin}/bff/user`)).toMatchObject({
      status: 401,
      code: 'session_expired',
    });
    // Ended for good, not only refused once.
    expect((await status(mine, `${stack.origin}/bff/user`)).status).toBe(401);
    expect((await status(other, `${stack.origin}/bff/user`)).status).toBe(200);
    expect((await status(other, `${stack.origin}/api/demo/me`)).status).toBe(200);
  });

  it('revokeAtIdp: the IdP itself refuses the next refresh (invalid_grant) and the session ends', async () => {
    const http = await signedIn(stack);
    const other = await signedIn(stack);
    const res = await control(stack, http, 'revoke-at-idp');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { revoked: string[] }).revoked).toContain('refresh_token');
    // The access token still counts until it expires: nothing else changed yet.
    expect((await status(http, `${stack.origin}/api/demo/me`)).status).toBe(200);

    const before = refreshes();
    expect((await control(stack, http, 'expire-access-token')).status).toBe(200);
    expect(await status(http, `${stack.origin}/api/demo/me`)).toMatchObject({
      status: 401,
      code: 'session_expired',
    });
    expect(refreshes()).toBe(before + 1);
    expect((await status(http, `${stack.origin}/bff/user`)).status).toBe(401);
    // Another user's grant was not touched.
    expect((await control(stack, other, 'expire-access-token')).status).toBe(200);
    expect((await status(other, `${stack.origin}/api/demo/me`)).status).toBe(200);
  });

  it('failIdp: refreshes of this session answer 502 idp_unavailable for that long, the session is kept, others refresh', async () => {
    const http = await signedIn(stack);
    const other = await signedIn(stack);
    const res = await control(stack, http, 'fail-idp', { ms: 1500 });
    expect(res.status).toBe(200);
    expect(Date.parse(((await res.json()) as { until: string }).until)).toBeGreaterThan(Date.now());
    const before = refreshes();
    expect((await control(stack, http, 'expire-access-token')).status).toBe(200);
    expect(await status(http, `${stack.origin}/api/demo/me`)).toMatchObject({
      status: 502,
      code: 'idp_unavailable',
    });
    expect(refreshes()).toBe(before); // Gatehouse did not even ask the IdP
    expect((await status(http, `${stack.origin}/bff/user`)).status).toBe(200);

    expect((await control(stack, other, 'expire-access-token')).status).toBe(200);
    expect((await status(other, `${stack.origin}/api/demo/me`)).status).toBe(200);

    // Once the outage is over, the next call refreshes for real.
    await expect
      .poll(async () => (await status(http, `${stack.origin}/api/demo/me`)).status, {
        timeout: 20_000,
        interval: 200,
      })
      .toBe(200);
  });

  it('failStore: this session gets 503 store_unavailable with Retry-After for that long, then all is back', async () => {
    const http = await signedIn(stack);
    const other = await signedIn(stack);
    expect((await control(stack, http, 'fail-store', { ms: 1500 })).status).toBe(200);
    for (const url of ['/bff/user', '/api/demo/me', '/bff/sessions']) {
      expect(await status(http, `${stack.origin}${url}`)).toMatchObject({
        status: 503,
        code: 'store_unavailable',
        retryAfter: '5',
      });
    }
    const logout = await http(`${stack.origin}/bff/logout`, { method: 'POST', headers: csrf });
    expect(logout.status).toBe(503); // a store outage is never a sign-out
    expect((await status(other, `${stack.origin}/bff/user`)).status).toBe(200);
    await expect
      .poll(async () => (await status(http, `${stack.origin}/bff/user`)).status, {
        timeout: 20_000,
        interval: 200,
      })
      .toBe(200);
    expect((await status(http, `${stack.origin}/api/demo/me`)).status).toBe(200);
  });

  it('needs a session, X-CSRF and no foreign origin; never takes a session from the request', async () => {
    const anonymous = createCookieFetch();
    expect(await (await control(stack, anonymous, 'expire-session')).json()).toMatchObject({
      code: 'unauthenticated',
    });
    const http = await signedIn(stack);
    const noCsrf = await http(`${stack.origin}/bff/test-controls/expire-session`, {
      method: 'POST',
    });
    expect(noCsrf.status).toBe(403);
    expect(((await noCsrf.json()) as ProblemBody).code).toBe('csrf_header_required');
    const foreign = await http(`${stack.origin}/bff/test-controls/expire-session`, {
      method: 'POST',
      headers: { ...csrf, origin: 'https://evil.example' },
    });
    expect(((await foreign.json()) as ProblemBody).code).toBe('foreign_origin');
    const crossSite = await http(`${stack.origin}/bff/test-controls/expire-session`, {
      method: 'POST',
      headers: { ...csrf, 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);

    // A forged or foreign session id in a cookie is no session.
    const forged = createCookieFetch();
    const res = await forged(`${stack.origin}/bff/test-controls/expire-session`, {
      method: 'POST',
      headers: { ...csrf, cookie: 'gatehouse=s%3Aforged.sig' },
    });
    expect(res.status).toBe(401);

    // Naming another session (or anything else) in the body is refused.
    const victim = await signedIn(stack);
    const { sid } = await inspectSession(stack, victim);
    const named = await control(stack, http, 'fail-store', { ms: 1000, sid });
    expect(named.status).toBe(422);
    expect(((await named.json()) as ProblemBody).errors?.[0]?.path).toBe('sid');
    expect((await status(victim, `${stack.origin}/bff/user`)).status).toBe(200);
    expect((await status(http, `${stack.origin}/bff/user`)).status).toBe(200);
  });

  it('answers hostile input with problem+json, never a 500, and changes nothing', async () => {
    const http = await signedIn(stack);
    const cases: Array<{ name: string; init: RequestInit; status: number; code: string }> = [
      {
        name: 'fail-idp',
        init: { headers: json, body: '{"ms":' },
        status: 400,
        code: 'entity_parse_failed',
      },
      { name: 'fail-idp', init: { headers: csrf }, status: 415, code: 'unsupported_media_type' },
      {
        name: 'fail-store',
        init: { headers: { ...csrf, 'content-type': 'text/plain' }, body: 'ms=5' },
        status: 415,
        code: 'unsupported_media_type',
      },
      ...[-1, 0, 1.5, 600_001, 1e308, '100', null, [100]].map((ms) => ({
        name: 'fail-store',
        init: { headers: json, body: JSON.stringify({ ms }) },
        status: 422,
        code: 'validation_failed',
      })),
      {
        name: 'fail-idp',
        init: { headers: json, body: '[]' },
        status: 422,
        code: 'validation_failed',
      },
      {
        name: 'fail-idp',
        init: { headers: json, body: '{"__proto__":{"ms":5},"ms":5}' },
        status: 422,
        code: 'validation_failed',
      },
      {
        name: 'fail-idp',
        init: { headers: json, body: JSON.stringify({ ms: 5, pad: 'x'.repeat(4000) }) },
        status: 413,
        code: 'entity_too_large',
      },
      { name: 'nope', init: { headers: csrf }, status: 404, code: 'not_found' },
      { name: '..%2Fexpire-session', init: { headers: csrf }, status: 404, code: 'not_found' },
    ];
    for (const { name, init, status: expected, code } of cases) {
      const res = await http(`${stack.origin}/bff/test-controls/${name}`, {
        method: 'POST',
        ...init,
      });
      const body = (await res.json()) as ProblemBody;
      expect({ name, body: init.body, status: res.status, code: body.code }).toEqual({
        name,
        body: init.body,
        status: expected,
        code,
      });
    }
    const get = await http(`${stack.origin}/bff/test-controls/expire-session`, { headers: csrf });
    expect(get.status).toBe(405);
    expect((await status(http, `${stack.origin}/bff/user`)).status).toBe(200);
    expect((await status(http, `${stack.origin}/api/demo/me`)).status).toBe(200);
  });
});

describe('test controls off', () => {
  it('development mode without them: every control answers 404 test_controls_disabled', async () => {
    const stack = await startStack({ devIdp: { controlApi: true } });
    try {
      const http = await signedIn(stack);
      for (const name of ['expire-session', 'expire-access-token', 'fail-store', 'nope']) {
        const res = await control(stack, http, name, name === 'fail-store' ? { ms: 5 } : undefined);
        expect(res.status).toBe(404);
        const body = (await res.json()) as ProblemBody & { detail?: string };
        expect(body.code).toBe('test_controls_disabled');
        expect(body.detail).toContain('GATEHOUSE_TEST_CONTROLS=1');
      }
      expect((await status(http, `${stack.origin}/bff/user`)).status).toBe(200);
    } finally {
      await stack.close();
    }
  });

  it('production mode refuses to load a config with them, from the environment or the file', () => {
    const env = {
      GATEHOUSE_MODE: 'production',
      PUBLIC_URL: 'https://app.example.com',
      REDIS_URL: 'redis://127.0.0.1:6399',
      SESSION_SECRET: 'a9f3c1e07b5d4e2f8a6c0b1d3e5f7a9c',
      GATEHOUSE_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 3).toString('base64url')}`,
    };
    expect(() => loadConfig({ env })).not.toThrow();
    for (const options of [
      { env: { ...env, GATEHOUSE_TEST_CONTROLS: '1' } },
      { env: { ...env, GATEHOUSE_TEST_CONTROLS: 'true' } },
      {
        env,
        input: { mode: 'production' as const, publicUrl: env.PUBLIC_URL, testControls: true },
      },
    ]) {
      let error: unknown;
      try {
        loadConfig(options);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toContain(
        'testControls: test controls (GATEHOUSE_TEST_CONTROLS) are never allowed in production mode',
      );
    }
    expect(() => loadConfig({ env: { ...env, GATEHOUSE_TEST_CONTROLS: 'yes' } })).toThrow(
      'GATEHOUSE_TEST_CONTROLS: must be 1 or 0',
    );
    // Development: on with a warning; off unless asked.
    const dev = { GATEHOUSE_MODE: 'development' };
    expect(loadConfig({ env: dev }).config.testControls).toBe(false);
    const on = loadConfig({ env: { ...dev, GATEHOUSE_TEST_CONTROLS: '1' } });
    expect(on.config.testControls).toBe(true);
    expect(on.warnings.join('\n')).toContain('test controls are on');
  });

  it('a production-mode instance mounts nothing, even if handed a config that slipped past the loader', async () => {
    const { config } = loadConfig({
      env: { GATEHOUSE_MODE: 'development', GATEHOUSE_TEST_CONTROLS: '1' },
    });
    const gatehouse = createGatehouse(
      { ...config, mode: 'production', devIdpOrigins: [], testControls: true },
      { logger: pino({ level: 'silent' }) },
    );
    const server = await gatehouse.listen(0, '127.0.0.1');
    try {
      const { port } = server.address() as { port: number };
      const res = await fetch(`http://127.0.0.1:${port}/bff/test-controls/expire-session`, {
        method: 'POST',
        headers: csrf,
      });
      expect(res.status).toBe(404);
      expect(((await res.json()) as ProblemBody).code).toBe('not_found');
      expect(gatehouseInternals(gatehouse).testControls).toBeUndefined();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gatehouse.close();
    }
  });
});
