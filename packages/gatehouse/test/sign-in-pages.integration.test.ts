import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import { createCookieFetch, startStack, type CookieFetch, type Stack } from '@gatehouse/testkit';

/**
 * The pages Gatehouse renders for a sign-in navigation that failed: styled by the design
 * system's stylesheet (served by Gatehouse, CSP-clean), readable on a phone, and always with a
 * next step that restarts the same sign-in. Also home-realm discovery as JSON for the SPA.
 */
describe('sign-in pages', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const html = { accept: 'text/html,application/xhtml+xml' };

  async function startLogin(http: CookieFetch, query: Record<string, string>) {
    const start = await http(`${stack.origin}/bff/login?${new URLSearchParams(query).toString()}`);
    expect(start.status).toBe(302);
    const authorization = new URL(start.headers.get('location') ?? '');
    return { authorization, state: authorization.searchParams.get('state') ?? '' };
  }

  /** The href of the page's link with this exact text. */
  function linkHref(page: string, text: string): string | undefined {
    const match = new RegExp(`<a [^>]*href="([^"]*)"[^>]*>${text}</a>`).exec(page);
    return match?.[1]?.replaceAll('&#38;', '&');
  }

  it('serves one content-hashed stylesheet, cached for good, and nothing under other names', async () => {
    const page = await (
      await fetch(`${stack.origin}/bff/login?tenant=nope`, { headers: html })
    ).text();
    const href =
      /<link rel="stylesheet" href="(\/bff\/assets\/gatehouse\.[0-9a-f]{12}\.css)">/.exec(
        page,
      )?.[1];
    expect(href).toBeDefined();
    const css = await fetch(`${stack.origin}${href ?? ''}`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(css.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await css.text()).toContain('--accent');
    const stale = await fetch(`${stack.origin}/bff/assets/gatehouse.000000000000.css`);
    expect(stale.status).toBe(404);
    const hostile = await fetch(`${stack.origin}/bff/assets/..%2f..%2fpackage.json`);
    expect(hostile.status).toBe(404);
  });

  it('renders an unknown organisation with a viewport, no inline style or script, and a way on', async () => {
    const res = await fetch(`${stack.origin}/bff/login?tenant=nope`, { headers: html });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-security-policy')).toContain("style-src 'self'");
    const page = await res.text();
    expect(page).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(page).not.toMatch(/<style|style=|<script/);
    expect(page).toContain('<h1>Unknown organisation</h1>');
    expect(linkHref(page, 'Go to sign-in')).toBe('/');
    expect(page).toContain('<code>unknown_tenant</code>');
  });

  it('offers "Try again" after a cancel at the IdP, restarting the same tenant, provider and return path', async () => {
    const http = createCookieFetch();
    const { state } = await startLogin(http, { tenant: 'acme', returnTo: '/sessions?tab=1' });
    const cancelled = new URLSearchParams({
      error: 'access_denied',
      state,
      iss: stack.idp.issuer(''),
    });
    const res = await http(`${stack.origin}/bff/callback/acme/dev?${cancelled.toString()}`, {
      headers: html,
    });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain('You were not signed in');
    expect(page).toContain('The sign-in was cancelled or the identity provider refused it.');
    const retry = linkHref(page, 'Try again') ?? '';
    expect(retry).toBe('/bff/login?tenant=acme&provider=dev&returnTo=%2Fsessions%3Ftab%3D1');
    expect(linkHref(page, 'Back to the app')).toBe('/sessions?tab=1');
    // The link starts a new sign-in that goes back to the same place.
    const again = await http(`${stack.origin}${retry}`);
    expect(again.status).toBe(302);
    const next = new URL(again.headers.get('location') ?? '');
    expect(next.origin).toBe(new URL(stack.idp.issuer('')).origin);
    const callback = await completeDevIdpLogin(http, next.href, {
      login: 'alice',
      password: 'alice',
    });
    const done = await http(callback);
    expect(done.status).toBe(302);
    expect(done.headers.get('location')).toBe('/sessions?tab=1');
  });

  it('reads a forged state differently from a spent one, and sends a signed-out browser to sign in again', async () => {
    const forged = await createCookieFetch()(
      `${stack.origin}/bff/callback/acme/dev?code=x&state=made-up&iss=${encodeURIComponent(stack.idp.issuer(''))}`,
      { headers: html },
    );
    const forgedPage = await forged.text();
    expect(forged.status).toBe(400);
    expect(forgedPage).toContain('This sign-in attempt is unknown or was already used.');
    expect(forgedPage).toContain('If you did not start it yourself, close this page.');

    const http = createCookieFetch();
    const { authorization } = await startLogin(http, { tenant: 'acme', returnTo: '/x' });
    const callback = await completeDevIdpLogin(http, authorization.href, {
      login: 'alice',
      password: 'alice',
    });
    expect((await http(callback)).status).toBe(302);
    // Another browser with the spent callback URL: "already completed", and a way to sign in.
    const spent = await createCookieFetch()(callback, { headers: html });
    const spentPage = await spent.text();
    expect(spent.status).toBe(400);
    expect(spentPage).toContain('This sign-in was already completed or cancelled.');
    expect(linkHref(spentPage, 'Start a new sign-in')).toBe(
      '/bff/login?tenant=acme&amp;provider=dev&amp;returnTo=%2Fx'.replaceAll('&amp;', '&'),
    );
  });

  it('offers to sign in without the return path when the return path was refused', async () => {
    const res = await fetch(`${stack.origin}/bff/login?tenant=acme&returnTo=//evil.example`, {
      headers: html,
    });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain('This sign-in link points elsewhere');
    expect(page).not.toContain('evil.example');
    expect(linkHref(page, 'Sign in')).toBe('/bff/login?tenant=acme');
  });

  it('escapes what a hostile path puts on the page', async () => {
    const res = await createCookieFetch()(
      `${stack.origin}/bff/callback/%3Cscript%3E/%22onx%3D1?state=s&code=c`,
      { headers: html },
    );
    const page = await res.text();
    expect(res.status).toBe(400);
    expect(page).not.toContain('<script>');
    // A path segment that is no tenant id never reaches the retry link.
    expect(linkHref(page, 'Start a new sign-in')).toBe('/bff/login');
  });

  describe('GET /bff/home-realm', () => {
    it('names the tenant of a known email domain, starting no login', async () => {
      const res = await fetch(`${stack.origin}/bff/home-realm?email=carol%40globex.test`);
      expect(res.status).toBe(200);
      expect(res.headers.get('set-cookie')).toBeNull();
      expect(await res.json()).toEqual({ tenant: 'globex' });
    });

    it.each([
      ['an unknown domain', 'someone@unknown.example', 400, 'unknown_email_domain'],
      ['no address at all', 'not-an-email', 400, 'unknown_email_domain'],
      ['a huge address', `${'a'.repeat(5000)}@acme.test`, 400, 'unknown_email_domain'],
    ])('refuses %s with problem+json', async (_name, email, status, code) => {
      const res = await fetch(`${stack.origin}/bff/home-realm?email=${encodeURIComponent(email)}`);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await res.json()) as { code: string }).code).toBe(code);
    });

    it('refuses a missing or repeated email', async () => {
      for (const query of ['', '?email=a@acme.test&email=b@acme.test']) {
        const res = await fetch(`${stack.origin}/bff/home-realm${query}`);
        expect(res.status).toBe(400);
        expect(((await res.json()) as { code: string }).code).toBe('invalid_parameter');
      }
    });
  });
});
