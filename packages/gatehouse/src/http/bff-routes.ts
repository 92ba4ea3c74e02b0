import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';
import { absoluteLimit, sessionExpiresAt } from '../session/model.ts';
import { callback } from './callback-route.ts';
import { requireCsrfHeaderOrSameOriginForm } from './csrf.ts';
import { homeRealm, startLogin } from './login-routes.ts';
import { logout, signedOut } from './logout-routes.ts';
import { rateLimited } from './rate-limit.ts';
import { activeSession, sessionClaims, slideIfDue } from './session-access.ts';
import { tenantPage } from './tenant-page.ts';

/** The /bff routes (their route files' dependencies together): what it uses of the context. */
export type BffRoutesDeps = Pick<
  GatehouseContext,
  | 'audit'
  | 'clock'
  | 'config'
  | 'cookies'
  | 'metrics'
  | 'providers'
  | 'publicOrigin'
  | 'rateLimits'
  | 'registry'
  | 'sessions'
  | 'testControls'
  | 'transactions'
  | 'vault'
>;

/**
 * The handlers of the sign-in routes (after the app's common middleware): the login start and
 * home-realm discovery behind their rate limit, the callback (which counts its own limits).
 * The same functions serve the Express routes of {@link signInRouter} and the server's direct
 * hand-off of the sign-in's two requests (`http/sign-in-route.ts`).
 */
export interface SignInHandlers {
  login: RequestHandler[];
  homeRealm: RequestHandler[];
  callback: RequestHandler[];
}

export function signInHandlers(ctx: BffRoutesDeps): SignInHandlers {
  const limit = rateLimited(ctx.rateLimits, 'loginStart');
  return {
    login: [limit, (req, res) => startLogin(ctx, req, res)],
    homeRealm: [limit, (req, res) => homeRealm(ctx, req, res)],
    callback: [(req, res) => callback(ctx, req, res)],
  };
}

/**
 * The sign-in routes, mounted without express-session (`http/app.ts`): `GET /bff/login`,
 * `/bff/home-realm` and `/bff/callback/:tenant/:provider`. They read a session, where they need
 * one, straight from the store (`readRequestSession`), and the callback writes the new session
 * itself (`http/express-session-store.ts` `newSignedInSession`).
 */
export function signInRouter(ctx: BffRoutesDeps, handlers = signInHandlers(ctx)): Router {
  const router = express.Router();
  router.get('/login', ...handlers.login);
  router.get('/home-realm', ...handlers.homeRealm);
  router.get('/callback/:tenant/:provider', ...handlers.callback);
  return router;
}

/** The other /bff routes, behind express-session. */
export function bffRouter(ctx: BffRoutesDeps): Router {
  const router = express.Router();
  const logoutCsrf = requireCsrfHeaderOrSameOriginForm(ctx.publicOrigin);
  router.get('/tenants/:tenant', tenantPage(ctx));
  router.get('/user', (req, res) => currentUser(ctx, req, res));
  router.post('/logout', logoutCsrf, (req, res) => logout(ctx, req, res, 303));
  router.get('/logout', (req, res) => logout(ctx, req, res, 302));
  router.get('/signed-out', (req, res) => signedOut(ctx, req, res));
  return router;
}

async function currentUser(ctx: BffRoutesDeps, req: Request, res: Response): Promise<void> {
  let record = await activeSession(ctx, req);
  if (!record) throw problem('unauthenticated');
  if (req.query.slide !== 'false') record = await slideIfDue(ctx, req, record);
  const idleExpiresAt = ctx.sessions.idleExpiresAt(record);
  res.json({
    claims: await sessionClaims(ctx, req, { sid: req.sessionID, record }),
    tenant: record.tenant,
    provider: record.provider,
    issuer: record.issuer,
    // A link that signs this session out (a top-level navigation; the handle is this session's
    // public one, never its id), as Duende's `bff:logout_url`.
    logoutUrl: `/bff/logout?sid=${encodeURIComponent(record.handle)}`,
    session: {
      expiresAt: new Date(sessionExpiresAt(record, ctx.sessions.idleTimeoutMs)).toISOString(),
      idleExpiresAt: new Date(idleExpiresAt).toISOString(),
      absoluteExpiresAt: new Date(absoluteLimit(record)).toISOString(),
    },
  });
}
