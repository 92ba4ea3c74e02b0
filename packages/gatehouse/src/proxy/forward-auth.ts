import type { RouteConfig } from '../config/schema.ts';
import { problem } from '../errors.ts';
import type { SessionRecord } from '../session/model.ts';
import { assertCleanPath } from './routes.ts';

/**
 * Gateway mode (forward-auth): the decisions behind `/bff/authz`, which a reverse proxy (nginx
 * `auth_request`, Traefik `forwardAuth`) asks before it forwards a browser's request to an API.
 * The proxy copies the browser's headers (cookie, `X-CSRF`, `Origin`, `Sec-Fetch-Site`) into its
 * subrequest and names the original method and URI in headers of its own; those two are
 * believed only from a trusted peer, and the CSRF rules apply to the original method.
 */

/** The request headers as Node parses them (lower-case names; repeated ones as arrays or joined). */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** The browser's request that the gateway asks about. */
export interface OriginalRequest {
  method: string;
  /** Path and query, as the browser sent them. */
  uri: string;
}

/** Methods that change nothing: the session cookie alone authorizes them. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

// Both spellings are read: nginx configurations commonly set X-Original-*, Traefik sets
// X-Forwarded-*. A gateway that sets one spelling may pass the browser's own copy of the other
// through, so two values that disagree are refused rather than one of them believed.
const METHOD_HEADERS = ['x-forwarded-method', 'x-original-method'] as const;
const URI_HEADERS = ['x-forwarded-uri', 'x-original-uri'] as const;
/** An RFC 9110 method token. */
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;
const MAX_URI_LENGTH = 8192;

const invalid = (detail?: string) =>
  problem('gateway_request_invalid', detail === undefined ? undefined : { detail });

/**
 * The original method and URI, from a trusted peer only: from anyone else the headers mean
 * nothing, and since the answer carries a bearer token, the request is refused as a whole.
 *
 * @throws GatehouseError 403 `gateway_untrusted`, 400 `gateway_request_invalid`, 400 `invalid_path`
 * @example
 * originalRequest(true, { 'x-forwarded-method': 'POST', 'x-forwarded-uri': '/orders/7' });
 * // { method: 'POST', uri: '/orders/7' }
 */
export function originalRequest(trustedPeer: boolean, headers: RequestHeaders): OriginalRequest {
  if (!trustedPeer) throw problem('gateway_untrusted');
  const method = oneOf(headers, METHOD_HEADERS);
  const uri = oneOf(headers, URI_HEADERS);
  if (method === undefined || !METHOD.test(method)) {
    throw invalid(
      'The gateway must send the original method (X-Forwarded-Method or X-Original-Method).',
    );
  }
  if (uri === undefined || !uri.startsWith('/') || uri.length > MAX_URI_LENGTH) {
    throw invalid(
      'The gateway must send the original URI (X-Forwarded-Uri or X-Original-URI), a path.',
    );
  }
  const queryIndex = uri.indexOf('?');
  assertCleanPath(queryIndex === -1 ? uri : uri.slice(0, queryIndex));
  return { method, uri };
}

/** The one value the given header names agree on; absent when none is sent. */
function oneOf(headers: RequestHeaders, names: readonly string[]): string | undefined {
  let found: string | undefined;
  for (const name of names) {
    const value = headers[name];
    if (value === undefined) continue;
    // Node joins repeated custom headers with ", ", which no method or clean path contains.
    if (Array.isArray(value) || (found !== undefined && found !== value)) throw invalid();
    found = value;
  }
  return found;
}

/**
 * The CSRF rules of the API proxy, applied to the original request: any method is refused from a
 * foreign `Origin` or with `Sec-Fetch-Site: cross-site`; an unsafe one also needs `X-CSRF: 1`
 * (a cross-site form cannot set it, and a cross-site fetch that does needs a preflight nobody
 * grants). A safe method needs only the cookie, so plain links and page loads work.
 *
 * @throws GatehouseError 403 `csrf_header_required`, 403 `foreign_origin`
 */
export function assertCsrf(
  original: OriginalRequest,
  headers: RequestHeaders,
  publicOrigin: string,
): void {
  if (!SAFE_METHODS.has(original.method) && headers['x-csrf'] !== '1') {
    throw problem('csrf_header_required');
  }
  const origin = headers.origin;
  if (origin !== undefined && origin !== publicOrigin) throw problem('foreign_origin');
  if (headers['sec-fetch-site'] === 'cross-site') throw problem('foreign_origin');
}

/** Route names as in `/api/<name>`. */
const ROUTE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * The route whose token settings apply: the one the subrequest names (`?route=<name>`), else the
 * configured default, else none (the session's own access token). The original method must be
 * one the route allows.
 *
 * @throws GatehouseError 404 `not_found`, 405 `method_not_allowed`
 */
export function gatewayRoute(
  routes: readonly RouteConfig[],
  requested: string | undefined,
  fallback: string | undefined,
  method: string,
): RouteConfig | undefined {
  const name = requested ?? fallback;
  if (name === undefined) return undefined;
  const route = ROUTE_NAME.test(name)
    ? routes.find((candidate) => candidate.prefix === `/api/${name}`)
    : undefined;
  if (!route) throw problem('not_found', { detail: 'No API route has this name.' });
  if (!route.methods.includes(method as (typeof route.methods)[number])) {
    throw problem('method_not_allowed', { headers: { allow: route.methods.join(', ') } });
  }
  return route;
}

/** Whether a request without a session is refused (401) rather than let through anonymously. */
export function needsSession(route: RouteConfig | undefined): boolean {
  return route === undefined || route.tokenMode === 'user' || route.tokenMode === 'gatehouse';
}

/**
 * Who the session belongs to, for the gateway to pass to the API: never the cookie or the session
 * id (the session handle is the opaque one the session list shows). Values outside visible
 * ASCII, and `%`, are percent-encoded (UTF-8), so that an IdP's odd `sub` can never break or
 * inject a header line.
 */
export function identityHeaders(record: SessionRecord): Record<string, string> {
  return {
    'x-gatehouse-subject': headerSafe(record.sub),
    'x-gatehouse-issuer': headerSafe(record.issuer),
    'x-gatehouse-tenant': headerSafe(record.tenant),
    'x-gatehouse-provider': headerSafe(record.provider),
    'x-gatehouse-session': headerSafe(record.handle),
  };
}

const encoder = new TextEncoder();

/**
 * Percent-encodes everything but visible ASCII other than `%`, byte by byte (UTF-8).
 *
 * @example
 * headerSafe('auth0|42'); // 'auth0|42'
 * headerSafe('zoë\r\nx: 1'); // 'zo%C3%AB%0D%0Ax:%201'
 */
export function headerSafe(value: string): string {
  return value.replace(/[^\x21-\x24\x26-\x7e]/gu, (char) =>
    Array.from(
      encoder.encode(char),
      (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    ).join(''),
  );
}
