import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import type { KeyValueStore } from '../session/kv.ts';
import type { Provider } from '../tenants/model.ts';
import type { LOGOUT_MODES } from '../tenants/provider-schema.ts';
import { RESERVED_END_SESSION_PARAMETERS } from '../tenants/provider-schema.ts';

/**
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) as a top-level navigation: the
 * browser is redirected to the IdP's end-session URL (or Cognito's `/logout`), which comes back
 * to `/bff/signed-out` with the `state` Gatehouse sent; that state, remembered here for a short
 * while, says where in the app to land. No URL and no token ever reaches a script.
 */

/** How a provider ends the user's session at the IdP. */
export type LogoutMode = (typeof LOGOUT_MODES)[number];

/** The provider's logout settings. */
export type LogoutSettings = Pick<Provider, 'logout' | 'endSessionParams'>;

export { RESERVED_END_SESSION_PARAMETERS };

/** How long the browser has to come back from the IdP's logout page. */
export const LOGOUT_STATE_TTL_MS = 10 * 60 * 1000;

const stateKey = (state: string) => `logout:${state}`;
const STATE_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** The `state` of one logout and where the app continues afterwards (kept in the key-value store). */
export async function rememberLogout(
  store: Pick<KeyValueStore, 'put'>,
  returnTo: string,
  ttlMs = LOGOUT_STATE_TTL_MS,
): Promise<string> {
  const state = randomBytes(32).toString('base64url');
  await store.put(stateKey(state), returnTo, ttlMs);
  return state;
}

/**
 * Where the app continues after the IdP's logout: the `returnTo` remembered under `state`, used
 * up once. A missing, malformed, unknown, expired or reused state gives `undefined` (the caller
 * lands on `/`); a store failure throws.
 */
export async function takeLogout(
  store: Pick<KeyValueStore, 'take'>,
  state: string | undefined,
): Promise<string | undefined> {
  if (state === undefined || !STATE_SHAPE.test(state)) return undefined;
  return store.take(stateKey(state));
}

export interface EndSessionRequest {
  /** The session's ID token: sent as `id_token_hint` when there is one. */
  idToken?: string | undefined;
  /** A hint about the user when there is no ID token (`logout_hint`, RP-Initiated Logout §2). */
  logoutHint?: string | undefined;
  /** `<origin>/bff/signed-out`, registered at the IdP. */
  postLogoutRedirectUri: string;
  /** Comes back to the post-logout redirect URI (`end-session` only). */
  state: string;
}

/**
 * The URL the browser goes to for the IdP to end its own session, or `null` when there is none
 * (`logout: 'none'`, or an OP without an end-session endpoint). `end-session` builds an
 * RP-Initiated Logout request through openid-client (`client_id` always, `id_token_hint` when the
 * session has an ID token, else `logout_hint` when known); `cognito` builds Amazon Cognito's
 * `/logout?client_id=…&logout_uri=…` on the host of its authorization endpoint (the hosted UI).
 */
export function endSessionUrl(
  configuration: client.Configuration,
  settings: LogoutSettings,
  request: EndSessionRequest,
): URL | null {
  const extra = Object.entries(settings.endSessionParams).filter(
    ([name]) => !RESERVED_END_SESSION_PARAMETERS.has(name),
  );
  const metadata = configuration.serverMetadata();
  if (settings.logout === 'none') return null;
  if (settings.logout === 'cognito') {
    const base = metadata.authorization_endpoint ?? metadata.issuer;
    const url = new URL('/logout', base);
    for (const [name, value] of extra) url.searchParams.set(name, value);
    url.searchParams.set('client_id', configuration.clientMetadata().client_id);
    url.searchParams.set('logout_uri', request.postLogoutRedirectUri);
    return url;
  }
  if (!metadata.end_session_endpoint) return null;
  const parameters = new URLSearchParams(Object.fromEntries(extra));
  if (request.idToken) parameters.set('id_token_hint', request.idToken);
  else if (request.logoutHint) parameters.set('logout_hint', request.logoutHint);
  parameters.set('post_logout_redirect_uri', request.postLogoutRedirectUri);
  parameters.set('state', request.state);
  return client.buildEndSessionUrl(configuration, parameters);
}
