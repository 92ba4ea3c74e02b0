/*
 * Over 300 lines on purpose: the SSRF guard is one policy (which URLs, which addresses at
 * connect time, redirects, time and size limits, the one public error), reviewed top to bottom;
 * split, a reader would miss where an address is checked. Address ranges: address-policy.ts.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';
import type { Dispatcher } from 'undici';
import { brotliDecompressSync, gunzipSync, inflateSync, zstdDecompressSync } from 'node:zlib';
import { isPublicUnicastAddress } from './address-policy.ts';

export interface GuardedFetchOptions {
  mode: 'production' | 'development';
  /**
   * Development only: exact origins (scheme, host, port) that may use http and loopback/private
   * addresses, e.g. `['http://localhost:4000']`. Passing any in production is a configuration error.
   */
  allowedDevOrigins?: string[];
  /** Total time per request including the body, in milliseconds. Default 5000. */
  timeoutMs?: number;
  /** Largest accepted (decoded) response body in bytes. Default 1 MiB. */
  maxResponseBytes?: number;
  /** Test seam: DNS lookup with the signature of `dns.lookup`. */
  lookup?: typeof dnsLookup;
}

/** Why a request was refused; for logs and tests only, never for the API response. */
export type OutboundBlockReason =
  | 'invalid_url'
  | 'userinfo_not_allowed'
  | 'scheme_not_allowed'
  | 'address_not_allowed'
  | 'redirect_not_followed'
  | 'response_too_large'
  | 'timeout'
  | 'aborted'
  | 'network_error';

/** The one public message: it must not tell a port scanner what it found. */
export const OUTBOUND_PUBLIC_MESSAGE = 'the provider URL could not be fetched';

/**
 * Every failure of the guarded fetch, whatever the cause, so callers cannot tell a refused address
 * from a closed port. `message` is generic; `reason` and `detail` are precise, for logs.
 */
export class OutboundRequestBlocked extends Error {
  readonly code = 'outbound_blocked';
  readonly reason: OutboundBlockReason;
  /** Internal detail (origin, resolved address, limit); no path, query or credentials. */
  readonly detail: string;

  constructor(reason: OutboundBlockReason, detail: string, options?: ErrorOptions) {
    super(OUTBOUND_PUBLIC_MESSAGE, options);
    this.name = 'OutboundRequestBlocked';
    this.reason = reason;
    this.detail = detail;
  }
}

export type GuardedFetch = typeof fetch & {
  /** The undici dispatcher all guarded requests use (exposed for tests and metrics). */
  dispatcher: Dispatcher;
  /** Closes the pooled connections. */
  close(): Promise<void>;
};

