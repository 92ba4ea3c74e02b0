import type { RouteConfig } from '../config/schema.ts';
import type { RouteMatch } from '../proxy/routes.ts';
import type { SessionRecord } from '../session/model.ts';

/**
 * Per-request data handed from one middleware to the next (or to the access log), typed: each
 * slot names one value kept on the response for the life of the request (in Express's
 * `res.locals`, under the slot's name). The only place that touches `res.locals`.
 *
 * @example
 * apiRouteSlot.set(res, matchRoute(routes, req.originalUrl));
 * const match = apiRouteSlot.get(res); // RouteMatch | undefined
 */
export interface RequestSlot<T> {
  get(res: WithLocals): T | undefined;
  set(res: WithLocals, value: T): void;
}

/** What a slot needs of a response: Express's `res.locals`. */
export interface WithLocals {
  locals: object;
}

/** A slot of its own for one kind of per-request value (a module's private data included). */
export function requestSlot<T>(name: string): RequestSlot<T> {
  return {
    get: (res) => (res.locals as Partial<Record<string, T>>)[name],
    set: (res, value) => {
      (res.locals as Record<string, T>)[name] = value;
    },
  };
}

/** What a request's access-log line says about whom it served, besides method, URL and status. */
export interface LogContext {
  tenant?: string;
  provider?: string;
  /** `userDigest(issuer, sub)`: a handle, never a name, email or sub. */
  user?: string;
  /** The problem code of an error answer, and its cause (no stack). */
  errorCode?: string;
  reason?: string;
  /** A client error's cause as the error handler keeps it (an IdP's `error` / `error_description`…). */
  cause?: Record<string, string>;
  /** A 500's error (pino's `err` serializer writes its message and stack). */
  err?: unknown;
  /**
   * Set when the answer had started before it failed: the status the failure would have had
   * (the line's `res.statusCode` is what was already sent). The line is then `request failed
   * mid-answer`, at the level of this status.
   */
  errorStatus?: number;
}

/** What "Try again" on a failed callback restarts: the same tenant, provider and return path. */
export interface SignInRetry {
  tenant: string;
  provider: string;
  returnTo: string;
}

/** The gateway route a forward-auth check resolved (none: the session's own token). */
export interface GatewayDecision {
  route: RouteConfig | undefined;
}

/** The API route a `/api` request matched (set before the session is read; marks a proxied call). */
export const apiRouteSlot = requestSlot<RouteMatch>('apiRoute');
/** A session read without express-session (`/api`, `/bff/authz`): whom the access line names. */
export const sessionRecordSlot = requestSlot<SessionRecord>('sessionRecord');
/** Fields the handlers add to the access-log line. */
export const logContextSlot = requestSlot<LogContext>('logContext');
/** Set once the request's access line is written (or skipped). */
export const accessLogDoneSlot = requestSlot<true>('accessLogDone');
/** How the error page of a failed callback restarts the sign-in. */
export const signInRetrySlot = requestSlot<SignInRetry>('signInRetry');
/** The route `/bff/authz` checked, for the answer that follows. */
export const gatewaySlot = requestSlot<GatewayDecision>('gateway');
