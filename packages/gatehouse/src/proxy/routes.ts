import type { RouteConfig } from '../config/schema.ts';
import { GatehouseError, notFound } from '../errors.ts';

export interface RouteMatch {
  route: RouteConfig;
  /** The upstream URL: the route's upstream base + the path after the prefix + the raw query. */
  upstreamUrl: URL;
}

// Anything that could change meaning after a decode or a normalisation step somewhere downstream.
const SUSPICIOUS_PATH = /%(?:2e|2f|5c|25|00)|\\|;|\/\.{1,2}(?:\/|$)|\/\//i;

/**
 * Finds the route for a raw request target (`/api/demo/notes?x=1`). Paths are refused — never
 * forwarded — when they contain dot segments, encoded dots/slashes/backslashes/percents, `;`
 * (`..;` tricks) or empty segments, so the upstream sees exactly the path we matched.
 */
export function matchRoute(routes: readonly RouteConfig[], rawTarget: string): RouteMatch {
  const queryIndex = rawTarget.indexOf('?');
  const rawPath = queryIndex === -1 ? rawTarget : rawTarget.slice(0, queryIndex);
  const rawQuery = queryIndex === -1 ? '' : rawTarget.slice(queryIndex);
  if (SUSPICIOUS_PATH.test(rawPath) || /[\u0000-\u0020\u007f]/.test(rawPath)) {
    throw new GatehouseError(400, 'invalid_path', 'The request path is not allowed.');
  }
  const route = routes.find((r) => rawPath === r.prefix || rawPath.startsWith(`${r.prefix}/`));
  if (!route) throw notFound('No API route matches this path.');

  const base = new URL(route.upstream);
  const basePath = base.pathname.replace(/\/$/, '');
  const upstreamUrl = new URL(`${base.origin}${basePath}${rawPath.slice(route.prefix.length) || '/'}${rawQuery}`);
  // Defence in depth: whatever the URL parser did, the result must stay under the upstream base.
  if (upstreamUrl.origin !== base.origin || !upstreamUrl.pathname.startsWith(basePath)) {
    throw new GatehouseError(400, 'invalid_path', 'The request path is not allowed.');
  }
  return { route, upstreamUrl };
}
