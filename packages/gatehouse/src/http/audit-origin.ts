import type { Request } from 'express';
import type { AuditActor, AuditOrigin } from '../observability/audit.ts';
import { sessionUser, type SessionRecord } from '../session/model.ts';
import {
  logContextSlot,
  sessionRecordSlot,
  type LogContext,
  type WithLocals,
} from './request-state.ts';

export type { LogContext };

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

/** Adds fields to this request's access-log line (kept in its {@link logContextSlot}). */
export function addLogContext(res: WithLocals, fields: LogContext): void {
  logContextSlot.set(res, { ...logContextSlot.get(res), ...fields });
}

/**
 * The fields of a request's access-log line: the session's tenant, provider and user handle
 * when it has one (express-session's `req.session.gh`, or the {@link sessionRecordSlot} set by a
 * handler that reads the session without express-session), and whatever the handlers added.
 * Read once, when the line is written.
 */
export function logContextOf(
  req: { session?: { gh?: SessionRecord | undefined } | undefined },
  res: WithLocals,
): LogContext | undefined {
  const added = logContextSlot.get(res);
  const record = req.session?.gh ?? sessionRecordSlot.get(res);
  if (!record) return added;
  return {
    tenant: record.tenant,
    provider: record.provider,
    user: sessionUser(record),
    ...added,
  };
}
