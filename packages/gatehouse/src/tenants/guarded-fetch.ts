/*
 * Over 300 lines on purpose: the SSRF guard is one policy (which URLs, which addresses at
 * connect time, redirects, time and size limits, the one public error), reviewed top to bottom;
 * split, a reader would miss where an address is checked. Address ranges: address-policy.ts.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';
import type { BodyInit as UndiciBodyInit, Dispatcher } from 'undici';
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
    const timeout = AbortSignal.timeout(resolved.timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    try {
      const response = await undiciFetch(url.href, {
        method: init?.method ?? 'GET',
        headers: [...new Headers(init?.headers)],
        body: init?.body as UndiciBodyInit | null | undefined,
        duplex: init?.body instanceof ReadableStream ? 'half' : undefined,
        redirect: 'manual',
        signal,
        dispatcher: agent,
      });
      return await toLimitedResponse(response, url, resolved.maxResponseBytes);
    } catch (error) {
      throw toBlocked(error, url, timeout, init?.signal);
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

type UndiciResponse = Awaited<ReturnType<typeof undiciFetch>>;

/** Refuses redirects, enforces the size limit while reading, returns a standard `Response`. */
async function toLimitedResponse(
  response: UndiciResponse,
  url: URL,
  limit: number,
): Promise<Response> {
  const body = response.body as ReadableStream<Uint8Array> | null;
  if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
    await body?.cancel().catch(() => undefined);
    throw new OutboundRequestBlocked(
      'redirect_not_followed',
      `${response.status} from ${url.origin}`,
    );
  }
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > limit) {
    await body?.cancel().catch(() => undefined);
    throw tooLarge(url, limit);
  }
  const bytes = await readWithLimit(body, url, limit);
  const result = new Response(NULL_BODY_STATUSES.has(response.status) ? null : bytes, {
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers],
  });
  Object.defineProperty(result, 'url', { value: url.href });
  return result;
}

async function readWithLimit(
  body: ReadableStream<Uint8Array> | null,
  url: URL,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(url, limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
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