interface ResolvedOptions {
  devOrigins: ReadonlySet<string>;
  timeoutMs: number;
  maxResponseBytes: number;
  lookup: typeof dnsLookup;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/**
 * Builds the fetch that all traffic to tenant-supplied provider URLs must use: https to public
 * unicast addresses only (checked on the address actually connected to, so DNS rebinding cannot
 * slip through), no redirects, time and size limits, one generic error. Any port is allowed.
 *
 * @example
 * const guardedFetch = createGuardedFetch({ mode: 'production' });
 * await client.discovery(issuer, clientId, secret, undefined, { [client.customFetch]: guardedFetch });
 * await guardedFetch.close();
 */
export function createGuardedFetch(options: GuardedFetchOptions): GuardedFetch {
  const resolved = resolveOptions(options);
  const agent = new Agent({
    connect: createGuardedConnector(resolved),
    headersTimeout: resolved.timeoutMs,
    bodyTimeout: resolved.timeoutMs,
  });

  async function guardedFetch(input: string | URL | Request, init?: RequestInit) {
    const url = parseRequestUrl(input);
    checkRequestUrl(url, resolved.devOrigins);
    // A timer cleared as soon as the body is in: `AbortSignal.timeout` would stay armed, and
    // fire (a DOMException, the abort listeners run) seconds after every finished request.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), resolved.timeoutMs).unref();
    const timeout = deadline.signal;
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    try {
      // undici's `request`, not its `fetch`: the same agent and connector, without the WHATWG
      // fetch machinery (a Request, streams, a Response) built and torn down per call. It never
      // follows redirects; what fetch did on top (default headers, the body's content type,
      // decoding a compressed answer) is done here.
      const { headers, body } = await requestParts(init);
      const response = await agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: (init?.method ?? 'GET').toUpperCase(),
        headers,
        body,
        signal,
      });
      return await toLimitedResponse(response, url, resolved.maxResponseBytes);
    } catch (error) {
      throw toBlocked(error, url, timeout, init?.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  return Object.assign(guardedFetch, {
    dispatcher: agent,
    close: () => agent.close(),
  });
}

function resolveOptions(options: GuardedFetchOptions): ResolvedOptions {
  const { mode, allowedDevOrigins = [], timeoutMs, maxResponseBytes } = options;
  if (mode !== 'production' && mode !== 'development') {
    throw new TypeError('guarded fetch: mode must be "production" or "development"');
  }
  if (mode === 'production' && allowedDevOrigins.length > 0) {
    throw new TypeError('guarded fetch: allowedDevOrigins may only be set in development mode');
  }
  return {
    devOrigins: new Set(allowedDevOrigins.map(parseDevOrigin)),
    timeoutMs: positiveInteger(timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs'),
    maxResponseBytes: positiveInteger(
      maxResponseBytes,
      DEFAULT_MAX_RESPONSE_BYTES,
      'maxResponseBytes',
    ),
    lookup: options.lookup ?? dnsLookup,
  };
}

function parseDevOrigin(origin: string): string {
  const url = URL.parse(origin);
  const isBareOrigin =
    url !== null &&
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.username === '' &&
    url.password === '' &&
    url.pathname === '/' &&
    url.search === '' &&
    url.hash === '';
  if (!isBareOrigin) {
    throw new TypeError(
      `guarded fetch: allowedDevOrigins entry is not a bare http(s) origin: ${origin}`,
    );
  }
  return url.origin;
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`guarded fetch: ${name} must be a positive integer`);
  }
  return value;
}

function parseRequestUrl(input: string | URL | Request): URL {
  if (input instanceof URL) return new URL(input.href);
  // A Request would carry its own body, signal and redirect mode past the guard's options.
  if (typeof input !== 'string') {
    throw new OutboundRequestBlocked('invalid_url', 'Request objects are not accepted');
  }
  const url = URL.parse(input);
  if (url === null) throw new OutboundRequestBlocked('invalid_url', 'unparsable URL');
  return url;
}

function checkRequestUrl(url: URL, devOrigins: ReadonlySet<string>): void {
  if (url.username !== '' || url.password !== '') {
    throw new OutboundRequestBlocked('userinfo_not_allowed', `credentials in URL for ${url.host}`);
  }
  if (devOrigins.has(url.origin)) return;
  if (url.protocol !== 'https:') {
    throw new OutboundRequestBlocked('scheme_not_allowed', `${url.protocol} to ${url.host}`);
  }
}

/**
 * The connector is where the policy bites: literal addresses are checked before any socket is
 * opened, names are checked inside the lookup that `net.connect` itself uses (so the address
 * checked is the address connected to), and the connected peer is checked once more.
 */
function createGuardedConnector(options: ResolvedOptions): buildConnector.connector {
  const timeout = options.timeoutMs;
  const devConnector = buildConnector({ timeout, lookup: options.lookup });
  const publicConnector = buildConnector({
    timeout,
    lookup: createPublicOnlyLookup(options.lookup),
  });

  return (connectOptions, callback) => {
    const { protocol, host, hostname } = connectOptions;
    if (host !== undefined && options.devOrigins.has(`${protocol}//${host}`)) {
      devConnector(connectOptions, callback);
      return;
    }
    if (isIP(hostname) !== 0 && !isPublicUnicastAddress(hostname)) {
      callback(addressNotAllowed(hostname, hostname), null);
      return;
    }
    publicConnector(connectOptions, (error, socket) => {
      if (error !== null) {
        callback(error, null);
        return;
      }
      const remote = socket.remoteAddress ?? '';
      if (!isPublicUnicastAddress(remote)) {
        socket.destroy();
        callback(addressNotAllowed(hostname, remote), null);
        return;
      }
      callback(null, socket);
    });
  };
}

/** A `net.connect` lookup that fails unless every resolved address is public unicast. */
function createPublicOnlyLookup(resolve: typeof dnsLookup): LookupFunction {
  return (hostname: string, lookupOptions: LookupOptions, callback) => {
    resolve(hostname, { ...lookupOptions, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) {
        callback(error, '');
        return;
      }
      const first = addresses[0];
      const refused = addresses.find((entry) => !isPublicUnicastAddress(entry.address));
      if (first === undefined || refused !== undefined) {
        callback(addressNotAllowed(hostname, refused?.address ?? 'no address'), '');
        return;
      }
      if (lookupOptions.all === true) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}

function addressNotAllowed(hostname: string, address: string): OutboundRequestBlocked {
  return new OutboundRequestBlocked('address_not_allowed', `${hostname} -> ${address}`);
}

/** The headers and body of a fetch `init` as undici's `request` takes them. */
async function requestParts(
  init: RequestInit | undefined,
): Promise<{ headers: Record<string, string>; body: string | Uint8Array | null }> {
  const headers = new Headers(init?.headers);
  // What fetch adds when the caller did not say (no `accept-encoding`: an answer comes
  // uncompressed unless the server insists, see `decoded`).
  if (!headers.has('accept')) headers.set('accept', '*/*');
  if (!headers.has('user-agent')) headers.set('user-agent', 'undici');
  const given = init?.body;
  let body: string | Uint8Array | null = null;
  if (typeof given === 'string') {
    body = given;
    if (!headers.has('content-type')) headers.set('content-type', 'text/plain;charset=UTF-8');
  } else if (given instanceof URLSearchParams) {
    body = given.toString();
    if (!headers.has('content-type')) {
      headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
    }
  } else if (given !== undefined && given !== null) {
    // Anything else (bytes, a Blob, a stream, form data) as fetch would send it.
    const extracted = new Response(given);
    body = new Uint8Array(await extracted.arrayBuffer());
    const type = extracted.headers.get('content-type');
    if (type && !headers.has('content-type')) headers.set('content-type', type);
  }
  return { headers: Object.fromEntries(headers), body };
}

/** Refuses redirects, enforces the size limit while reading, returns a standard `Response`. */
async function toLimitedResponse(
  response: Dispatcher.ResponseData,
  url: URL,
  limit: number,
): Promise<Response> {
  const { statusCode: status, body } = response;
  if (status >= 300 && status < 400) {
    discard(body);
    throw new OutboundRequestBlocked('redirect_not_followed', `${status} from ${url.origin}`);
  }
  const headers = responseHeaders(response.headers);
  const declared = Number(headers.get('content-length') ?? 0);
  if (declared > limit) {
    discard(body);
    throw tooLarge(url, limit);
  }
  const bytes = decoded(await readWithLimit(body, url, limit), headers, url, limit);
  const result = new Response(NULL_BODY_STATUSES.has(status) ? null : bytes, {
    status,
    statusText: response.statusText,
    headers,
  });
  Object.defineProperty(result, 'url', { value: url.href });
  return result;
}

/** Drops a body not read (its `destroy` error would otherwise have no listener). */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function responseHeaders(raw: Dispatcher.ResponseData['headers']): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else if (value !== undefined) headers.append(name, value);
  }
  return headers;
}

async function readWithLimit(
  body: Dispatcher.ResponseData['body'],
  url: URL,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > limit) {
      discard(body);
      throw tooLarge(url, limit);
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

const DECODERS: Record<string, (bytes: Uint8Array, maxOutputLength: number) => Buffer> = {
  gzip: (bytes, maxOutputLength) => gunzipSync(bytes, { maxOutputLength }),
  'x-gzip': (bytes, maxOutputLength) => gunzipSync(bytes, { maxOutputLength }),
  deflate: (bytes, maxOutputLength) => inflateSync(bytes, { maxOutputLength }),
  br: (bytes, maxOutputLength) => brotliDecompressSync(bytes, { maxOutputLength }),
  zstd: (bytes, maxOutputLength) => zstdDecompressSync(bytes, { maxOutputLength }),
};

/**
 * The body with its `content-encoding` undone, as fetch would (the last coding first), within
 * the same size limit: a small compressed answer cannot expand past it. An encoding fetch does
 * not decode either is left as it is.
 */
function decoded(
  bytes: Uint8Array<ArrayBuffer>,
  headers: Headers,
  url: URL,
  limit: number,
): Uint8Array<ArrayBuffer> {
  const codings = (headers.get('content-encoding') ?? '')
    .toLowerCase()
    .split(',')
    .map((coding) => coding.trim())
    .filter((coding) => coding !== '' && coding !== 'identity');
  if (codings.length === 0 || !codings.every((coding) => Object.hasOwn(DECODERS, coding))) {
    return bytes;
  }
  let body: Uint8Array = bytes;
  try {
    for (const coding of codings.reverse()) {
      body = DECODERS[coding]?.(body, limit) ?? body;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw tooLarge(url, limit);
    throw error;
  }
  headers.delete('content-encoding');
  headers.delete('content-length');
  return new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength);
}

function tooLarge(url: URL, limit: number): OutboundRequestBlocked {
  return new OutboundRequestBlocked(
    'response_too_large',
    `more than ${limit} bytes from ${url.origin}`,
  );
}

/** Maps anything thrown while fetching to the one public error, keeping the precise cause. */
function toBlocked(
  error: unknown,
  url: URL,
  timeout: AbortSignal,
  callerSignal: AbortSignal | null | undefined,
): OutboundRequestBlocked {
  const blocked = findBlocked(error);
  if (blocked) return blocked;
  if (timeout.aborted) return new OutboundRequestBlocked('timeout', url.origin, { cause: error });
  if (callerSignal?.aborted)
    return new OutboundRequestBlocked('aborted', url.origin, { cause: error });
  return new OutboundRequestBlocked('network_error', `${url.origin}: ${describe(error)}`, {
    cause: error,
  });
}

function findBlocked(error: unknown): OutboundRequestBlocked | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    if (current instanceof OutboundRequestBlocked) return current;
    current = current.cause;
  }
  return undefined;
}

/** The innermost error code or message, e.g. `ECONNREFUSED`. */
function describe(error: unknown): string {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  if (!(current instanceof Error)) return String(current);
  const code = (current as NodeJS.ErrnoException).code;
  return code ?? current.message;
}
