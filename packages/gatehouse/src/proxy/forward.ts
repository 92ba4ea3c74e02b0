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
  /**
   * A dispatcher that opens a new connection for each request: the one retry of an idempotent
   * call without a body whose connection closed before any byte of the answer (none without it).
   */
  retryDispatcher?: Dispatcher;
  /** The request's logger, asked for only when there is something to log. */
  logger: (req: IncomingMessage) => Logger;
  /** Registers an open event stream to be ended when the server drains; returns the unregister. */
  onDrain: (end: () => void) => () => void;
  /** Hears the upstream's answer time and failures (metrics). */
  observer?: UpstreamObserver;
}

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);
/** Methods sent again after losing their connection (idempotent and safe; DELETE is not safe). */
const RETRIED = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Why the upstream call was aborted: a reason of our own, so undici fails with it. */
class ForwardAborted extends Error {
  readonly why: 'client' | 'timeout' | 'drain';
  constructor(why: 'client' | 'timeout' | 'drain') {
    super(
      why === 'client'
        ? 'the client went away'
        : why === 'timeout'
          ? 'the upstream did not answer in time'
          : 'shutting down',
    );
    this.why = why;
  }
}

/**
 * Streams the browser's request to the upstream and the upstream's answer back: no buffering
 * (uploads and server-sent events flow through), no redirects followed, upstream down → 502,
 * no connection or no answer within the route's timeout → 504. Nothing either side does can
 * throw past this function once the answer has started: a browser that goes away aborts the
 * upstream call (an info event), an upstream that breaks or goes silent mid-body cuts the
 * browser's connection (a warning).
 *
 * The answer is relayed by an undici dispatch handler of our own (undici's `dispatch`, the API
 * its `request` is built on): each chunk the upstream sends is written to the browser's
 * response as it arrives (undici's reading paused while the browser's side is full), with no
 * response stream, pipe or abort signal in between. The promise settles once the browser's
 * response has closed, or rejects (502, 504) while no answer has begun.
 */
export function forwardRequest(
  options: ForwardOptions,
  req: IncomingMessage,
  res: ServerResponse,
  target: ForwardTarget,
): Promise<void> {
  // Gone while the session was read or a token refreshed: its 'close' has passed already.
  if (res.destroyed) {
    options
      .logger(req)
      .info({ upstream: target.origin }, 'client went away before the API was called');
    return Promise.resolve();
  }
  return new Promise<void>((resolve, reject) => {
    const call = new ForwardCall(options, req, res, target, resolve, reject);
    const hasBody = call.hasBody;
    try {
      options.dispatcher.dispatch(
        {
          origin: target.origin,
          path: target.path,
          method: target.method,
          headers: target.headers,
          // An upload that has fully arrived goes as it is; one still flowing restarts the
          // deadline.
          body: hasBody ? (req.complete ? req : uploadBody(req, call.uploadProgress)) : null,
          headersTimeout: target.timeoutMs,
          bodyTimeout: target.idleTimeoutMs,
        },
        call,
      );
    } catch (error) {
      // Options undici refuses (as `request` would reject with them): the upstream call failed.
      call.onResponseError(undefined, error as Error);
    }
  });
}

const ignore = () => undefined;

/** One proxied call: undici's handler of the upstream's answer, and the browser's side. */
class ForwardCall implements Dispatcher.DispatchHandler {
  readonly hasBody: boolean;
  readonly #options: ForwardOptions;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #target: ForwardTarget;
  readonly #resolve: () => void;
  readonly #reject: (error: unknown) => void;
  readonly #startedAt: number;
  readonly #deadline: NodeJS.Timeout;
  #controller: Dispatcher.DispatchController | undefined;
  /** Why the call was given up (client gone, deadline, drain), once it was. */
  #stopped: ForwardAborted | undefined;
  /** The answer's headers were written to the browser. */
  #answering = false;
  /** The promise settled (resolved or rejected). */
  #settled = false;
  #unregisterDrain: (() => void) | undefined;
  /** undici is done with the call (answered in full, failed or aborted). */
  #upstreamDone = false;
  /** The first byte of the upstream's answer arrived (its status line, or a 1xx). */
  #responseBegan = false;
  /** The call was sent again once on a fresh connection. */
  #retried = false;

