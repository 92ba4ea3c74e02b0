import type { IncomingHttpHeaders } from 'node:http';
import type { RouteConfig } from '../config/schema.ts';
import { problem } from '../errors.ts';
import { upstreamRequestHeaders, type ForwardingContext } from './headers.ts';
import { matchRoute, type RouteMatch } from './routes.ts';

/** What an upgrade request looks like before any store access. */
export interface UpgradeRequest {
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHttpHeaders;
}

/** A WebSocket upgrade that passed every check that needs no store: its route and subprotocols. */
export interface WebSocketTarget extends RouteMatch {
  /** The upstream's `ws:`/`wss:` URL. */
  socketUrl: URL;
  /** The subprotocols the browser offered, in its order (may be empty). */
  protocols: string[];
}

/** RFC 6455 4.1: 16 random bytes, base64 (what `ws` itself accepts). */
const SEC_WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;
/** RFC 9110 token, the syntax of a subprotocol name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const MAX_PROTOCOLS = 16;

/**
 * Whether a request asks for a WebSocket (`Upgrade: websocket`): only these reach the upgrade
 * handler; any other `Upgrade` (such as `h2c`) is served as a plain HTTP request.
 */
export function isWebSocketUpgrade(headers: IncomingHttpHeaders): boolean {
  return (headers.upgrade ?? '').trim().toLowerCase() === 'websocket';
}

/**
 * Every check of a WebSocket upgrade that needs no store, cheapest first: a well-formed RFC 6455
 * handshake, a `GET`, an `Origin` exactly equal to the public origin (browsers cannot add the
 * `X-CSRF` header to a WebSocket, so the Origin they always send is the CSRF defence; a missing
 * one is refused too), a clean `/api/…` path whose route accepts WebSockets.
 *
 * @throws GatehouseError 400 `bad_websocket_handshake` / `invalid_path`, 403 `foreign_origin`,
 *   404 `not_found` / `websocket_not_enabled`, 405 `method_not_allowed`
 * @example
 * checkUpgrade(routes, 'http://localhost:3000', req).socketUrl.href; // 'ws://localhost:4001/ws/echo'
 */
export function checkUpgrade(
  routes: readonly RouteConfig[],
  publicOrigin: string,
  req: UpgradeRequest,
): WebSocketTarget {
  const url = req.url ?? '';
  if (url !== '/api' && !url.startsWith('/api/')) {
    throw problem('not_found', { detail: 'WebSockets are accepted under /api only.' });
  }
  if (req.method !== 'GET') {
    throw problem('method_not_allowed', { headers: { allow: 'GET' } });
  }
  const protocols = checkHandshakeHeaders(req.headers);
  const origin = req.headers.origin;
  if (origin !== publicOrigin) {
    throw problem('foreign_origin', {
      detail:
        origin === undefined
          ? 'A WebSocket upgrade must carry the Origin of this site.'
          : 'WebSocket upgrades from another origin are not allowed.',
    });
  }
  const match = matchRoute(routes, url);
  if (!match.route.websocket) throw problem('websocket_not_enabled');
  const socketUrl = new URL(match.upstreamUrl);
  socketUrl.protocol = socketUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  // A `#` after the `?` (only a hand-made request has one) is dropped, as the HTTP proxy does:
  // `ws` refuses to dial a URL with a fragment, which would make the client's input a 502.
  socketUrl.hash = '';
  return { ...match, socketUrl, protocols };
}

/** The RFC 6455 request headers; returns the offered subprotocols. */
function checkHandshakeHeaders(headers: IncomingHttpHeaders): string[] {
  const invalid = (detail: string, extra: Record<string, string> = {}) =>
    problem('bad_websocket_handshake', { detail, headers: extra });
  const connection = (headers.connection ?? '')
    .split(',')
    .map((token) => token.trim().toLowerCase());
  if (!isWebSocketUpgrade(headers) || !connection.includes('upgrade')) {
    throw invalid('Upgrade: websocket and Connection: Upgrade are required.');
  }
  const key = headers['sec-websocket-key'];
  if (typeof key !== 'string' || !SEC_WEBSOCKET_KEY.test(key.trim())) {
    throw invalid('Sec-WebSocket-Key must be 16 bytes in base64.');
  }
  if (headers['sec-websocket-version'] !== '13') {
    throw invalid('Only WebSocket version 13 is supported.', { 'sec-websocket-version': '13' });
  }
  const offered = headers['sec-websocket-protocol'];
  if (offered === undefined) return [];
  const protocols = offered.split(',').map((name) => name.trim());
  if (
    protocols.length > MAX_PROTOCOLS ||
    protocols.some((name) => !TOKEN.test(name)) ||
    new Set(protocols).size !== protocols.length
  ) {
    throw invalid('Sec-WebSocket-Protocol must list distinct subprotocol names.');
  }
  return protocols;
}

/**
 * The headers of the upstream handshake: the HTTP proxy's policy (no browser cookies or
 * `Authorization`, no hop-by-hop or forwarding headers; ours added), without the browser's
 * `Sec-WebSocket-*` headers — the upstream leg is a handshake of its own, made by `ws` — and
 * without a body's framing: `ws` sends none, and an upstream told of one would wait for it.
 */
export function upstreamHandshakeHeaders(
  incoming: IncomingHttpHeaders,
  context: ForwardingContext,
): Record<string, string | string[]> {
  const headers = upstreamRequestHeaders(incoming, context);
  for (const name of Object.keys(headers)) {
    if (name.startsWith('sec-websocket-') || name === 'content-length') delete headers[name];
  }
  return headers;
}
