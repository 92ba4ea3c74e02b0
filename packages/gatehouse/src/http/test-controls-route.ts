import express, { type Request, type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';
import { revokeAtIdp } from '../oidc/test-controls.ts';
import {
  MAX_SIMULATED_OUTAGE_MS,
  storeOutageSimulated,
  type SessionTestControls,
  type SimulatedOutage,
} from '../session/test-controls.ts';
import { requireCsrfHeader } from './csrf.ts';
import { activeSession } from './session-access.ts';

/** The test controls: what it uses of the context. */
export type TestControlsRouteDeps = Pick<
  GatehouseContext,
  | 'clock'
  | 'config'
  | 'cookies'
  | 'metrics'
  | 'providers'
  | 'publicOrigin'
  | 'registry'
  | 'sessions'
  | 'testControls'
  | 'vault'
>;

const outageBody = z.strictObject({
  ms: z.number().int().min(1).max(MAX_SIMULATED_OUTAGE_MS),
});

/**
 * `/bff/test-controls/*`: end-to-end tests expire, revoke or fail their own session (development
 * mode with `testControls` only; the config loader refuses them in production). Every route is a
 * `POST` authenticated like any state-changing BFF call — the session cookie plus `X-CSRF: 1`,
 * no foreign `Origin` — and acts on that session only: no session id, user or tenant is ever
 * taken from the request. Without `testControls` in development mode every path answers
 * `404 test_controls_disabled`; in production mode nothing is mounted here at all.
 */
export function testControlsRouter(ctx: TestControlsRouteDeps): Router {
  const router = express.Router();
  const controls = ctx.testControls;
  if (!controls) {
    router.use((_req, _res, next) => next(problem('test_controls_disabled')));
    return router;
  }
  router.use(requireCsrfHeader(ctx.publicOrigin));
  router.use(express.json({ limit: '1kb' }));

  router.post('/expire-access-token', async (req, res) => {
    const sid = await ownSession(ctx, req);
    const record = await controls.expireAccessToken(sid);
    // The answer's field stays in epoch seconds, as it always was.
    res.json({ accessTokenExpiresAt: Math.floor(record.accessTokenExpiresAtMs / 1000) });
  });
  router.post('/expire-session', async (req, res) => {
    await controls.expireSession(await ownSession(ctx, req));
    res.status(204).end();
  });
  router.post('/revoke-at-idp', async (req, res) => {
    const sid = await ownSession(ctx, req);
    const record = req.session.gh;
    if (!record) throw problem('unauthenticated');
    const revoked = await revokeAtIdp(ctx, ctx.sessions.current(sid, record));
    res.json({ revoked });
  });
  router.post('/fail-idp', outage(ctx, controls, 'idp'));
  router.post('/fail-store', outage(ctx, controls, 'store'));
  router.use((req, _res, next) =>
    next(problem(req.method === 'POST' ? 'not_found' : 'method_not_allowed')),
  );
  return router;
}

function outage(
  ctx: TestControlsRouteDeps,
  controls: SessionTestControls,
  kind: SimulatedOutage,
): RequestHandler {
  return async (req, res) => {
    const sid = await ownSession(ctx, req);
    const { ms } = readBody(req);
    const until = await controls.simulateOutage(sid, kind, ms);
    res.json({ until: new Date(until).toISOString() });
  };
}

/** The caller's own live session id; 401 without one. */
async function ownSession(ctx: TestControlsRouteDeps, req: Request): Promise<string> {
  const record = await activeSession(ctx, req);
  if (!record) throw problem('unauthenticated');
  return req.sessionID;
}

function readBody(req: Request): z.infer<typeof outageBody> {
  if (req.body === undefined) throw problem('unsupported_media_type');
  const parsed = outageBody.safeParse(req.body);
  if (!parsed.success) {
    const errors = parsed.error.issues.flatMap((issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => ({ path: key, message: 'Unknown field.' }))
        : [{ path: issue.path.map(String).join('.'), message: issue.message }],
    );
    throw problem('validation_failed', { extra: { errors } });
  }
  return parsed.data;
}

/**
 * After the session is read, wherever a session is used: while a test control simulates a store
 * outage for this session, answer `503 store_unavailable` as Gatehouse does when Redis is down.
 * Mounted only with `testControls`.
 */
export function simulatedStoreOutage(ctx: TestControlsRouteDeps): RequestHandler {
  return (req, _res, next) => {
    if (storeOutageSimulated(req.session?.gh, ctx.clock())) {
      next(
        problem('store_unavailable', {
          detail: 'Session storage is unavailable (a test control); try again.',
        }),
      );
      return;
    }
    next();
  };
}
