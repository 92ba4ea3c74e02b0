import * as client from 'openid-client';
import type { FetchWithCookies } from '../src/index.ts';

interface StoredCookie {
  name: string;
  value: string;
  path: string;
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath || cookiePath === '/') return true;
  return requestPath.startsWith(cookiePath.endsWith('/') ? cookiePath : `${cookiePath}/`);
}

function parseSetCookie(header: string): { cookie: StoredCookie; expired: boolean } {
  const [pair = '', ...attributes] = header.split(';').map((part) => part.trim());
  const eq = pair.indexOf('=');
  const cookie = { name: pair.slice(0, eq), value: pair.slice(eq + 1), path: '/' };
  let expired = false;
  for (const attribute of attributes) {
    const [key = '', val = ''] = attribute.split('=');
    const lower = key.toLowerCase();
    if (lower === 'path') cookie.path = val;
    if (lower === 'max-age' && Number(val) <= 0) expired = true;
    if (lower === 'expires' && Date.parse(val) <= Date.now()) expired = true;
  }
  return { cookie, expired };
}

/** A cookie-keeping fetch for one host (tests only use localhost). Never follows redirects. */
export function createCookieFetch(): FetchWithCookies {
  const jar = new Map<string, StoredCookie>();
  return async (url, init = {}) => {
    const { pathname } = new URL(url);
    const cookieHeader = [...jar.values()]
      .filter((c) => pathMatches(pathname, c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    const headers = new Headers(init.headers);
    if (cookieHeader) headers.set('cookie', cookieHeader);
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const header of res.headers.getSetCookie()) {
      const { cookie, expired } = parseSetCookie(header);
      const key = `${cookie.name}|${cookie.path}`;
      if (expired) jar.delete(key);
      else jar.set(key, cookie);
    }
    return res;
  };
}

/** Does what the logout page's script does: posts its self-submitting form. */
export async function submitLogoutConfirmation(
  fetchWithCookies: FetchWithCookies,
  endSessionUrl: string,
) {
  const html = await (await fetchWithCookies(endSessionUrl)).text();
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1] ?? '';
  const body = new URLSearchParams();
  for (const [, name = '', value = ''] of html.matchAll(
    /<input type="hidden" name="([^"]+)" value="([^"]*)"/g,
  )) {
    body.set(name, value);
  }
  const response = await fetchWithCookies(new URL(action, endSessionUrl).href, {
    method: 'POST',
    body,
  });
  return { html, response };
}

/** The authorization URL of a code + PKCE sign-in at the globex realm, for Gatehouse at `gatehouse`. */
export function globexAuthorizationUrl(
  config: client.Configuration,
  challenge: string,
  gatehouse: string,
): string {
  return client.buildAuthorizationUrl(config, {
    redirect_uri: `${gatehouse}/bff/callback/globex/dev`,
    scope: 'openid profile email offline_access',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    prompt: 'consent',
  }).href;
}
