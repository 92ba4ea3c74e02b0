import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  inspectSession,
  signIn,
  startStack,
  type CookieFetch,
  type Stack,
} from '@gatehouse/testkit';
import { startScriptedIdp, withScriptedTenant, type ScriptedIdp } from './support/scripted-idp.ts';

/**
 * Sign-out is a top-level navigation: `POST /bff/logout` (the `X-CSRF` header, or our own page's
 * form) or `GET /bff/logout?sid=<this session's handle>` answers with a redirect to the IdP's
 * end-session URL (with `state`), which comes back to `/bff/signed-out` and then to the app. No
 * answer body carries a URL or a token; cross-site posts and links sign nobody out.
 */
describe('logout as a navigation', () => {
  let stack: Stack;
  let idp: ScriptedIdp;
  const nonces = new Map<string, string>();

  beforeAll(async () => {
    // An OP without an end-session endpoint: logout goes straight back to the app.
    idp = await startScriptedIdp({
      authorize: (params) => nonces.set('the-code', params.get('nonce') ?? ''),
      token(form, reply) {
        const now = Math.floor(Date.now() / 1000);
        void idp
          .sign({
            iss: idp.issuer,
            aud: 'gatehouse',
            sub: 'dave',
            iat: now,
            exp: now + 300,
            nonce: nonces.get(form.get('code') ?? '') ?? '',
          })
          .then((id_token) =>
            reply(200, { access_token: 'at', token_type: 'Bearer', expires_in: 300, id_token }),
          );
      },
    });
    const { issuer } = idp;
    stack = await startStack({
      configure: (input) =>
        withScriptedTenant(input, issuer, {
          id: 'plain',
          name: 'Plain',
          providers: [
            { id: 'fake', issuer, clientId: 'gatehouse', clientSecret: 'fake-client-secret' },
          ],
        }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await idp?.close();
  });

  const signedIn = async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
    return http;
  };
  const alive = async (http: CookieFetch) => (await http(`${stack.origin}/bff/user`)).status;
  const formPost = (http: CookieFetch, headers: Record<string, string>, query = '') =>
    http(`${stack.origin}/bff/logout${query}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'text/html',
        ...headers,
      },
      body: '',
    });

  /** Does what the dev IdP's logout page does in a browser: posts its self-submitting form. */
  async function confirmAtIdp(http: CookieFetch, endSessionUrl: string): Promise<Response> {
    const html = await (await http(endSessionUrl)).text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1] ?? '';
    const body = new URLSearchParams();
    for (const [, name = '', value = ''] of html.matchAll(
      /<input type="hidden" name="([^"]+)" value="([^"]*)"/g,
    )) {
      body.set(name, value);
    }
    return http(new URL(action, endSessionUrl).href, { method: 'POST', body });
  }

  it('POST with X-CSRF: 303 to the end-session URL with state, then back to the app', async () => {
    const http = await signedIn();
    const { tokens } = await inspectSession(stack, http);
    const res = await http(`${stack.origin}/bff/logout?returnTo=%2Fbye%3Fx%3D1`, {
      method: 'POST',
      headers: { 'x-csrf': '1' },
    });
    expect(res.status).toBe(303);
    const body = await res.text();
    for (const token of [tokens.accessToken, tokens.refreshToken, tokens.idToken]) {
      expect(body.includes(token ?? 'missing')).toBe(false);
    }
    const end = new URL(res.headers.get('location') ?? '');
    expect(`${end.origin}${end.pathname}`).toBe(`${stack.idp.issuer('')}/session/end`);
    expect(end.searchParams.get('post_logout_redirect_uri')).toBe(`${stack.origin}/bff/signed-out`);
    expect(end.searchParams.get('id_token_hint')).toBe(tokens.idToken);
    expect(end.searchParams.get('client_id')).toBe('gatehouse-acme');
    const state = end.searchParams.get('state') ?? '';
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await alive(http)).toBe(401);

    // The IdP ends its session and sends the browser to /bff/signed-out with our state.
    const back = await confirmAtIdp(http, end.href);
    expect(back.status).toBe(303);
    const signedOut = new URL(back.headers.get('location') ?? '');
    expect(`${signedOut.origin}${signedOut.pathname}`).toBe(`${stack.origin}/bff/signed-out`);
    expect(signedOut.searchParams.get('state')).toBe(state);
    const landing = await http(signedOut.href);
    expect(landing.status).toBe(302);
    expect(landing.headers.get('location')).toBe('/bye?x=1');
    // The state is used up: the same link again lands on `/`.
    expect((await http(signedOut.href)).headers.get('location')).toBe('/');
  });

  it('a same-origin form post signs out (303), as the SDK does', async () => {
    const http = await signedIn();
    const res = await formPost(http, {
      origin: stack.origin,
      'sec-fetch-site': 'same-origin',
      'sec-fetch-mode': 'navigate',
    });
    expect(res.status).toBe(303);
    expect(new URL(res.headers.get('location') ?? '').searchParams.get('state')).toBeTruthy();
    expect(await alive(http)).toBe(401);
  });

  it('a same-origin form post from a no-referrer page (Origin: null) signs out', async () => {
    const http = await signedIn();
    const res = await formPost(http, { origin: 'null', 'sec-fetch-site': 'same-origin' });
    expect(res.status).toBe(303);
    expect(await alive(http)).toBe(401);
  });

  it('a form post from a browser without Fetch Metadata but with our Origin signs out', async () => {
    const http = await signedIn();
    expect((await formPost(http, { origin: stack.origin })).status).toBe(303);
    expect(await alive(http)).toBe(401);
  });

  it.each<[string, Record<string, string>, string]>([
    [
      'a cross-site form',
      { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      'foreign_origin',
    ],
    [
      'a cross-site form without Fetch Metadata',
      { origin: 'https://evil.example' },
      'foreign_origin',
    ],
    [
      'a sibling subdomain (same-site)',
      { origin: 'https://evil.localhost', 'sec-fetch-site': 'same-site' },
      'foreign_origin',
    ],
    [
      'an opaque origin (sandboxed frame)',
      { origin: 'null', 'sec-fetch-site': 'cross-site' },
      'foreign_origin',
    ],
    [
      'our Origin with a cross-site Fetch Metadata',
      { origin: '', 'sec-fetch-site': 'cross-site' },
      'foreign_origin',
    ],
    ['a form with neither Origin nor Fetch Metadata', {}, 'csrf_header_required'],
    ['an opaque origin without Fetch Metadata', { origin: 'null' }, 'foreign_origin'],
    [
      'same-origin Fetch Metadata with a foreign Origin',
      { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' },
      'foreign_origin',
    ],
    ['Fetch Metadata none (typed or bookmarked)', { 'sec-fetch-site': 'none' }, 'foreign_origin'],
    [
      'X-CSRF from a foreign origin',
      { 'x-csrf': '1', origin: 'https://evil.example' },
      'foreign_origin',
    ],
    ['X-CSRF with a wrong value', { 'x-csrf': '0', origin: '' }, 'csrf_header_required'],
  ])('refuses %s with 403 and keeps the session', async (_name, given, code) => {
    const http = await signedIn();
    const headers = Object.fromEntries(
      Object.entries(given).map(([name, value]) => [
        name,
        name === 'origin' && value === '' ? stack.origin : value,
      ]),
    );
    const res = await formPost(http, headers);
    expect(res.status).toBe(403);
    expect(res.headers.get('gatehouse-problem')).toBe(code);
    expect(res.headers.get('location')).toBeNull();
    expect(await alive(http)).toBe(200);
  });

  it('GET with this session’s handle: 302 to the end-session URL', async () => {
    const http = await signedIn();
    const user = (await (await http(`${stack.origin}/bff/user`)).json()) as { logoutUrl: string };
    const { record } = await inspectSession(stack, http);
    expect(user.logoutUrl).toBe(`/bff/logout?sid=${record.handle}`);
    const res = await http(`${stack.origin}${user.logoutUrl}`);
    expect(res.status).toBe(302);
    const end = new URL(res.headers.get('location') ?? '');
    expect(end.searchParams.get('post_logout_redirect_uri')).toBe(`${stack.origin}/bff/signed-out`);
    expect(end.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await alive(http)).toBe(401);
  });

  it.each([
    [
      'another session’s handle',
      async () => (await inspectSession(stack, await signedIn())).record.handle,
    ],
    ['a made-up handle', async () => 'AAAAAAAAAAAAAAAAAAAAAA'],
    ['no handle', async () => undefined],
    ['an empty handle', async () => ''],
  ])('refuses a GET link with %s (403) and keeps the session', async (_name, handleOf) => {
    const handle = await handleOf();
    const http = await signedIn();
    const query = handle === undefined ? '' : `?sid=${encodeURIComponent(handle)}`;
    const res = await http(`${stack.origin}/bff/logout${query}`, {
      headers: { accept: 'text/html' },
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('logout_sid_mismatch');
    expect(res.headers.get('location')).toBeNull();
    expect(await alive(http)).toBe(200);
  });

  it('refuses a repeated sid parameter', async () => {
    const http = await signedIn();
    const { record } = await inspectSession(stack, http);
    const res = await http(`${stack.origin}/bff/logout?sid=${record.handle}&sid=${record.handle}`);
    expect(res.status).toBe(400);
    expect(await alive(http)).toBe(200);
  });

  it('without a session, a logout just goes back to the app', async () => {
    const http = createCookieFetch();
    const get = await http(`${stack.origin}/bff/logout?sid=whatever&returnTo=%2Fhome`);
    expect([get.status, get.headers.get('location')]).toEqual([302, '/home']);
    const post = await http(`${stack.origin}/bff/logout`, {
      method: 'POST',
      headers: { 'x-csrf': '1' },
    });
    expect([post.status, post.headers.get('location')]).toEqual([303, '/']);
  });

  it('refuses a returnTo to another site before signing anyone out', async () => {
    const http = await signedIn();
    const res = await http(`${stack.origin}/bff/logout?returnTo=https%3A%2F%2Fevil.example%2F`, {
      method: 'POST',
      headers: { 'x-csrf': '1' },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('gatehouse-problem')).toBe('invalid_return_to');
    expect(await alive(http)).toBe(200);
  });

  it.each([
    ['no state', ''],
    ['an unknown state', `?state=${'A'.repeat(43)}`],
    ['a malformed state', '?state=%3Cscript%3E'],
    ['a repeated state', '?state=a&state=b'],
  ])('/bff/signed-out with %s lands on / and says nothing', async (_name, query) => {
    const res = await fetch(`${stack.origin}/bff/signed-out${query}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/');
    expect(await res.text()).not.toMatch(/state|invalid|error/i);
  });

  it('an OP without an end-session endpoint: 303 straight to the app', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login?tenant=plain&provider=fake`);
    const authorization = new URL(start.headers.get('location') ?? '');
    await fetch(authorization);
    const callback = new URL('/bff/callback/plain/fake', stack.origin);
    callback.searchParams.set('code', 'the-code');
    callback.searchParams.set('state', authorization.searchParams.get('state') ?? '');
    expect((await http(callback.href)).status).toBe(302);
    const res = await http(`${stack.origin}/bff/logout?returnTo=%2Fdone`, {
      method: 'POST',
      headers: { 'x-csrf': '1' },
    });
    expect([res.status, res.headers.get('location')]).toEqual([303, '/done']);
    expect(await alive(http)).toBe(401);
  });
});
