import type { Request } from 'express';
import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';
import type { SessionRecord } from '../session/model.ts';
import { auditOrigin } from './audit-origin.ts';

/**
 * The session of this request if it is still live. An idle or absolute timeout ends it here
 * (401 `session_expired`), so an expired session is never used even before the store drops it.
 */
export async function activeSession(
  ctx: GatehouseContext,
  req: Request,
): Promise<SessionRecord | undefined> {
  const record = req.session.gh;
  if (!record) return undefined;
  if (ctx.sessions.isExpired(record)) {
    const idle = ctx.clock() >= ctx.sessions.idleExpiresAt(record);
    await ctx.sessions.end(req.sessionID, record, {
      reason: idle ? 'idle' : 'absolute',
      ...auditOrigin(req),
    });
    ctx.metrics.sessionsEnded(idle ? 'idle' : 'absolute');
    throw problem('session_expired');
  }
  // A deleted, disabled or re-pointed provider ends its sessions (from the in-process registry
  // view: no store read at steady state).
  if (!(await ctx.registry.isSessionProviderLive(record))) {
    await ctx.sessions.end(req.sessionID, record, {
      reason: 'provider-gone',
      ...auditOrigin(req),
    });
    ctx.metrics.sessionsEnded('provider_removed');
    throw problem('session_expired', {
      detail: 'The sign-in provider of this session is no longer available.',
    });
  }
  return record;
}

/** Moves the idle deadline forward at most once per slide interval: one write every few minutes. */
export async function slideIfDue(
  ctx: GatehouseContext,
  req: Request,
  record: SessionRecord,
): Promise<SessionRecord> {
  const now = ctx.clock();
  if (now - record.lastSeenAt < ctx.sessions.slideIntervalMs(record)) return record;
  const updated = await ctx.sessions.tryUpdate(req.sessionID, (current) => ({
    ...current,
    lastSeenAt: now,
  }));
  if (updated === null) throw problem('session_expired');
  return updated ?? record;
}
