import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

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

/** Never forwarded upstream: the browser's credentials, our CSRF marker, client-asserted forwarding. */
const DROPPED_REQUEST = new Set([
  'cookie',
  'authorization',
  'host',
  'x-csrf',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-real-ip',
]);

function connectionListed(headers: IncomingHttpHeaders | Record<string, unknown>): Set<string> {
  const value = headers.connection;
  const text = Array.isArray(value) ? value.join(',') : typeof value === 'string' ? value : '';
  return new Set(text.split(',').map((token) => token.trim().toLowerCase()).filter(Boolean));
}

export interface ForwardingContext {
  /** The client address as express computed it (honours `trust proxy`). */
  clientIp: string | undefined;
  publicUrl: URL;
  /** `Bearer …` or nothing. */
  authorization?: string;
  requestId: string;
}

/** The headers sent upstream: the browser's, minus credentials and hop-by-hop, plus ours. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  context: ForwardingContext,
): Record<string, string | string[]> {
  const listed = connectionListed(incoming);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || DROPPED_REQUEST.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  if (context.authorization) out.authorization = context.authorization;
  if (context.clientIp) out['x-forwarded-for'] = context.clientIp;
  out['x-forwarded-proto'] = context.publicUrl.protocol.slice(0, -1);
  out['x-forwarded-host'] = context.publicUrl.host;
  out['x-request-id'] = context.requestId;
  return out;
}

/** The headers sent back to the browser: the upstream's, minus hop-by-hop and (by default) cookies. */
export function downstreamResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  options: { allowSetCookie: boolean },
): OutgoingHttpHeaders {
  const listed = connectionListed(upstream);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstream)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    if (lower === 'set-cookie' && !options.allowSetCookie) continue;
    out[lower] = value;
  }
  return out;
}
