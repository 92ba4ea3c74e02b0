import { CookieJar } from 'tough-cookie';

export interface CookieFetch {
  (url: string, init?: RequestInit): Promise<Response>;
  jar: CookieJar;
  /** The raw value of a cookie visible to `url`. */
  cookie(url: string, name: string): Promise<string | undefined>;
}

/**
 * fetch with a real cookie jar (tough-cookie: domain, path, Secure, SameSite-agnostic) that
 * never follows redirects, so tests see every hop of a login.
 */
export function createCookieFetch(jar = new CookieJar()): CookieFetch {
  const cookieFetch = async (url: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    const cookie = await jar.getCookieString(url);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const setCookie of res.headers.getSetCookie()) {
      await jar.setCookie(setCookie, url, { ignoreError: true });
    }
    return res;
  };
  return Object.assign(cookieFetch, {
    jar,
    async cookie(url: string, name: string) {
      const cookies = await jar.getCookies(url);
      return cookies.find((c) => c.key === name)?.value;
    },
  });
}
