import type { Request, Response } from 'express';
import type { AuditActor, AuditOrigin } from '../observability/audit.ts';
import { sessionUser, type SessionRecord } from '../session/model.ts';

/** The request id and client address of an audit event (the address as `trust proxy` sees it). */
export function auditOrigin(req: Request): AuditOrigin {
  return {
    ...(typeof req.id === 'string' ? { requestId: req.id } : {}),
    ...(req.ip ? { ip: req.ip } : {}),
  };
}

/** The signed-in user of a session, as an audit actor (their digest, never a claim). */
export const userActor = (record: SessionRecord): AuditActor => ({
  kind: 'user',
  id: sessionUser(record),
});

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

/** Adds fields to this request's access-log line (kept in `res.locals.logContext`). */
export function addLogContext(res: Response, fields: LogContext): void {
  const locals = res.locals as { logContext?: LogContext };
  locals.logContext = { ...locals.logContext, ...fields };
}

/**
 * The fields of a request's access-log line: the session's tenant, provider and user handle
 * when it has one (express-session's `req.session.gh`, or `res.locals.sessionRecord` set by a
 * handler that reads the session without express-session), and whatever the handlers added.
 * Read once, when the line is written.
 */
export function logContextOf(
  req: { session?: { gh?: SessionRecord | undefined } | undefined },
  res: { locals?: { logContext?: LogContext; sessionRecord?: SessionRecord } },
): LogContext | undefined {
  const added = res.locals?.logContext;
  const record = req.session?.gh ?? res.locals?.sessionRecord;
  if (!record) return added;
  return {
    tenant: record.tenant,
    provider: record.provider,
    user: sessionUser(record),
    ...added,
  };
}
