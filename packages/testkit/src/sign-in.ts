import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import type { CookieFetch } from './cookie-fetch.ts';

/**
 * Signs a cookie-jar client in through Gatehouse and the dev IdP's real pages, over HTTP:
 * `/bff/login` → IdP login + consent → `/bff/callback/…` → the validated returnTo.
 * Returns the final redirect target (the returnTo path).
 */
export async function signIn(
  http: CookieFetch,
  gatehouseOrigin: string,
  credentials: { login: string; password: string },
  query: Record<string, string> = {},
): Promise<string> {
  const start = await http(`${gatehouseOrigin}/bff/login?${new URLSearchParams(query).toString()}`);
  const authorizationUrl = start.headers.get('location');
  if (start.status !== 302 || !authorizationUrl)
    throw new Error(`login did not redirect: ${start.status}`);
  const callbackUrl = await completeDevIdpLogin(http, authorizationUrl, credentials);
  const callback = await http(callbackUrl);
  const target = callback.headers.get('location');
  if (callback.status !== 302 || !target) {
    throw new Error(`callback failed: ${callback.status} ${await callback.text()}`);
  }
  return target;
}
