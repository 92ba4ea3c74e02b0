import { LRUCache } from 'lru-cache';
import type { RouteConfig } from '../config/schema.ts';
import { problem } from '../errors.ts';

/** A route matched to a request target. Shared by every request with the same target: read only. */
export interface RouteMatch {
  readonly route: RouteConfig;
  /**
   * The upstream URL: the route's upstream base + the path after the prefix + the raw query. A
   * new URL object at each read (a caller may change it without touching the shared match).
   */
  readonly upstreamUrl: URL;
  /** `upstreamUrl`'s origin and its path with the query, as an HTTP client sends them. */
  readonly upstreamOrigin: string;
  readonly upstreamPath: string;
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
 * Matches already made, per list of routes (the config's, fixed for its life), by raw target:
 * a browser calls the same few targets again and again. Only a match is kept (a refused target
 * is checked again each time); bounded in entries and in the length of a target kept.
 */
const matches = new WeakMap<readonly RouteConfig[], LRUCache<string, RouteMatch>>();
const MAX_REMEMBERED_TARGET = 512;

/**
 * Finds the route for a raw request target (`/api/demo/notes?x=1`). Paths are refused — never
 * forwarded — when they contain dot segments, encoded dots/slashes/backslashes/percents, `;`
 * (`..;` tricks) or empty segments, so the upstream sees exactly the path we matched. The same
 * target gives the same (cached) match object.
 *
 * @throws GatehouseError 400 `invalid_path`, 404 `not_found`
 * @example
 * matchRoute(config.routes, '/api/demo/notes?x=1').upstreamUrl.href; // 'http://localhost:4001/notes?x=1'
 */
export function matchRoute(routes: readonly RouteConfig[], rawTarget: string): RouteMatch {
  if (rawTarget.length > MAX_REMEMBERED_TARGET) return findRoute(routes, rawTarget);
  let cache = matches.get(routes);
  if (!cache) {
    cache = new LRUCache<string, RouteMatch>({ max: 2000 });
    matches.set(routes, cache);
  }
  let match = cache.get(rawTarget);
  if (match === undefined) {
    match = findRoute(routes, rawTarget);
    cache.set(rawTarget, match);
  }
  return match;
}

function findRoute(routes: readonly RouteConfig[], rawTarget: string): RouteMatch {
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
  const { href } = upstreamUrl;
  return Object.freeze({
    route,
    get upstreamUrl() {
      return new URL(href);
    },
    upstreamOrigin: upstreamUrl.origin,
    upstreamPath: `${upstreamUrl.pathname}${upstreamUrl.search}`,
  });
}
