import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import { createCookieFetch, startStack, type Stack } from '@gatehouse/testkit';
import { signInTarget } from '../src/http/sign-in-route.ts';

/**
 * The sign-in's two requests in their plain forms are handed by the server straight to their
 * handlers (`http/sign-in-route.ts`); every other form goes through Express to the same
 * handlers. Both must answer alike: same status, headers (helmet's, request id, no-store, the
 * binding cookie's attributes), problem documents and error pages.
 */
describe('signInTarget', () => {
  it('takes only GET of /bff/login and /bff/callback/<tenant>/<provider>, with or without a query', () => {
    expect(signInTarget('GET', '/bff/login')).toEqual({ route: 'login' });
    expect(signInTarget('GET', '/bff/login?tenant=acme&returnTo=%2F')).toEqual({ route: 'login' });
    expect(signInTarget('GET', '/bff/callback/acme/dev?code=c&state=s')).toEqual({
      route: 'callback',
      params: { tenant: 'acme', provider: 'dev' },
    });
    expect(signInTarget('GET', '/bff/callback/acme/dev')).toEqual({
      route: 'callback',
      params: { tenant: 'acme', provider: 'dev' },
    });
  });

  it.each([
    ['HEAD', '/bff/login'],
    ['POST', '/bff/login'],
    ['GET', undefined],
    ['GET', '/bff/login/'],
    ['GET', '/bff/loginx'],
    ['GET', '/bff/login/x'],
    ['GET', '/BFF/login'],
    ['GET', '/bff/home-realm?email=a@b.c'],
    ['GET', '/bff/callback'],
    ['GET', '/bff/callback/'],
    ['GET', '/bff/callback/acme'],
    ['GET', '/bff/callback/acme/'],
    ['GET', '/bff/callback//dev'],
    ['GET', '/bff/callback/acme/dev/'],
    ['GET', '/bff/callback/acme/dev/x'],
    ['GET', '/bff/callback/acme/dev%2Fx?state=s'],
    ['GET', '/bff/callback/%61cme/dev'],
    ['GET', '/bff/callback/acme/dev#x?state=s'],
    ['GET', '/bff/callback/acme/dev;x?state=s'],
    ['GET', '/bff/callback/ac me/dev'],
    ['GET', '/bff/callback/acme/dév'],
    ['GET', 'http://localhost/bff/login'],
    ['GET', '//bff/login'],
  ])('leaves %s %s to Express', (method, url) => {
    expect(signInTarget(method, url)).toBeUndefined();
  });
});

describe('the sign-in routes without the router answer as through Express', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  /** An answer's status, its headers without the per-request values, and its body. */
  async function answer(path: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${stack.origin}${path}`, { headers, redirect: 'manual' });
    const kept = [...res.headers]
      .filter(([name]) => !['date', 'x-request-id', 'location', 'set-cookie'].includes(name))
      .sort(([a], [b]) => a.localeCompare(b));
    // The binding cookie's value is random: its name and attributes must match.
    const cookie = res.headers.get('set-cookie')?.replace(/=[^;]*/, '=…');
    const location = res.headers.get('location');
    return {
      status: res.status,
      headers: kept,
      cookie,
      requestId: /^[0-9a-f-]{36}$/.test(res.headers.get('x-request-id') ?? ''),
      location: location ? new URL(location, stack.origin).pathname : null,
      body: (await res.text()).replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, 'id'),
    };
  }

  it('starts a login alike (302 to the IdP, binding cookie, security headers, no-store)', async () => {
    const direct = await answer('/bff/login?tenant=acme');
    const routed = await answer('/bff/login/?tenant=acme');
    expect(direct.status).toBe(302);
    expect(direct.location).toMatch(/\/auth$/);
    expect(direct.cookie).toMatch(/HttpOnly/i);
    expect(direct.requestId).toBe(true);
    expect(direct.headers).toContainEqual(['cache-control', 'no-store']);
    expect(direct.headers.map(([name]) => name)).toContain('content-security-policy');
    expect(routed).toEqual(direct);
  });

  it.each([
    ['a bad parameter', '/bff/login', '?mode=nope'],
    ['an unknown tenant', '/bff/login', '?tenant=nope'],
    ['a repeated parameter', '/bff/login', '?tenant=acme&tenant=globex'],
    ['a callback without a transaction', '/bff/callback/acme/dev', '?code=c&state=forged'],
    ['a callback with an IdP error', '/bff/callback/acme/dev', '?error=access_denied&state=s'],
    ['a callback of an unknown provider', '/bff/callback/acme/nope', '?code=c&state=s'],
    ['a callback of an odd tenant', '/bff/callback/..~x_y/dev', '?code=c&state=s'],
  ])('refuses %s alike, as problem+json and as a page', async (_case, path, query) => {
    for (const accept of ['application/json', 'text/html']) {
      const direct = await answer(`${path}${query}`, { accept });
      const routed = await answer(`${path}/${query}`, { accept });
      expect(direct.status).toBeGreaterThanOrEqual(400);
      expect(direct.status).toBeLessThan(500);
      expect(direct.requestId).toBe(true);
      expect(routed).toEqual(direct);
    }
  });

  it('completes a sign-in through the plain callback: the session cookie, then the user', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login?tenant=acme`);
    const callbackUrl = await completeDevIdpLogin(http, start.headers.get('location') ?? '', {
      login: 'alice',
      password: 'alice',
    });
    expect(new URL(callbackUrl).pathname).toBe('/bff/callback/acme/dev');
    const callback = await http(callbackUrl);
    expect(callback.status).toBe(302);
    expect(callback.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict/i);
    expect(callback.headers.get('cache-control')).toBe('no-store');
    expect(callback.headers.get('content-security-policy')).toContain("default-src 'self'");
    const user = await http(`${stack.origin}/bff/user`, { headers: { 'x-csrf': '1' } });
    expect(user.status).toBe(200);
  });
});
