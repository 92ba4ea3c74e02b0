import { describe, expect, it } from 'vitest';
import { createGatehouseClient, GatehouseProblem } from '../src/index.ts';
import type { SessionState } from '../src/index.ts';
import { setUpFakeGatehouse, delay } from './helpers.ts';

const { fake, clients } = await setUpFakeGatehouse();

describe('session state', () => {
  it('starts loading and settles signed-out without a reason on a first visit', async () => {
    const { client } = clients.make();
    expect(client.state).toEqual({ status: 'loading' });
    const seen: SessionState[] = [];
    client.subscribe((state) => seen.push(state));

    await expect(client.refresh()).resolves.toEqual({ status: 'signed-out' });
    expect(seen).toEqual([{ status: 'signed-out' }]);
  });

  it('moves to signed-in with the user from /bff/user', async () => {
    const { client } = clients.make();
    await client.refresh();
    fake.signIn();

    const state = await client.refresh();
    expect(state.status).toBe('signed-in');
    if (state.status !== 'signed-in') return;
    expect(state.user.claims).toMatchObject({ sub: 'alice-sub', name: 'Alice' });
    expect(state.user).toMatchObject({ tenant: 'acme', provider: 'dev' });
    expect(state.user.session.expiresAt).toBe(fake.expiresAt);
  });

  it('keeps the same state object when a re-check changes nothing', async () => {
    fake.signIn();
    const { client } = clients.make();
    await client.refresh({ slide: false });
    const first = client.state;
    let notified = 0;
    client.subscribe(() => notified++);

    await client.refresh({ slide: false });
    expect(client.state).toBe(first);
    expect(notified).toBe(0);
  });

  it('sends slide=false only when asked not to extend the session', async () => {
    fake.signIn();
    const { client } = clients.make();
    await client.refresh({ slide: false });
    await client.refresh();
    expect(fake.requests.map((r) => r.path)).toEqual(['/bff/user?slide=false', '/bff/user']);
  });

  it('reports "expired" when a signed-in session is found expired', async () => {
    fake.signIn({ ttlMs: 150 });
    const { client } = clients.make();
    await client.refresh({ slide: false });
    await delay(200);

    await expect(client.refresh({ slide: false })).resolves.toEqual({
      status: 'signed-out',
      reason: 'expired',
    });
  });

  it('throws a GatehouseProblem and keeps the session when the store is down (503)', async () => {
    fake.signIn();
    const { client } = clients.make();
    await client.refresh();
    const before = client.state;
    fake.failUserWith = 503;

    const error: unknown = await client.refresh().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatehouseProblem);
    expect(error).toMatchObject({ status: 503, code: 'store_unavailable' });
    expect(client.state).toBe(before);
  });

  it('wraps an unreachable server in a network_error problem', async () => {
    const { client } = clients.make({ baseUrl: 'http://localhost:1' });
    await expect(client.refresh()).rejects.toMatchObject({ status: 0, code: 'network_error' });
    expect(client.state).toEqual({ status: 'loading' });
  });

  it('ignores an answer that arrives after a logout (no flip back to signed-in)', async () => {
    fake.signIn();
    const { client } = clients.make();
    await client.refresh();
    fake.userDelayMs = 100;
    const pending = client.refresh({ slide: false });
    await delay(20);
    await client.logout();
    // The server answered 200 (signed in when the request arrived), but after the logout.
    await expect(pending).resolves.toEqual({ status: 'signed-out', reason: 'logout' });
    expect(client.state).toEqual({ status: 'signed-out', reason: 'logout' });
  });
});

describe('overlapping checks', () => {
  it('a refresh overtaken by a newer one resolves with the newer, settled state', async () => {
    const { client } = clients.make();
    fake.userDelayMs = 100;
    const older = client.refresh(); // will answer 401, but only after the newer one started
    await delay(20);
    fake.signIn();
    fake.userDelayMs = 200;
    const newer = client.refresh();

    const [olderState, newerState] = await Promise.all([older, newer]);
    expect(newerState.status).toBe('signed-in');
    expect(olderState).toBe(newerState);
  });

  it('dispose aborts a pending check and leaves the state alone', async () => {
    const { client } = clients.make();
    fake.userDelayMs = 200;
    const pending = client.refresh();
    await delay(20);
    client.dispose();
    await expect(pending).rejects.toMatchObject({ code: 'aborted', status: 0 });
    expect(client.state).toEqual({ status: 'loading' });
  });
});

