/** The cookie that carries the session id (signed by express-session). */
const SESSION_COOKIE = 'gatehouse';
/** The cookie that binds a login transaction to the browser that started it. */
const LOGIN_BINDING_COOKIE = 'gatehouse-login';

/** The names of Gatehouse's own cookies in one deployment. */
export interface CookieNames {
  session: string;
  loginBinding: string;
}

/**
 * `__Host-` prefixed names when served over https (the prefix requires Secure, Path=/, no Domain).
 *
 * @example
 * ```ts
 * cookieNames(true).session; // '__Host-gatehouse'
 * ```
 */
export function cookieNames(secure: boolean): CookieNames {
  const prefix = secure ? '__Host-' : '';
  return {
    session: `${prefix}${SESSION_COOKIE}`,
    loginBinding: `${prefix}${LOGIN_BINDING_COOKIE}`,
  };
}

/**
 * Whether a `Set-Cookie` line names one of Gatehouse's own cookies, with or without a prefix and
 * in any case: an upstream allowed to set cookies must still never plant a session or
 * login-binding cookie (session fixation).
 */
export function setsGatehouseCookie(setCookie: string): boolean {
  const name = setCookie
    .slice(0, setCookie.indexOf('='))
    .trim()
    .toLowerCase()
    .replace(/^__(?:host|secure)-/, '');
  return name === SESSION_COOKIE || name === LOGIN_BINDING_COOKIE;
}
