import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Transform, type Readable } from 'node:stream';
import type { Logger } from 'pino';
import { errors, type Dispatcher } from 'undici';
import { type GatehouseError, problem } from '../errors.ts';
import { downstreamResponseHeaders } from './headers.ts';
import type { UpstreamObserver } from '../observability/metrics.ts';

export interface ForwardTarget {
  /** The upstream's origin (`http://api:4001`) and the path with the query, as sent. */
  origin: string;
  path: string;
  method: string;
  headers: Record<string, string | string[]>;
  /**
   * Budget for connecting (including waiting for a pooled connection) and for the response
   * headers. A request body that is still flowing to the upstream restarts it with each chunk.
   */
  timeoutMs: number;
  /** Longest silence between two chunks of the upstream's response body. */
  idleTimeoutMs: number;
  allowSetCookie: boolean;
  /** Gatehouse's own headers of every answer (security headers), sent with the upstream's. */
  responseHeaders?: ReadonlyArray<readonly [string, string]>;
  /** Sent back as `X-Request-Id`. */
  requestId?: string;
}

export interface ForwardOptions {
  dispatcher: Dispatcher;
  /** The request's logger, asked for only when there is something to log. */
  logger: (req: IncomingMessage) => Logger;
  /** Registers an open event stream to be ended when the server drains; returns the unregister. */
  onDrain: (end: () => void) => () => void;
  /** Hears the upstream's answer time and failures (metrics). */
  observer?: UpstreamObserver;
}

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);

/** Why the upstream call was aborted: a reason of our own, so undici rejects with it. */
class ForwardAborted extends Error {
  readonly why: 'client' | 'timeout';
  constructor(why: 'client' | 'timeout') {
    super(why === 'client' ? 'the client went away' : 'the upstream did not answer in time');
    this.why = why;
  }
}

/** How a relayed body ended. */
type RelayEnd = { kind: 'complete' } | { kind: 'client' } | { kind: 'upstream'; error: unknown };

/**
 * Streams the browser's request to the upstream and the upstream's answer back: no buffering
 * (uploads and server-sent events flow through), no redirects followed, upstream down → 502,
 * no connection or no answer within the route's timeout → 504. Nothing either side does can
 * throw past this function once the answer has started: a browser that goes away aborts the
 * upstream call (an info event), an upstream that breaks or goes silent mid-body cuts the
 * browser's connection (a warning).
 */
