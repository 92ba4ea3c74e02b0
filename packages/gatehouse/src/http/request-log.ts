import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Express, Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { loggableUrl } from '../observability/logger.ts';
import { logContextOf } from './audit-origin.ts';
import {
  accessLogDoneSlot,
  apiRouteSlot,
  logContextSlot,
  type WithLocals,
} from './request-state.ts';

declare module 'node:http' {
  interface IncomingMessage {
    /** The request id: a well-formed incoming `X-Request-Id`, else a new UUID. */
    id: string;
    /** A logger whose lines carry this request's `req` (id, method, loggable URL). */
    log: Logger;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
const PROBES = new Set(['/healthz', '/readyz']);

export interface RequestLogOptions {
  /**
   * The share (0–1) of proxied calls answered below 400 that get an access-log line; every
   * other request (the BFF's, the admin API's, and every 4xx/5xx answer) always gets one.
   */
  proxiedSuccessSampleRate: number;
  /** Draws the sample (default Math.random). */
  random?: () => number;
}

/**
 * The level of a request's access-log line. A 500 is a bug (the line carries its stack as `err`);
 * 502/503/504 are a dependency's outage, logged once per transition by the outage log, so each
 * such answer is only a warning. A probe that succeeds is not logged at all (a balancer asks
 * every few seconds); a failing one is.
 *
 * @example
 * requestLogLevel({ url: '/healthz' }, { statusCode: 200 }); // 'silent'
 */
export function requestLogLevel(
  req: { url?: string | undefined; originalUrl?: string | undefined },
  res: { statusCode: number },
  err?: Error,
): 'error' | 'warn' | 'info' | 'silent' {
  if (err || res.statusCode === 500) return 'error';
  if (res.statusCode > 500) return 'warn';
  if (res.statusCode >= 400) return 'info';
  const url = req.originalUrl ?? req.url ?? '';
  // Only a probe's path can be silent: no string work for any other request.
  if (!url.startsWith('/healthz') && !url.startsWith('/readyz')) return 'info';
  const query = url.indexOf('?');
  return PROBES.has(query === -1 ? url : url.slice(0, query)) ? 'silent' : 'info';
}

/**
 * Whether this request's access line is already behind it: the connection closed (the client
 * left, or the answer is done) before a handler failed. The error handler then writes the
 * failure's own line, since no access line will carry it.
 */
export const accessLogDone = (res: WithLocals): boolean => accessLogDoneSlot.get(res) === true;

/** What an access line says about the request: nothing but these fields (an allow-list). */
function requestFields(req: IncomingMessage & { originalUrl?: string }) {
  return { id: req.id, method: req.method, url: loggableUrl(req.originalUrl ?? req.url ?? '') };
}

/** A well-formed incoming `X-Request-Id`, else a new UUID. */
export function requestIdOf(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * The request's own logger: a child of the deployment's logger (redaction and all) carrying the
 * request's fields, made on first use and kept on the request.
 */
export function requestLogger(logger: Logger, req: IncomingMessage): Logger {
  const own = Object.getOwnPropertyDescriptor(req, 'log');
  if (own) return own.value as Logger;
  const child = logger.child({ req: requestFields(req) });
  Object.defineProperty(req, 'log', { value: child, writable: true, configurable: true });
  return child;
}

/**
 * Writes a request's access line (or decides not to) once its connection has closed: the one
 * rule for every request, Express-routed or on the API path. `started` is `performance.now()`
 * when the request arrived.
 */
export type AccessLine = (
  req: IncomingMessage & { originalUrl?: string },
  res: ServerResponse & { locals: object },
  started: number,
) => void;

export function accessLineWriter(logger: Logger, options: RequestLogOptions): AccessLine {
  const access = logger.child({}, { redact: [] });
  const random = options.random ?? Math.random;
  const rate = options.proxiedSuccessSampleRate;
  return (req, res, started) => {
    accessLogDoneSlot.set(res, true);
    // An error after the answer had started: the level of the status it would have had.
    const failedStatus = logContextSlot.get(res)?.errorStatus;
    const level = requestLogLevel(req, { statusCode: failedStatus ?? res.statusCode });
    if (level === 'silent') return;
    const status = res.statusCode;
    const completed = res.writableFinished && !req.readableAborted;
    // A proxied call that went well: sampled (a matched API route is in its slot).
    if (level === 'info' && status < 400 && completed && apiRouteSlot.get(res) !== undefined) {
      if (rate <= 0 || (rate < 1 && random() >= rate)) return;
    }
    // Whom the line names and an error's fields: built only for a line that is written.
    // express-session's `req.session` on /bff and the admin API; the API path has none.
    const context = logContextOf(req as Parameters<typeof logContextOf>[0], res);
    const message =
      failedStatus !== undefined
        ? 'request failed mid-answer'
        : status >= 500
          ? 'request errored'
          : completed
            ? 'request completed'
            : 'request aborted';
    // A 500's error object goes through the redacting logger: its own fields are not ours.
    (context?.err === undefined ? access : logger)[level](
      {
        req: requestFields(req),
        res: { statusCode: status },
        responseTime: Math.round(performance.now() - started),
        ...context,
      },
      message,
    );
  };
}

/**
 * The request id and the access log, at a cost of a few property writes per request: the
 * `X-Request-Id` header, one `close` listener, and one line when the answer is done — built
 * from an allow-list of fields (id, method, loggable URL, status, time), so it needs no
 * redaction pass, and written through a child of the deployment's logger without its redaction
 * paths. `req.log` (a child logger carrying the request's fields, redaction and all) is created
 * only when a handler first uses it. Proxied successes are sampled (see
 * {@link RequestLogOptions}); errors are always logged, on this same line: the error handler
 * writes none of its own but adds its fields (`errorCode`, `cause`, `reason`, a 500's `err`)
 * through `addLogContext`. A line with an `err` goes through the redacting logger instead.
 */
export function requestLog(
  app: Express,
  logger: Logger,
  options: RequestLogOptions,
): RequestHandler {
  const accessLine = accessLineWriter(logger, options);

  // Lazily, once per request at most: most requests never log anything but their access line.
  Object.defineProperty(app.request, 'log', {
    configurable: true,
    get(this: Request): Logger {
      return requestLogger(logger, this);
    },
    set(this: Request, value: Logger) {
      Object.defineProperty(this, 'log', { value, writable: true, configurable: true });
    },
  });

  return (req, res, next) => {
    const id = requestIdOf(req.headers['x-request-id']);
    req.id = id;
    res.setHeader('x-request-id', id);
    const started = performance.now();
    res.once('close', () => accessLine(req, res, started));
    next();
  };
}