describe('apiFetch', () => {
  it('sends X-CSRF: 1, keeps the caller headers and returns the response', async () => {
    fake.signIn();
    const { client } = clients.make();
    const res = await client.apiFetch('/api/demo/me', {
      method: 'POST',
      headers: { 'X-Echo': 'kept', 'X-CSRF': '0' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sub: 'alice-sub', method: 'POST', echo: 'kept' });
    expect(fake.requests.at(-1)).toEqual({ method: 'POST', path: '/api/demo/me', csrf: '1' });
  });

  it('turns a 401 "unauthenticated" into signed-out and leaves the body readable', async () => {
    fake.signIn();
    const { client } = clients.make();
    await client.refresh();
    fake.revoke();

    const res = await client.apiFetch('/api/demo/me');
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'unauthenticated' });
    expect(client.state).toEqual({ status: 'signed-out', reason: 'unauthenticated' });
  });

  it('turns a 401 "session_expired" into signed-out with reason "expired"', async () => {
    fake.signIn({ ttlMs: 100 });
    const { client } = clients.make();
    await client.refresh({ slide: false });
    await delay(150);

    await client.apiFetch('/api/demo/me');
    expect(client.state).toEqual({ status: 'signed-out', reason: 'expired' });
  });

  it("stays signed in when a 401 is the upstream API's own and the session is fine", async () => {
    fake.signIn();
    const { client } = clients.make();
    await client.refresh();

    const res = await client.apiFetch('/api/upstream-401');
    expect(res.status).toBe(401);
    expect(client.state.status).toBe('signed-in');
    expect(fake.requests.at(-1)?.path).toBe('/bff/user?slide=false');
  });

  it('is not fooled by an upstream 401 that copies Gatehouse’s body but lacks its header', async () => {
    fake.signIn();
    const { client } = clients.make();
    await client.refresh();
    const res = await client.apiFetch('/api/upstream-401-lookalike');
    expect(res.status).toBe(401);
    expect(client.state.status).toBe('signed-in');
    expect(fake.requests.at(-1)?.path).toBe('/bff/user?slide=false');
  });

  it('a first visit’s API call answered "no session" is no "session ended" (no reason)', async () => {
    // The app calls its API on start-up, while the provider's first check is still out.
    const { client } = clients.make();
    fake.userDelayMs = 100;
    const first = client.refresh();
    const res = await client.apiFetch('/api/demo/me');
    expect(res.status).toBe(401);
    await expect(first).resolves.toEqual({ status: 'signed-out' });
    expect(client.state).toEqual({ status: 'signed-out' });
  });

  it('many API calls answered with the API’s own 401 at once ask /bff/user once', async () => {
    fake.signIn();
    const { client } = clients.make();
    await client.refresh();
    // Held back long enough that every 401 is in while the one check is out.
    fake.userDelayMs = 200;
    const before = fake.requests.length;

    const answers = await Promise.all(
      Array.from({ length: 10 }, () => client.apiFetch('/api/upstream-401')),
    );
    expect(answers.map((res) => res.status)).toEqual(Array(10).fill(401));
    const checks = fake.requests.slice(before).filter((r) => r.path.startsWith('/bff/user'));
    expect(checks).toHaveLength(1);
    expect(client.state.status).toBe('signed-in');
  });

  it.each([
    '//evil.example/api',
    '/\\evil.example',
    'https://evil.example/api',
    'api/x',
    '/\t/evil.example/x',
    '/\n/evil.example',
    '/\r//evil.example',
  ])('refuses the non-same-origin path %s before sending anything', async (path) => {
    const { client } = clients.make();
    await expect(client.apiFetch(path)).rejects.toBeInstanceOf(TypeError);
    expect(fake.requests).toEqual([]);
  });
});

describe('logout', () => {
  it('signs out and navigates to this session’s logout link: a navigation, no fetch of it', async () => {
    fake.signIn();
    const { client, navigations } = clients.make();
    await client.refresh();
    const before = fake.requests.length;

    await client.logout();
    // The redirect to the IdP (with its id_token_hint) is the browser's, never a script's.
    expect(fake.requests.length).toBe(before);
    expect(navigations).toEqual([`${fake.url}/bff/logout?sid=handle-current`]);
    expect(client.state).toEqual({ status: 'signed-out', reason: 'logout' });
  });

  it('asks /bff/user for the link when it does not know it yet, and passes returnTo along', async () => {
    fake.signIn();
    const { client, navigations } = clients.make();
    await client.logout({ returnTo: '/bye?x=1' });
    expect(fake.requests.at(-1)).toMatchObject({ method: 'GET', path: '/bff/user?slide=false' });
    expect(navigations).toEqual([
      `${fake.url}/bff/logout?sid=handle-current&returnTo=%2Fbye%3Fx%3D1`,
    ]);
  });

  it('without a session, still navigates to /bff/logout (which just comes back)', async () => {
    const { client, navigations } = clients.make();
    await client.logout();
    expect(client.state).toEqual({ status: 'signed-out', reason: 'logout' });
    expect(navigations).toEqual([`${fake.url}/bff/logout`]);
  });

  it.each(['https://evil.example/', '//evil.example', 'javascript:alert(1)', '/\\evil.example'])(
    'refuses the returnTo %s without navigating',
    async (returnTo) => {
      fake.signIn();
      const { client, navigations } = clients.make();
      await client.refresh();
      await expect(client.logout({ returnTo })).rejects.toBeInstanceOf(TypeError);
      expect(navigations).toEqual([]);
      expect(client.state.status).toBe('signed-in');
    },
  );
});

