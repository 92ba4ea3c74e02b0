import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import * as client from 'openid-client';
import { GatehouseError, problem } from '../errors.ts';
import type { ProblemCode } from '../problems.ts';
import { describe } from '../observability/outages.ts';
import { IdpErrorResponse } from '../oidc/login.ts';
import { addLogContext } from './audit-origin.ts';

/** body-parser's error `type`s that can reach here (4xx only), as catalogue codes. */
const BODY_PARSER_PROBLEMS: Readonly<Record<string, ProblemCode>> = {
  'entity.parse.failed': 'entity_parse_failed',
  'entity.too.large': 'entity_too_large',
  'parameters.too.many': 'parameters_too_many',
  'encoding.unsupported': 'encoding_unsupported',
  'charset.unsupported': 'charset_unsupported',
  'request.aborted': 'request_aborted',
  'request.size.invalid': 'request_size_invalid',
};

/** Normalises anything thrown into a {@link GatehouseError}; unknown errors become a bare 500. */
export function toGatehouseError(error: unknown): GatehouseError {
  if (error instanceof GatehouseError) return error;
  // body-parser and friends carry a 4xx `status` and a safe `type`.
  const candidate = (error ?? {}) as { status?: unknown; type?: unknown };
  if (typeof candidate.status === 'number' && candidate.status >= 400 && candidate.status < 500) {
    const code =
      (typeof candidate.type === 'string' ? BODY_PARSER_PROBLEMS[candidate.type] : undefined) ??
      'bad_request';
    return problem(code, { cause: error });
  }
  return problem('internal_error', { cause: error });
}

export function sendProblem(res: Response, error: GatehouseError): void {
  res.status(error.status);
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  res.setHeader('cache-control', 'no-store');
  // Marks Gatehouse's own verdict (the proxy strips this header from upstream answers).
  res.setHeader('gatehouse-problem', error.code);
  res.type('application/problem+json').send(problemBody(error));
}

/** The problem+json document of an error (also written on a refused WebSocket upgrade). */
export function problemBody(error: GatehouseError): string {
  return JSON.stringify({
    // Extra members first: they can never replace the standard ones.
    ...(error.expose ? error.extra : {}),
    type: `https://gatehouse.dev/problems/${error.code}`,
    title: error.title,
    status: error.status,
    code: error.code,
    ...(error.expose ? { detail: error.message } : {}),
  });
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A plain, escaped page for browser navigations (`/bff/login`, `/bff/callback`). */
function sendErrorPage(res: Response, error: GatehouseError): void {
  const detail = error.expose ? error.message : 'Something went wrong.';
  const retryAfter = error.status === 429 ? error.headers['retry-after'] : undefined;
  const retry = retryAfter ? `<p>Try again in ${escapeHtml(retryAfter)} seconds.</p>` : '';
  res.status(error.status).setHeader('cache-control', 'no-store');
  if (retryAfter) res.setHeader('retry-after', retryAfter);
  res
    .type('html')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in problem</title></head>` +
        `<body><main><h1>Sign-in problem</h1><p>${escapeHtml(detail)}</p>${retry}` +
        `<p>Code: <code>${escapeHtml(error.code)}</code></p><p><a href="/">Back to the app</a></p></main></body></html>`,
    );
}

const MAX_CAUSE_LENGTH = 200;
const clip = (text: string) =>
  text.length > MAX_CAUSE_LENGTH ? `${text.slice(0, MAX_CAUSE_LENGTH)}…` : text;

/**
 * Why a client error happened, for the log line only: an IdP's `error` / `error_description`
 * (openid-client's errors and the callback's error response carry them) and openid-client's
 * own fixed-text messages, length-limited and without a stack. Other causes give only their
 * name and code: a parser's message may quote the request body. Never echoed to the client.
 */
function causeOf(error: GatehouseError): { cause?: Record<string, string> } {
  const cause = error.cause;
  if (!(cause instanceof Error)) return {};
  const fields: Record<string, string> = { name: clip(cause.name) };
  const { code } = cause as { code?: unknown };
  if (typeof code === 'string') fields.code = clip(code);
  if (cause instanceof IdpErrorResponse) {
    fields.idpError = clip(cause.error);
    if (cause.errorDescription) fields.idpErrorDescription = clip(cause.errorDescription);
  } else if (
    cause instanceof client.ResponseBodyError ||
    cause instanceof client.AuthorizationResponseError
  ) {
    fields.idpError = clip(cause.error);
    if (cause.error_description) fields.idpErrorDescription = clip(cause.error_description);
  }
  if (cause instanceof IdpErrorResponse || cause instanceof client.ClientError) {
    fields.message = clip(cause.message);
  }
  return { cause: fields };
}

/**
 * The cause of an error answer for its access-log line: a dependency's failure in full (no
 * stack), a client error only by what {@link causeOf} keeps (never a message that may quote
 * the request).
 */
function reasonOf(error: GatehouseError): { reason?: string } {
  if (!error.cause) return {};
  if (error.status >= 500) return { reason: clip(describe(error.cause)) };
  const cause = causeOf(error).cause;
  const reason = cause && (cause.idpError ?? cause.code ?? cause.name);
  return reason ? { reason } : {};
}

/** The one error boundary: problem+json for API callers, an escaped page for navigations. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (rawError: unknown, req, res, _next) => {
    const error = toGatehouseError(rawError);
    addLogContext(res, { errorCode: error.code, ...reasonOf(error) });
    if (res.headersSent) {
      abandonResponse(logger, req.id, res, error);
      return;
    }
    // Client errors are expected traffic: one line without a stack. So is a dependency's outage
    // (502/503/504: the outage log has its one error line). Only a 500 — a bug — keeps the cause.
    if (error.status > 500) {
      logger.warn(
        {
          errorCode: error.code,
          status: error.status,
          reqId: req.id,
          ...(error.cause ? { reason: describe(error.cause) } : {}),
        },
        error.message,
      );
    } else if (error.status >= 500) {
      logger.error(
        { err: error.cause ?? error, errorCode: error.code, status: error.status, reqId: req.id },
        error.message,
      );
    } else {
      logger.info(
        { errorCode: error.code, status: error.status, reqId: req.id, ...causeOf(error) },
        error.message,
      );
    }
    const navigation = req.method === 'GET' && req.accepts(['json', 'html']) === 'html';
    if (navigation && /^\/bff\/(login|callback)\b/.test(req.path)) sendErrorPage(res, error);
    else sendProblem(res, error);
  };
}

/**
 * An error after the answer has started: no problem document can follow, so cut the connection
 * (a truncated answer must not look complete) and log once, without Express's raw stack.
 */
function abandonResponse(
  logger: Logger,
  reqId: unknown,
  res: Response,
  error: GatehouseError,
): void {
  const fields = { errorCode: error.code, status: error.status, reqId };
  if (error.status >= 500)
    logger.warn({ ...fields, err: error.cause ?? error }, 'failed mid-answer');
  else logger.info(fields, 'failed mid-answer');
  if (!res.writableEnded) res.destroy();
}
