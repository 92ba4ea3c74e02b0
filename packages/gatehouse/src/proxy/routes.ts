import type { RouteConfig } from '../config/schema.ts';
import { problem } from '../errors.ts';

export interface RouteMatch {
  route: RouteConfig;
  /** The upstream URL: the route's upstream base + the path after the prefix + the raw query. */
  upstreamUrl: URL;
}

// Anything that could change meaning after a decode or a normalisation step somewhere downstream:
// characters outside visible ASCII, backslashes, `;` (`..;` tricks), `#`; escapes of dot, slash,
// backslash, percent (double encoding), `;`, `?`, `#` and controls; malformed escapes; dot
// segments and empty segments.
const INVALID_CHARACTER = /[^\x21-\x7e]|[\\;#]/;
const DANGEROUS_ESCAPE = /%(?:2e|2f|5c|25|3b|3f|23|[01][0-9a-f]|7f)/i;
const MALFORMED_ESCAPE = /%(?![0-9a-f]{2})/i;
const DOT_OR_EMPTY_SEGMENT = /\/\.{1,2}(?:\/|$)|\/\//;

const invalidPath = () => problem('invalid_path');

/**
 * Refuses a raw path that could change meaning after a decode or normalisation downstream.
 *
 * @throws GatehouseError 400 `invalid_path`
 */
export function assertCleanPath(rawPath: string): void {
  if (
    INVALID_CHARACTER.test(rawPath) ||
    DANGEROUS_ESCAPE.test(rawPath) ||
    MALFORMED_ESCAPE.test(rawPath) ||
    DOT_OR_EMPTY_SEGMENT.test(rawPath)
  ) {
    throw invalidPath();
  }
  try {
    // Overlong or otherwise invalid UTF-8 (`%c0%ae`) decodes differently in different layers.
    decodeURIComponent(rawPath);
  } catch {
    throw invalidPath();
  }
}

/** Each route's upstream base, parsed once (routes are frozen config). */
const bases = new WeakMap<RouteConfig, { base: URL; basePath: string }>();
function upstreamBase(route: RouteConfig): { base: URL; basePath: string } {
  let parsed = bases.get(route);
  if (!parsed) {
    const base = new URL(route.upstream);
    parsed = { base, basePath: base.pathname.replace(/\/$/, '') };
    bases.set(route, parsed);
  }
  return parsed;
}

/**
 * Finds the route for a raw request target (`/api/demo/notes?x=1`). Paths are refused — never
 * forwarded — when they contain dot segments, encoded dots/slashes/backslashes/percents, `;`
 * (`..;` tricks) or empty segments, so the upstream sees exactly the path we matched.
 *
 * @throws GatehouseError 400 `invalid_path`, 404 `not_found`
 * @example
 * matchRoute(config.routes, '/api/demo/notes?x=1').upstreamUrl.href; // 'http://localhost:4001/notes?x=1'
 */
export function matchRoute(routes: readonly RouteConfig[], rawTarget: string): RouteMatch {
  const queryIndex = rawTarget.indexOf('?');
  const rawPath = queryIndex === -1 ? rawTarget : rawTarget.slice(0, queryIndex);
  const rawQuery = queryIndex === -1 ? '' : rawTarget.slice(queryIndex);
  assertCleanPath(rawPath);
  const route = routes.find((r) => rawPath === r.prefix || rawPath.startsWith(`${r.prefix}/`));
  if (!route) throw problem('not_found', { detail: 'No API route matches this path.' });

  const { base, basePath } = upstreamBase(route);
  const upstreamUrl = new URL(
    `${base.origin}${basePath}${rawPath.slice(route.prefix.length) || '/'}${rawQuery}`,
  );
  // Defence in depth: whatever the URL parser did, the result must stay under the upstream base.
  if (upstreamUrl.origin !== base.origin || !upstreamUrl.pathname.startsWith(basePath)) {
    throw invalidPath();
  }
  return { route, upstreamUrl };
}
