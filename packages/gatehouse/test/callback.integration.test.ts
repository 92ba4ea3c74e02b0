import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import {
  createCookieFetch,
  signIn,
  startStack,
  type CookieFetch,
  type Stack,
} from '@gatehouse/testkit';

/** The login transaction fails closed: hostile callbacks, replays, other browsers, mix-ups. */
describe('login and callback', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const alice = { login: 'alice', password: 'alice' };

  /** Starts a login and drives the IdP; returns the callback URL without visiting it. */
  async function callbackFor(http: CookieFetch, query: Record<string, string> = {}): Promise<URL> {
    const start = await http(`${stack.origin}/bff/login?${new URLSearchParams(query).toString()}`);
    expect(start.status).toBe(302);
    const authorization = new URL(start.headers.get('location') ?? '');
    expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorization.searchParams.get('state')).toBeTruthy();
    expect(authorization.searchParams.get('nonce')).toBeTruthy();
    expect(authorization.searchParams.get('redirect_uri')).toBe(
      `${stack.origin}/bff/callback/acme/dev`,
    );
    expect(authorization.searchParams.has('code_verifier')).toBe(false);
    return new URL(await completeDevIdpLogin(http, authorization.href, alice));
  }

  async function problemCode(res: Response): Promise<string> {
    const text = await res.text();
    return /"code":"([a-z_]+)"|<code>([a-z_]+)<\/code>/.exec(text)?.slice(1).find(Boolean) ?? text;
  }

  it('completes a login and uses the transaction exactly once (a replayed callback fails)', async () => {
    const http = createCookieFetch();
    const callback = await callbackFor(http, { returnTo: '/after' });
    expect(callback.searchParams.get('iss')).toBe(stack.idp.issuer(''));
    const first = await http(callback.href);
    expect(first.status).toBe(302);
    expect(first.headers.get('location')).toBe('/after');
    // The same browser, signed in now, comes back to the spent callback (the Back button):
    // straight to the app, and nothing else happens.
    const replay = await http(callback.href);
    expect(replay.status).toBe(302);
    expect(replay.headers.get('location')).toBe('/after');
    // Any other browser is refused.
    const elsewhere = await createCookieFetch()(callback.href);
    expect(elsewhere.status).toBe(400);
    expect(await problemCode(elsewhere)).toBe('login_transaction_invalid');
  });

  it('refuses a callback delivered to another browser (no binding cookie) and burns the attempt', async () => {
    const victim = createCookieFetch();
    const callback = await callbackFor(victim);
    const attacker = createCookieFetch();
    const res = await attacker(callback.href);
    expect(res.status).toBe(400);
    expect(await problemCode(res)).toBe('login_transaction_invalid');
    expect((await victim(callback.href)).status).toBe(400);
  });

  it('refuses a missing or unknown state', async () => {
    const http = createCookieFetch();
    const callback = await callbackFor(http);
    const withoutState = new URL(callback);
    withoutState.searchParams.delete('state');
    expect((await http(withoutState.href)).status).toBe(400);
    const unknown = new URL(callback);
    unknown.searchParams.set('state', 'made-up-state');
    const res = await http(unknown.href);
    expect(res.status).toBe(400);
    expect(await problemCode(res)).toBe('login_transaction_invalid');
  });

  it.each([
    ['a repeated code', (u: URL) => u.searchParams.append('code', 'second')],
    ['a repeated state', (u: URL) => u.searchParams.append('state', 'second')],
    ['an array state', (u: URL) => u.searchParams.append('state[]', 'x')],
  ])('refuses %s', async (_name, tamper) => {
    const http = createCookieFetch();
    const callback = await callbackFor(http);
    tamper(callback);
    const res = await http(callback.href);
    expect(res.status).toBe(400);
    expect(await problemCode(res)).toBe('invalid_callback');
  });

  it('refuses a response whose iss does not match (mix-up)', async () => {
    const http = createCookieFetch();
    const callback = await callbackFor(http);
    callback.searchParams.set('iss', stack.idp.issuer('/globex'));
    const res = await http(callback.href);
    expect(res.status).toBe(400);
    expect(await problemCode(res)).toBe('login_failed');
  });

  it('refuses a callback that arrives at another provider’s redirect URI', async () => {
    const http = createCookieFetch();
    const callback = await callbackFor(http);
    const moved = new URL(`/bff/callback/globex/dev${callback.search}`, stack.origin);
    const res = await http(moved.href);
    expect(res.status).toBe(400);
    expect(await problemCode(res)).toBe('login_transaction_invalid');
  });

  it('renders an IdP error as an escaped, generic page', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login`);
    const state = new URL(start.headers.get('location') ?? '').searchParams.get('state') ?? '';
    const hostile = new URLSearchParams({
      error: 'access_denied',
      error_description: '<script>alert(1)</script>',
      state,
      iss: stack.idp.issuer(''),
    });
    const res = await http(`${stack.origin}/bff/callback/acme/dev?${hostile.toString()}`, {
      headers: { accept: 'text/html' },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('alert(1)');
    expect(html).toContain('login_failed');
  });

  it('supports parallel logins in several tabs of one browser', async () => {
    const http = createCookieFetch();
    const tabOne = await callbackFor(http, { returnTo: '/one' });
    const tabTwo = await callbackFor(http, { returnTo: '/two' });
    const second = await http(tabTwo.href);
    expect(second.headers.get('location')).toBe('/two');
    const first = await http(tabOne.href);
    expect(first.status).toBe(302);
    expect(first.headers.get('location')).toBe('/one');
  });

  it('issues a new session id at login and the previous one dies', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, alice);
    const before = await http.cookie(stack.origin, 'gatehouse');
    await signIn(http, stack.origin, alice);
    const after = await http.cookie(stack.origin, 'gatehouse');
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    const old = await fetch(`${stack.origin}/bff/user`, {
      headers: { cookie: `gatehouse=${before}` },
    });
    expect(old.status).toBe(401);
  });

  it('never adopts a session id the browser made up', async () => {
    const http = createCookieFetch();
    await http.jar.setCookie('gatehouse=s%3Aattacker-chosen-id.forged', stack.origin);
    await signIn(http, stack.origin, alice);
    const cookie = decodeURIComponent((await http.cookie(stack.origin, 'gatehouse')) ?? '');
    expect(cookie).not.toContain('attacker-chosen-id');
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
  });

  it.each(['//evil.example', '/\\evil.example', 'https://evil.example/', '/%2f%2fevil.example'])(
    'refuses returnTo %s before anything else happens',
    async (returnTo) => {
      const res = await fetch(
        `${stack.origin}/bff/login?${new URLSearchParams({ returnTo }).toString()}`,
        { redirect: 'manual' },
      );
      expect(res.status).toBe(400);
      expect(await problemCode(res)).toBe('invalid_return_to');
    },
  );

  it('refuses a repeated returnTo', async () => {
    const res = await fetch(`${stack.origin}/bff/login?returnTo=/a&returnTo=//evil.example`, {
      redirect: 'manual',
    });
    expect(res.status).toBe(400);
    expect(await problemCode(res)).toBe('invalid_parameter');
  });

  it('finds the tenant by email domain (home-realm discovery) and reveals nothing for unknown domains', async () => {
    const globex = await fetch(`${stack.origin}/bff/login?email=carol%40globex.test`, {
      redirect: 'manual',
    });
    expect(globex.status).toBe(302);
    const url = new URL(globex.headers.get('location') ?? '');
    expect(url.href.startsWith(stack.idp.issuer('/globex'))).toBe(true);
    expect(url.searchParams.get('login_hint')).toBe('carol@globex.test');
    expect(url.searchParams.get('redirect_uri')).toBe(`${stack.origin}/bff/callback/globex/dev`);

    const unknown = await fetch(`${stack.origin}/bff/login?email=someone%40unknown.example`, {
      redirect: 'manual',
    });
    expect(unknown.status).toBe(400);
    const body = await unknown.text();
    expect(body).toContain('unknown_email_domain');
    expect(body).not.toMatch(/acme|globex/);
  });

  it('answers /bff/user with 401 problem+json when signed out', async () => {
    const res = await fetch(`${stack.origin}/bff/user`);
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });
});
