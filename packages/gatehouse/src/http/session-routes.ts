import express, { type Request, type Router } from 'express';
import { problem } from '../errors.ts';
import type { GatehouseContext } from '../context.ts';
import { sessionUser, type SessionRecord } from '../session/model.ts';
import { auditOrigin, userActor } from './audit-origin.ts';
import { activeSession, sessionClaims } from './session-access.ts';
import { requireCsrfHeader } from './csrf.ts';

/** The session management routes: what it uses of the context. */
export type SessionRoutesDeps = Pick<
  GatehouseContext,
  | 'clock'
  | 'config'
  | 'cookies'
  | 'metrics'
  | 'publicOrigin'
  | 'registry'
  | 'sessions'
  | 'testControls'
  | 'vault'
>;

/**
 * Session management for the signed-in user: `GET /bff/sessions` lists their sessions (by
 * opaque handle, never the session id), `DELETE /bff/sessions/:id` ends one, and
 * `POST /bff/sessions/end-others` ends all but the current one.
 */
export function sessionRouter(ctx: SessionRoutesDeps): Router {
  const router = express.Router();
  const csrf = requireCsrfHeader(ctx.publicOrigin);

  router.get('/', async (req, res) => {
    const { record, sessions } = await userSessions(ctx, req);
    res.json({
      sessions: [...sessions].map(([sid, other]) => ({
        id: other.handle,
        createdAt: new Date(other.createdAtMs).toISOString(),
        lastSeenAt: new Date(other.lastSeenAtMs).toISOString(),
        device: other.device,
        // Parsed at sign-in (ua-parser-js); older records have only the summary.
        browser: other.deviceInfo?.browser ?? null,
        os: other.deviceInfo?.os ?? null,
        deviceType: other.deviceInfo?.type ?? null,
        current: sid === req.sessionID,
      })),
      user: { sub: (await sessionClaims(ctx, req, { sid: req.sessionID, record })).sub },
    });
  });

  router.delete('/:handle', csrf, async (req, res) => {
    const handle = String(req.params.handle);
    const { record, sessions } = await userSessions(ctx, req);
    const match = [...sessions].find(([, other]) => other.handle === handle);
    if (!match) throw problem('not_found', { detail: 'No such session.' });
    const [sid, other] = match;
    if (sid === req.sessionID) throw problem('current_session');
    if (await ctx.sessions.end(sid, other, userEnding(req, record))) {
      ctx.metrics.sessionsEnded('user');
    }
    res.status(204).end();
  });

  router.post('/end-others', csrf, async (req, res) => {
    const { record, sessions } = await userSessions(ctx, req);
    const ended = await ctx.sessions.endMatching(
      sessions,
      (_record, sid) => sid !== req.sessionID,
      userEnding(req, record),
    );
    ctx.metrics.sessionsEnded('user', ended);
    res.status(204).end();
  });

  router.use((_req, _res, next) => next(problem('method_not_allowed')));
  return router;
}

/** The live sessions of the signed-in user: the same (issuer, sub), in the same tenant. */
async function userSessions(
  ctx: SessionRoutesDeps,
  req: Request,
): Promise<{ record: SessionRecord; sessions: Map<string, SessionRecord> }> {
  const record = await activeSession(ctx, req);
  if (!record) throw problem('unauthenticated');
  const all = await ctx.sessions.sessionsOfUserDigest(sessionUser(record));
  const sessions = new Map([...all].filter(([, other]) => other.tenant === record.tenant));
  sessions.set(req.sessionID, record);
  return { record, sessions };
}

/** A user ending one of their own other sessions (sessions page). */
const userEnding = (req: Request, record: SessionRecord) =>
  ({ reason: 'user', by: userActor(record), ...auditOrigin(req) }) as const;
