import type { ErrorRequestHandler, Response } from 'express';
import * as client from 'openid-client';
import { GatehouseError, problem } from '../errors.ts';
import type { ProblemCode } from '../problems.ts';
import { describe } from '../observability/outages.ts';
import { IdpErrorResponse } from '../oidc/login.ts';
import { RefreshRefused } from '../oidc/refresh.ts';
import { CsrfRefusal } from './csrf.ts';
import { addLogContext, type LogContext } from './audit-origin.ts';
import { sendErrorPage } from './pages.ts';
import { accessLogDone, requestLogLevel } from './request-log.ts';

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
  } else if (cause instanceof client.WWWAuthenticateChallengeError) {
    const challenge = cause.cause.find((c) => c.parameters.error) ?? cause.cause[0];
    fields.idpStatus = String(cause.status);
    if (challenge) fields.idpChallenge = clip(challenge.scheme);
    if (challenge?.parameters.error) fields.idpError = clip(challenge.parameters.error);
    if (challenge?.parameters.error_description) {
      fields.idpErrorDescription = clip(challenge.parameters.error_description);
    }
  } else if (
    cause instanceof client.ResponseBodyError ||
    cause instanceof client.AuthorizationResponseError
  ) {
    fields.idpError = clip(cause.error);
    if (cause.error_description) fields.idpErrorDescription = clip(cause.error_description);
  }
  if (cause instanceof client.ResponseBodyError) fields.idpStatus = String(cause.status);
  if (
    cause instanceof IdpErrorResponse ||
    cause instanceof RefreshRefused ||
    cause instanceof CsrfRefusal ||
    cause instanceof client.ClientError
  ) {
    fields.message = clip(cause.message);
  }
  return { cause: fields };
}

/**
 * What an error answer adds to its request's access-log line (the error handler writes no line
 * of its own): the problem code; a client error's cause as {@link causeOf} keeps it (never a
 * message that may quote the request) and its short `reason`; a dependency's failure in full
 * as `reason` (no stack: the outage log has its one error line); and only for a 500 — a bug —
 * the error itself as `err`, so the line carries its stack.
 */
function logFieldsOf(error: GatehouseError): LogContext {
  const fields: LogContext = { errorCode: error.code };
  if (error.status >= 500) {
    if (error.cause) fields.reason = clip(describe(error.cause));
    // An IdP's refusal that is no outage (its client credentials rejected): what it said.
    const { cause } = causeOf(error);
    if (cause?.idpError !== undefined || cause?.idpStatus !== undefined) fields.cause = cause;
    if (error.status === 500) fields.err = error.cause ?? error;
    return fields;
  }
  const { cause } = causeOf(error);
  if (cause) {
    fields.cause = cause;
    const reason = cause.idpError ?? cause.code ?? cause.name;
    if (reason) fields.reason = reason;
  }
  return fields;
}

/**
 * The one error boundary: problem+json for API callers, an escaped page for navigations. It
 * logs nothing itself: what the failure's line should say goes into the request's access-log
 * line (see {@link logFieldsOf}), so each request gives one line. Only when that line is
 * already written (the connection closed before the handler failed) does it write the
 * failure's own line, through `req.log` (the request's fields, redaction on).
 */
export function errorHandler(): ErrorRequestHandler {
  return (rawError: unknown, req, res, _next) => {
    const error = toGatehouseError(rawError);
    const fields = logFieldsOf(error);
    if (accessLogDone(res)) {
      // The connection closed (the client left) before the failure: its access line is
      // written (`request aborted`). A server-side failure gets a line of its own, so a late
      // store error or bug still shows; a client error (say body-parser's `request_aborted`
      // for the upload the client cut) adds nothing to that line.
      const level = requestLogLevel(req, { statusCode: error.status });
      if (error.status >= 500 && level !== 'silent') {
        req.log[level](
          { ...fields, errorStatus: error.status },
          'request failed after its connection closed',
        );
      }
      return;
    }
    addLogContext(res, fields);
    if (res.headersSent) {
      abandonResponse(res, error);
      return;
    }
    // A refusal never carries a token, whatever a handler had set before it failed (gateway
    // mode's answer sets `Authorization` for the gateway).
    res.removeHeader('authorization');
    const navigation =
      (req.method === 'GET' || (req.method === 'POST' && req.path === '/bff/logout')) &&
      req.accepts(['json', 'html']) === 'html';
    if (navigation && /^\/bff\/(login|callback|logout)\b/.test(req.path)) {
      sendErrorPage(req, res, error);
    } else sendProblem(res, error);
  };
}

/**
 * An error after the answer has started: no problem document can follow, so cut the connection
 * (a truncated answer must not look complete). The access line then says `request failed
 * mid-answer`, with the status the failure would have had as `errorStatus`, at that status's
 * level — and Express's final handler never prints a raw stack.
 */
function abandonResponse(res: Response, error: GatehouseError): void {
  addLogContext(res, { errorStatus: error.status });
  if (!res.writableEnded) res.destroy();
}