  constructor(
    options: ForwardOptions,
    req: IncomingMessage,
    res: ServerResponse,
    target: ForwardTarget,
    resolve: () => void,
    reject: (error: unknown) => void,
  ) {
    this.#options = options;
    this.#req = req;
    this.#res = res;
    this.#target = target;
    this.#resolve = resolve;
    this.#reject = reject;
    this.hasBody = !BODYLESS.has(target.method) || req.headers['content-length'] !== undefined;
    this.#startedAt = options.observer ? performance.now() : 0;
    this.#deadline = setTimeout(this.#stop, target.timeoutMs, 'timeout');
    res.on('close', this.#onClose);
    res.on('error', ignore);
    res.on('drain', this.#onDrain);
  }

  /** An upload still flowing before the answer has begun brings the deadline back. */
  readonly uploadProgress = (): void => {
    if (!this.#answering && !this.#settled) this.#deadline.refresh();
  };

  /** Gives the call up: the upstream request is aborted (or refused once it gets a socket). */
  readonly #stop = (why: 'client' | 'timeout' | 'drain'): void => {
    if (this.#stopped) return;
    const reason = new ForwardAborted(why);
    this.#stopped = reason;
    if (!this.#upstreamDone) this.#controller?.abort(reason);
    // undici acts on an abort only once connected: a call still waiting for a connection is
    // given up at once all the same.
    if (!this.#answering && why !== 'drain') this.#fail(reason);
  };

  readonly #onDrain = (): void => {
    this.#controller?.resume();
  };

  /** The browser's response closed: finished, or the client went away. */
  readonly #onClose = (): void => {
    const res = this.#res;
    res.off('drain', this.#onDrain);
    this.#unregisterDrain?.();
    if (!res.writableFinished) this.#stop('client');
    this.#settle();
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#stopped) controller.abort(this.#stopped);
  }

  /** undici: the upstream's answer began (before its headers are parsed). */
  onResponseStarted(): void {
    this.#responseBegan = true;
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    upstreamHeaders: Record<string, string | string[] | undefined>,
  ): void {
    // 1xx (100 Continue, 103 Early Hints): not relayed; the final answer follows.
    if (statusCode < 200 || this.#stopped) return;
    clearTimeout(this.#deadline);
    const target = this.#target;
    const req = this.#req;
    const res = this.#res;
    this.#options.observer?.answered(this.#startedAt);
    const headers = downstreamResponseHeaders(upstreamHeaders, {
      allowSetCookie: target.allowSetCookie,
      ours: target.responseHeaders,
      requestId: target.requestId,
    });
    // The upstream answered before reading the whole upload: close rather than read the rest.
    if (this.hasBody && !req.complete) headers.connection = 'close';
    const eventStream = String(upstreamHeaders['content-type'] ?? '').startsWith(
      'text/event-stream',
    );
    try {
      res.writeHead(statusCode, headers);
    } catch (error) {
      // Headers Node refuses to write (the upstream's): a failure before any answer, passed on
      // as it is.
      controller.abort(error as Error);
      this.#fail(error, true);
      return;
    }
    this.#answering = true;
    // An event stream's client hears of the answer at once; any other answer's headers leave
    // with its first chunk of body (one write instead of two).
    if (eventStream) {
      res.flushHeaders();
      // Draining: end the stream cleanly so the client's EventSource reconnects, elsewhere.
      this.#unregisterDrain = this.#options.onDrain(() => {
        this.#stop('drain');
        res.end();
        this.#options
          .logger(req)
          .info({ upstream: target.origin }, 'event stream ended: shutting down');
      });
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#answering || this.#stopped) return;
    if (!this.#res.write(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.#upstreamDone = true;
    if (!this.#answering || this.#stopped) return;
    this.#res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    if (this.#mayRetry(error)) {
      this.#retry(error);
      return;
    }
    this.#upstreamDone = true;
    clearTimeout(this.#deadline);
    const stopped = this.#stopped;
    if (!this.#answering) {
      // Given up (client gone, deadline) or failed before any answer.
      this.#fail(stopped ?? error);
      return;
    }
    if (stopped?.why === 'drain') return;
    const res = this.#res;
    if (stopped?.why === 'client' || res.destroyed) {
      this.#options
        .logger(this.#req)
        .info({ upstream: this.#target.origin }, 'client went away during the answer');
      return;
    }
    // The upstream broke or went silent mid-body: cut the browser's connection.
    this.#options.observer?.failed('broken');
    res.destroy();
    const reason =
      error instanceof errors.BodyTimeoutError
        ? 'API went silent mid-answer (idle timeout)'
        : 'API connection broke mid-answer';
    this.#options.logger(this.#req).warn({ err: error, upstream: this.#target.origin }, reason);
  }

  /**
   * Whether a failed call is sent again: once, for a GET, HEAD or OPTIONS without a body, when
   * its connection closed or was reset before the first byte of any answer, and nothing gave the
   * call up (client gone, deadline, drain). That is an upstream closing an idle kept-alive
   * connection just as the request went down it: the request was never read, and another
   * pooled connection may be just as stale, so the retry goes on a new one. A refused
   * connection (the upstream is down), a timeout, and any failure once answer bytes arrived are
   * not retried.
   */
  #mayRetry(error: Error): boolean {
    if (this.#retried || this.#responseBegan || this.#stopped || this.hasBody) return false;
    if (!this.#options.retryDispatcher || !RETRIED.has(this.#target.method)) return false;
    const code = (error as { code?: unknown }).code;
    return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
  }

  /** Sends the call again on the retry dispatcher, this same handler hearing its answer. */
  #retry(error: Error): void {
    this.#retried = true;
    this.#controller = undefined;
    const options = this.#options;
    const target = this.#target;
    options.observer?.retried();
    options
      .logger(this.#req)
      .debug(
        { upstream: target.origin, reason: error.message },
        'API connection closed before any answer; sent again on a new connection',
      );
    try {
      options.retryDispatcher?.dispatch(
        {
          origin: target.origin,
          path: target.path,
          method: target.method,
          headers: target.headers,
          body: null,
          headersTimeout: target.timeoutMs,
          bodyTimeout: target.idleTimeoutMs,
          reset: true,
        },
        this,
      );
    } catch (thrown) {
      this.onResponseError(undefined, thrown as Error);
    }
  }

  /** No answer was begun: the call fails (502, 504), or the client is gone (nothing to say). */
  #fail(error: unknown, asIs = false): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#deadline);
    const req = this.#req;
    const res = this.#res;
    res.off('close', this.#onClose);
    res.off('drain', this.#onDrain);
    if (this.#stopped?.why === 'client' || req.readableAborted) {
      this.#options
        .logger(req)
        .info({ upstream: this.#target.origin }, 'client went away before the API answered');
      this.#resolve();
      return;
    }
    if (asIs) {
      this.#reject(error);
      return;
    }
    // An upload the upstream stopped reading: close after the answer rather than read the rest.
    const failure = upstreamError(
      error,
      this.hasBody && !req.complete ? { connection: 'close' } : {},
    );
    this.#options.observer?.failed(failure.code === 'upstream_timeout' ? 'timeout' : 'unavailable');
    this.#reject(failure);
  }

  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#deadline);
    this.#resolve();
  }
}

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
  // undici listens for this stream's errors only while the call runs. A call refused before it
  // got a connection leaves the stream piped and unread; a client that hangs up after that (its
  // 502 still queued behind a pipelined answer) errors a stream nobody listens to any more,
  // which would throw and end the process. The call is over by then: nothing left to do.
  body.on('error', ignore);
  req.pipe(body);
  return body;
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