describe('sessions', () => {
  it('lists the sessions of the user', async () => {
    fake.signIn();
    const { client } = clients.make();
    const sessions = await client.listSessions();
    expect(sessions.map((s) => [s.device, s.current])).toEqual([
      ['Firefox on Linux', true],
      ['Safari on iOS', false],
      ['Chrome on macOS', false],
    ]);
  });

  it('ends one session with DELETE + X-CSRF, encoding the id into one path segment', async () => {
    fake.signIn();
    const { client } = clients.make();
    await client.endSession('sess/phone');
    expect(fake.requests.at(-1)).toEqual({
      method: 'DELETE',
      path: '/bff/sessions/sess%2Fphone',
      csrf: '1',
    });
    expect(fake.sessions.map((s) => s.id)).toEqual(['sess-current', 'sess-laptop']);
  });

  it('throws the server problem for an unknown session id', async () => {
    fake.signIn();
    const { client } = clients.make();
    await expect(client.endSession('../user')).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
    });
    expect(fake.requests.at(-1)?.path).toBe('/bff/sessions/..%2Fuser');
  });

  it('ends every other session', async () => {
    fake.signIn();
    const { client } = clients.make();
    await client.endOtherSessions();
    expect(fake.requests.at(-1)).toEqual({
      method: 'POST',
      path: '/bff/sessions/end-others',
      csrf: '1',
    });
    expect(fake.sessions.map((s) => s.id)).toEqual(['sess-current']);
  });

  it('signs out and throws when the session is gone', async () => {
    fake.signIn();
    const { client } = clients.make();
    await client.refresh();
    fake.revoke();
    await expect(client.listSessions()).rejects.toMatchObject({ status: 401 });
    expect(client.state).toEqual({ status: 'signed-out', reason: 'unauthenticated' });
  });
});

describe('loginUrl and login', () => {
  it('builds /bff/login with every option encoded', () => {
    const { client } = clients.make();
    const url = new URL(
      client.loginUrl({ returnTo: '/sessions?x=1#top', tenant: 'acme', provider: 'dev' }),
    );
    expect(`${url.origin}${url.pathname}`).toBe(`${fake.url}/bff/login`);
    expect([...url.searchParams]).toEqual([
      ['returnTo', '/sessions?x=1#top'],
      ['tenant', 'acme'],
      ['provider', 'dev'],
    ]);
    expect(url.hash).toBe('');
  });

  it.each(['//evil.example', 'https://evil.example/', '/x&tenant=evil#frag', '/\\evil.example'])(
    'passes the hostile returnTo %s through encoded, as one parameter',
    (returnTo) => {
      const { client } = clients.make();
      const url = new URL(client.loginUrl({ returnTo, tenant: 'acme' }));
      expect([...url.searchParams]).toEqual([
        ['returnTo', returnTo],
        ['tenant', 'acme'],
      ]);
      expect(url.hash).toBe('');
    },
  );

  it('encodes "//evil.example" so it cannot read as a protocol-relative URL', () => {
    const { client } = clients.make({ baseUrl: '' });
    expect(client.loginUrl({ returnTo: '//evil.example', tenant: 'acme' })).toBe(
      '/bff/login?returnTo=%2F%2Fevil.example&tenant=acme',
    );
  });

  it('refuses a login that names neither a tenant nor an email, and says how to fix it', () => {
    const navigations: string[] = [];
    const client = createGatehouseClient({ navigate: (url) => navigations.push(url) });
    // @ts-expect-error -- without a defaultTenant, login() must name a tenant or an email
    expect(() => client.login()).toThrow(/pass \{ tenant \} or \{ email \}.*defaultTenant/);
    // @ts-expect-error -- returnTo alone does not say where to sign in either
    expect(() => client.loginUrl({ returnTo: '/x' })).toThrow(TypeError);
    // An empty or blank tenant is no tenant.
    expect(() => client.login({ tenant: ' ' })).toThrow(TypeError);
    expect(navigations).toEqual([]);
    client.dispose();
  });

  it('uses the defaultTenant when neither tenant nor email is given, and never with an email', () => {
    const navigations: string[] = [];
    const client = createGatehouseClient({
      defaultTenant: 'acme',
      navigate: (url) => navigations.push(url),
    });
    client.login();
    client.login({ returnTo: '/notes', provider: 'dev' });
    client.login({ tenant: 'globex' });
    client.login({ email: 'carol@globex.test' });
    expect(navigations).toEqual([
      '/bff/login?returnTo=%2F&tenant=acme',
      '/bff/login?returnTo=%2Fnotes&tenant=acme&provider=dev',
      '/bff/login?returnTo=%2F&tenant=globex',
      '/bff/login?returnTo=%2F&email=carol%40globex.test',
    ]);
    client.dispose();
  });

  it('login() navigates to the login URL; returnTo defaults to the current location', () => {
    const { client, navigations } = clients.make({ baseUrl: '' });
    client.login({ email: 'bob@globex.example' });
    // Node has no `location`, so the default current location is "/".
    expect(navigations).toEqual(['/bff/login?returnTo=%2F&email=bob%40globex.example']);
  });
});
