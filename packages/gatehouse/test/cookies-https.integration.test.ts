import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import { createCookieFetch, startStack, type Stack } from '@gatehouse/testkit';

/**
 * Behind a TLS-terminating proxy (PUBLIC_URL https, trust proxy on): `__Host-` cookies with
 * Secure, HttpOnly, Path=/, no Domain, SameSite=Strict for the session and Lax for the login
 * binding; the redirect URI comes from configuration, never from forwarded host headers.
 */
describe('cookies over https', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ behindTlsProxy: true });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const attributes = (setCookie: string) =>
    setCookie
      .split(';')
      .slice(1)
      .map((part) => part.trim().split('=')[0]!.toLowerCase());

  it('issues __Host- cookies with the right flags and keeps the redirect URI from config', async () => {
    const { origin, publicOrigin } = stack.gatehouses[0]!;
    const viaProxy = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' };

    const start = await fetch(`${origin}/bff/login?returnTo=%2Fhome`, {
      headers: viaProxy,
      redirect: 'manual',
    });
    expect(start.status).toBe(302);
    const authorization = new URL(start.headers.get('location') ?? '');
    expect(authorization.searchParams.get('redirect_uri')).toBe(
      `${publicOrigin}/bff/callback/acme/dev`,
    );
    const [binding] = start.headers.getSetCookie();
    expect(binding).toMatch(/^__Host-gatehouse-login=[\w-]{43};/);
    expect(attributes(binding!)).toEqual(
      expect.arrayContaining(['path', 'httponly', 'secure', 'samesite']),
    );
    expect(attributes(binding!)).not.toContain('domain');
    expect(binding).toMatch(/SameSite=Lax/i);

    const idpBrowser = createCookieFetch();
    const callback = new URL(
      await completeDevIdpLogin(idpBrowser, authorization.href, {
        login: 'alice',
        password: 'alice',
      }),
    );
    expect(callback.origin).toBe(publicOrigin);
    const bindingPair = binding!.split(';')[0]!;
    const done = await fetch(`${origin}${callback.pathname}${callback.search}`, {
      headers: { ...viaProxy, cookie: bindingPair },
      redirect: 'manual',
    });
    expect(done.status).toBe(302);
    expect(done.headers.get('location')).toBe('/home');
    const session = done.headers.getSetCookie().find((c) => c.startsWith('__Host-gatehouse='));
    expect(session).toBeDefined();
    expect(attributes(session!)).toEqual(
      expect.arrayContaining(['path', 'httponly', 'secure', 'samesite']),
    );
    expect(attributes(session!)).not.toContain('domain');
    expect(session).toMatch(/Path=\/(;|$)/);
    expect(session).toMatch(/SameSite=Strict/i);

    const user = await fetch(`${origin}/bff/user`, {
      headers: { ...viaProxy, cookie: session!.split(';')[0]! },
    });
    expect(user.status).toBe(200);
    expect(user.headers.get('strict-transport-security')).toContain('max-age=');
    // The plain `gatehouse` name (no prefix) means nothing here.
    const plain = await fetch(`${origin}/bff/user`, {
      headers: {
        ...viaProxy,
        cookie: session!.split(';')[0]!.replace('__Host-gatehouse', 'gatehouse'),
      },
    });
    expect(plain.status).toBe(401);
  });
});
