import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  callIdpAsClient,
  createCookieFetch,
  inspectSession,
  signIn,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';

/**
 * The foundation flow over real HTTP with a cookie jar, against the real dev IdP, demo API and
 * redis-server: login → callback → /bff/user → proxied calls → logout → old cookie dead →
 * refresh token inactive at the IdP.
 */
describe('sign in, call the API, sign out (Redis)', () => {
  let redis: RedisServer;
  let stack: Stack;

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({ redis, devIdp: { controlApi: true } });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  const csrf = { 'x-csrf': '1' };

  it('signs alice in and lands on the validated returnTo', async () => {
    const http = createCookieFetch();
    const target = await signIn(
      http,
      stack.origin,
      { login: 'alice', password: 'alice' },
      { returnTo: '/notes?x=1#top' },
    );
    expect(target).toBe('/notes?x=1#top');

    const cookie = await http.cookie(stack.origin, 'gatehouse');
    expect(cookie).toBeDefined();
    const setCookie = (await http.jar.getCookies(stack.origin)).find((c) => c.key === 'gatehouse');
    expect(setCookie?.httpOnly).toBe(true);
    expect(setCookie?.sameSite).toBe('strict');
    expect(setCookie?.path).toBe('/');

    const user = await http(`${stack.origin}/bff/user`);
    expect(user.status).toBe(200);
    const body = (await user.json()) as {
      claims: Record<string, unknown>;
      tenant: string;
      provider: string;
      session: { expiresAt: string };
    };
    expect(body.claims).toMatchObject({
      sub: 'alice',
      name: 'Alice Anderson',
      email: 'alice@acme.test',
    });
    expect(body.tenant).toBe('acme');
    expect(body.provider).toBe('dev');
    expect(Date.parse(body.session.expiresAt)).toBeGreaterThan(Date.now());
    const text = JSON.stringify(body);
    expect(text).not.toMatch(/eyJ[\w-]+\.[\w-]+/); // no JWT of any kind
    expect(body.claims).not.toHaveProperty('nonce');
  });

  it('proxies GET, POST with a body and an SSE stream with the access token attached', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' });

    const me = await http(`${stack.origin}/api/demo/me`, { headers: csrf });
    expect(me.status).toBe(200);
    const claims = (await me.json()) as { sub: string; claims: { aud: string } };
    expect(claims.sub).toBe('bob');
    expect(claims.claims.aud).toBe('urn:gatehouse:demo-api');

    const created = await http(`${stack.origin}/api/demo/notes`, {
      method: 'POST',
      headers: { ...csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'hello through the proxy' }),
    });
    expect(created.status).toBe(201);
    const note = (await created.json()) as { id: string; text: string };
    expect(note.text).toBe('hello through the proxy');

    const updated = await http(`${stack.origin}/api/demo/notes/${note.id}`, {
      method: 'PUT',
      headers: { ...csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'changed' }),
    });
    expect(updated.status).toBe(200);
    const list = (await (
      await http(`${stack.origin}/api/demo/notes`, { headers: csrf })
    ).json()) as { notes: Array<{ text: string }> };
    expect(list.notes.map((n) => n.text)).toEqual(['changed']);
    expect(
      (await http(`${stack.origin}/api/demo/notes/${note.id}`, { method: 'DELETE', headers: csrf }))
        .status,
    ).toBe(204);

    const events = await http(`${stack.origin}/api/demo/events?count=3&intervalMs=20`, {
      headers: csrf,
    });
    expect(events.status).toBe(200);
    expect(events.headers.get('content-type')).toContain('text/event-stream');
    const stream = await events.text();
    expect(stream.match(/^event: tick$/gm)).toHaveLength(3);
  });

  it('logs out: the old cookie gets 401 and the refresh token is inactive at the IdP', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    const oldCookie = `gatehouse=${await http.cookie(stack.origin, 'gatehouse')}`;
    const { refreshToken } = (await inspectSession(stack, http)).tokens;
    const introspect = async () =>
      (
        (await (
          await callIdpAsClient(stack, 'introspection_endpoint', refreshToken ?? '')
        ).json()) as { active: boolean }
      ).active;
    expect(await introspect()).toBe(true);
    // Sealed at rest: no token value appears anywhere in Redis.
    const raw = redis.client();
    try {
      const values = await Promise.all(
        (await raw.keys('*')).map(async (key) =>
          (await raw.type(key)) === 'string' ? raw.get(key) : '',
        ),
      );
      const dump = values.join('\n');
      const { accessToken, idToken } = (await inspectSession(stack, http)).tokens;
      for (const token of [accessToken, refreshToken ?? 'missing', idToken ?? 'missing'])
        expect(dump.includes(token)).toBe(false);
    } finally {
      raw.disconnect();
    }

    const noCsrf = await http(`${stack.origin}/bff/logout`, { method: 'POST' });
    expect(noCsrf.status).toBe(403);

    const logout = await http(`${stack.origin}/bff/logout`, { method: 'POST', headers: csrf });
    expect(logout.status).toBe(303);
    expect(await logout.text()).toBe('');
    const end = new URL(logout.headers.get('location') ?? '');
    expect(end.origin).toBe(stack.idp.origin);
    expect(end.searchParams.get('post_logout_redirect_uri')).toBe(`${stack.origin}/bff/signed-out`);
    expect(end.searchParams.get('state')).toBeTruthy();
    expect(end.searchParams.get('id_token_hint')).toMatch(/^eyJ/);

    const replay = await fetch(`${stack.origin}/bff/user`, { headers: { cookie: oldCookie } });
    expect(replay.status).toBe(401);
    const apiReplay = await fetch(`${stack.origin}/api/demo/me`, {
      headers: { cookie: oldCookie, ...csrf },
    });
    expect(apiReplay.status).toBe(401);
    expect(apiReplay.headers.get('content-type')).toContain('application/problem+json');

    expect(await introspect()).toBe(false);
  });

  it('refuses API calls without the CSRF header or from a foreign origin', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    const missing = await http(`${stack.origin}/api/demo/me`);
    expect(missing.status).toBe(403);
    expect(((await missing.json()) as { code: string }).code).toBe('csrf_header_required');
    const foreign = await http(`${stack.origin}/api/demo/me`, {
      headers: { ...csrf, origin: 'https://evil.example' },
    });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { code: string }).code).toBe('foreign_origin');
    const crossSite = await http(`${stack.origin}/api/demo/me`, {
      headers: { ...csrf, 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);
    const sameOrigin = await http(`${stack.origin}/api/demo/me`, {
      headers: { ...csrf, origin: stack.origin },
    });
    expect(sameOrigin.status).toBe(200);
  });

  it('costs one Redis read and no write per proxied request at steady state', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
    await http(`${stack.origin}/api/demo/me`, { headers: csrf }); // warm: discovery, JWKS, pools
    await redis.resetStats();
    const rounds = 10;
    for (let i = 0; i < rounds; i += 1) {
      expect((await http(`${stack.origin}/api/demo/me`, { headers: csrf })).status).toBe(200);
    }
    const counts = await redis.commandCounts();
    expect(counts).toEqual({ get: rounds });

    // Requests refused anyway (no CSRF header, a traversal, an unknown route) read nothing.
    await redis.resetStats();
    expect((await http(`${stack.origin}/api/demo/me`)).status).toBe(403);
    expect((await http(`${stack.origin}/api/demo/a%2fb`, { headers: csrf })).status).toBe(400);
    expect((await http(`${stack.origin}/api/nope`, { headers: csrf })).status).toBe(404);
    expect(await redis.commandCounts()).toEqual({});
  });
});
