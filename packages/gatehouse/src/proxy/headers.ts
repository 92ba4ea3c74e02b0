import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { setsGatehouseCookie } from '../session/cookie-names.ts';

/** RFC 9110 hop-by-hop headers plus the ones proxies must not pass on. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * Never forwarded upstream: the browser's credentials (a `DPoP` proof among them), our CSRF marker, client-asserted client
 * addresses and hosts (we set our own), request rewrites (`X-Original-URL`) and method overrides
 * that would get round the route's path and method checks, and `Expect` (Node answers
 * `100-continue` itself; undici refuses to send it). Trace context (W3C `traceparent`,
 * `tracestate`, `baggage`) from the browser is not forwarded either: Gatehouse is the edge, a
 * browser does not choose the backends' trace ids, and with tracing on Gatehouse sends its own
 * `traceparent` (added by the undici instrumentation after these headers), never a second one.
 */
const DROPPED_REQUEST = new Set([
  'cookie',
  'authorization',
  'dpop',
  'host',
  'x-csrf',
  'expect',
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'x-cluster-client-ip',
  'x-original-host',
  'x-host',
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'traceparent',
  'tracestate',
  'baggage',
]);

const isDroppedRequestHeader = (name: string) =>
  DROPPED_REQUEST.has(name) || name.startsWith('x-forwarded-');

/**
 * The header names a `Connection` header lists (hop-by-hop by declaration), lower-cased; one
 * pass over the names, and nothing allocated when there is no `Connection` header.
 */
function connectionListed(headers: Record<string, unknown>): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (const name in headers) {
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    const value = headers[name];
    for (const item of Array.isArray(value) ? (value as unknown[]) : [value]) {
      if (typeof item !== 'string') continue;
      for (const token of item.split(',')) {
        const trimmed = token.trim().toLowerCase();
        if (trimmed) (listed ??= new Set()).add(trimmed);
      }
    }
  }
  return listed;
}

export interface ForwardingContext {
  /** The client address as express computed it (honours `trust proxy`). */
  clientIp: string | undefined;
  publicUrl: URL;
  /** `Bearer …`, `DPoP …` or nothing. */
  authorization?: string;
  /** The DPoP proof of this call, with a `DPoP …` authorization (RFC 9449 §7.1). */
  dpop?: string;
  requestId: string;
}

/** `X-Forwarded-Proto` and `X-Forwarded-Host` of a public URL, worked out once per URL object. */
const forwardedOf = new WeakMap<URL, { proto: string; host: string }>();
function forwarded(publicUrl: URL): { proto: string; host: string } {
  let known = forwardedOf.get(publicUrl);
  if (!known) {
    known = { proto: publicUrl.protocol.slice(0, -1), host: publicUrl.host };
    forwardedOf.set(publicUrl, known);
  }
  return known;
}

/** The headers sent upstream: the browser's, minus credentials and hop-by-hop, plus ours. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  context: ForwardingContext,
): Record<string, string | string[]> {
  const listed = connectionListed(incoming);
  const out: Record<string, string | string[]> = {};
  for (const rawName in incoming) {
    const value = incoming[rawName];
    const name = rawName.toLowerCase();
    if (
      value === undefined ||
      HOP_BY_HOP.has(name) ||
      isDroppedRequestHeader(name) ||
      listed?.has(name)
    ) {
      continue;
    }
    out[name] = value;
  }
  if (context.authorization) out.authorization = context.authorization;
  if (context.dpop) out.dpop = context.dpop;
  if (context.clientIp) out['x-forwarded-for'] = context.clientIp;
  const { proto, host } = forwarded(context.publicUrl);
  out['x-forwarded-proto'] = proto;
  out['x-forwarded-host'] = host;
  out['x-request-id'] = context.requestId;
  return out;
}

export interface DownstreamHeaderOptions {
  allowSetCookie: boolean;
  /**
   * Gatehouse's own headers of every answer (security headers, lower-case names), written first
   * so that the upstream's own value of one of them wins, as with `res.setHeader` before.
   */
  ours?: ReadonlyArray<readonly [string, string]> | undefined;
  /** The request id, as `X-Request-Id` (before the upstream's headers, likewise). */
  requestId?: string | undefined;
}

/** Each list of Gatehouse's own answer headers as an object, made once (the lists are fixed). */
const oursObjects = new WeakMap<ReadonlyArray<readonly [string, string]>, OutgoingHttpHeaders>();
function oursObject(ours: ReadonlyArray<readonly [string, string]>): OutgoingHttpHeaders {
  let object = oursObjects.get(ours);
  if (!object) {
    object = {};
    for (const [name, value] of ours) object[name] = value;
    oursObjects.set(ours, Object.freeze(object));
  }
  return object;
}

/**
 * The headers sent back to the browser: Gatehouse's own, then the upstream's, minus hop-by-hop
 * and (by default) cookies — one object for `writeHead`.
 */
export function downstreamResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  options: DownstreamHeaderOptions,
): OutgoingHttpHeaders {
  const listed = connectionListed(upstream);
  // Gatehouse's own headers: one copy of an object built once per list.
  const out: OutgoingHttpHeaders = options.ours ? { ...oursObject(options.ours) } : {};
  if (options.requestId !== undefined) out['x-request-id'] = options.requestId;
  for (const name in upstream) {
    const value = upstream[name];
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || listed?.has(lower)) continue;
    // Only Gatehouse itself may say "your session is gone" (the SDK trusts this header), or end
    // it in the browser: `Clear-Site-Data: "cookies"` deletes every cookie of the site, the
    // HTTP-only session cookie included, whatever `allowSetCookie` says.
    if (lower === 'gatehouse-problem' || lower === 'clear-site-data') continue;
    if (lower === 'set-cookie') {
      if (!options.allowSetCookie) continue;
      const allowed = (Array.isArray(value) ? value : [value]).filter(
        (line) => !setsGatehouseCookie(line),
      );
      if (allowed.length > 0) out[lower] = allowed;
      continue;
    }
    out[lower] = value;
  }
  return out;
}