export async function forwardRequest(
  options: ForwardOptions,
  req: IncomingMessage,
  res: ServerResponse,
  target: ForwardTarget,
): Promise<void> {
  // `options.logger` is called only when there is something to log: a call that goes well logs
  // nothing here (and allocates nothing for logging).
  const abort = new AbortController();
  let clientGone = false;
  const onClose = () => {
    if (res.writableFinished) return;
    clientGone = true;
    stop('client');
  };
  res.once('close', onClose);
  // Gone while the session was read or a token refreshed: its 'close' has passed already.
  if (res.destroyed) {
    res.off('close', onClose);
    options
      .logger(req)
      .info({ upstream: target.origin }, 'client went away before the API was called');
    return;
  }
  // undici acts on the abort only once connected: the call is given up at once all the same,
  // whatever undici is doing (`giveUp` rejects the promise awaited below).
  let giveUp: (reason: ForwardAborted) => void = ignore;
  const stop = (why: 'client' | 'timeout') => {
    const reason = new ForwardAborted(why);
    abort.abort(reason);
    giveUp(reason);
  };
  const deadline = setTimeout(stop, target.timeoutMs, 'timeout');
  let awaitingHeaders = true;
  // An upload still flowing once the answer has begun must not bring the deadline back.
  const uploadProgress = () => {
    if (awaitingHeaders) deadline.refresh();
  };
  const hasBody = !BODYLESS.has(target.method) || req.headers['content-length'] !== undefined;
  const startedAt = options.observer ? performance.now() : 0;

  const pending = options.dispatcher.request({
    origin: target.origin,
    path: target.path,
    method: target.method,
    headers: target.headers,
    // An upload that has fully arrived goes as it is; one still flowing restarts the deadline.
    body: hasBody ? (req.complete ? req : uploadBody(req, uploadProgress)) : null,
    signal: abort.signal,
    headersTimeout: target.timeoutMs,
    bodyTimeout: target.idleTimeoutMs,
  });
  let upstream: Dispatcher.ResponseData;
  try {
    upstream = await new Promise<Dispatcher.ResponseData>((resolve, reject) => {
      giveUp = reject;
      pending.then(resolve, reject);
    });
  } catch (error) {
    // Given up first: the request may still settle later, and its body must not be left unread.
    pending.then((late) => late.body.on('error', ignore).destroy(), ignore);
    res.off('close', onClose);
    if (clientGone || req.readableAborted) {
      options
        .logger(req)
        .info({ upstream: target.origin }, 'client went away before the API answered');
      return;
    }
    // An upload the upstream stopped reading: close after the answer rather than read the rest.
    const failure = upstreamError(error, hasBody && !req.complete ? { connection: 'close' } : {});
    options.observer?.failed(failure.code === 'upstream_timeout' ? 'timeout' : 'unavailable');
    throw failure;
  } finally {
    awaitingHeaders = false;
    clearTimeout(deadline);
  }

  // undici errors a body that is destroyed unread (RequestAbortedError): listen for its whole life.
  const body = upstream.body;
  options.observer?.answered(startedAt);
  if (clientGone) {
    body.on('error', ignore).destroy();
    options
      .logger(req)
      .info({ upstream: target.origin }, 'client went away before the API answered');
    return;
  }
  const headers = downstreamResponseHeaders(upstream.headers, {
    allowSetCookie: target.allowSetCookie,
    ours: target.responseHeaders,
    requestId: target.requestId,
  });
  // The upstream answered before reading the whole upload: close rather than read the rest.
  if (hasBody && !req.complete) headers.connection = 'close';
  const eventStream = String(upstream.headers['content-type'] ?? '').startsWith(
    'text/event-stream',
  );
  res.writeHead(upstream.statusCode, headers);
  // An event stream's client hears of the answer at once; any other answer's headers leave with
  // its first chunk of body (one write instead of two).
  if (eventStream) res.flushHeaders();
  // Draining: end the stream cleanly so the client's EventSource reconnects, elsewhere.
  let endedForDrain = false;
  const unregister = eventStream
    ? options.onDrain(() => {
        endedForDrain = true;
        endEarly(body, res);
      })
    : undefined;
  const end = await relay(body, res);
  unregister?.();
  res.off('close', onClose);

  if (endedForDrain) {
    options.logger(req).info({ upstream: target.origin }, 'event stream ended: shutting down');
  } else if (end.kind === 'client' || (end.kind === 'upstream' && clientGone)) {
    body.destroy();
    options.logger(req).info({ upstream: target.origin }, 'client went away during the answer');
  } else if (end.kind === 'upstream') {
    options.observer?.failed('broken');
    res.destroy();
    const reason =
      end.error instanceof errors.BodyTimeoutError
        ? 'API went silent mid-answer (idle timeout)'
        : 'API connection broke mid-answer';
    options.logger(req).warn({ err: end.error, upstream: target.origin }, reason);
  }
}

const ignore = () => undefined;

/**
 * The browser's request body on its way up, restarting the deadline as it flows. A client that
 * hangs up mid-upload errors this stream, which fails the upstream call.
 */
function uploadBody(req: IncomingMessage, onProgress: () => void): Readable {
  const body = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      onProgress();
      done(null, chunk);
    },
  });
  req.on('error', (error) => body.destroy(error));
  req.pipe(body);
  return body;
}

/** Pipes the upstream body to the browser and tells how that ended; never rejects. */
function relay(body: Readable, res: ServerResponse): Promise<RelayEnd> {
  return new Promise((resolve) => {
    body.on('error', (error) => resolve({ kind: 'upstream', error }));
    res.on('error', () => resolve({ kind: 'client' }));
    res.once('close', () =>
      resolve(res.writableFinished ? { kind: 'complete' } : { kind: 'client' }),
    );
    body.pipe(res);
  });
}

function endEarly(body: Readable, res: ServerResponse): void {
  body.unpipe(res);
  res.end();
  body.destroy();
}

function upstreamError(error: unknown, headers: Record<string, string>): GatehouseError {
  const timedOut =
    (error instanceof ForwardAborted && error.why === 'timeout') ||
    error instanceof errors.HeadersTimeoutError ||
    error instanceof errors.ConnectTimeoutError;
  if (timedOut) {
    return problem('upstream_timeout', { cause: error, headers });
  }
  return problem('upstream_unavailable', { cause: error, headers });
}
