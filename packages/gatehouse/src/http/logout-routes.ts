import type { Request, Response } from 'express';
import type { GatehouseContext } from '../context.ts';
import { sameSecret } from '../digest.ts';
import { problem } from '../errors.ts';
import { takeLogout } from '../oidc/logout.ts';
import { signOut } from '../oidc/sign-out.ts';
import { sessionUser } from '../session/model.ts';
import { addLogContext, auditOrigin } from './audit-origin.ts';
import { promisify, redirectWithoutBody, singleQueryValue } from './bff-request.ts';
import { validateReturnTo } from './return-to.ts';

/** Logout and signed-out: what it uses of the context. */
export type LogoutRoutesDeps = Pick<
  GatehouseContext,
  | 'audit'
  | 'config'
  | 'cookies'
  | 'metrics'
  | 'providers'
  | 'publicOrigin'
  | 'sessions'
  | 'transactions'
  | 'vault'
>;

/** `POST` and `GET /bff/logout`, `GET /bff/signed-out`: the adapter of `oidc/sign-out.ts` `signOut`. */

/**
 * Sign-out as a top-level navigation (the browser's form post or link, never a script's fetch):
 * the session ends everywhere (the server-side record, so the cookie is dead on every instance;
 * the refresh and access tokens revoked at the IdP), then the browser is redirected (303 after
 * a POST, 302 for the GET link) to the IdP's end-session URL with a `state`, or straight back to
 * the app. The redirect's `Location` is out of a script's reach (a fetch sees an opaque
 * redirect), and no body carries a URL or a token.
 */
export async function logout(
  ctx: LogoutRoutesDeps,
  req: Request,
  res: Response,
  status: 302 | 303,
): Promise<void> {
  const returnTo = validateReturnTo(singleQueryValue(req, 'returnTo'), ctx.publicOrigin);
  const record = req.session.gh;
  if (status === 302 && record) {
    // The GET link must name this very session: a link on another site (or an old one) cannot
    // sign the user out.
    const given = singleQueryValue(req, 'sid');
    if (given === undefined || !sameSecret(given, record.handle)) {
      throw problem('logout_sid_mismatch');
    }
  }
  // The IdP's part is prepared first: the state is stored before anything ends, so a store
  // failure (503) loses nothing and the user can simply try again.
  res.setHeader('cache-control', 'no-store');
  if (!record) {
    // Nothing to end. The cookie is left alone: a cross-site link (whose request carries no
    // SameSite=Strict cookie) must not clear the one the browser holds.
    redirectWithoutBody(res, status, returnTo);
    return;
  }
  const { redirectTo } = await signOut(
    ctx,
    {
      sid: req.sessionID,
      record,
      returnTo,
      origin: auditOrigin(req),
      // Made on first use: a logout that goes well never needs it.
      get log() {
        return req.log;
      },
    },
    async () => {
      // Deleted here first, to learn whether this request is the one that ended the session
      // (two tabs signing out at once end it, and are audited, once); express-session's own
      // destroy then only forgets it.
      const ended = await ctx.sessions.destroy(req.sessionID);
      await promisify((cb) => req.session.destroy(cb));
      res.clearCookie(ctx.cookies.session, {
        path: '/',
        httpOnly: true,
        secure: ctx.config.secureCookies,
        sameSite: 'strict',
      });
      // The session is gone: the access line still says whose it was.
      addLogContext(res, {
        tenant: record.tenant,
        provider: record.provider,
        user: sessionUser(record),
      });
      return ended;
    },
  );
  redirectWithoutBody(res, status, redirectTo);
}

/**
 * `GET /bff/signed-out`: where the IdP sends the browser after its logout (the post-logout
 * redirect URI registered there). The `state` Gatehouse sent says where in the app to go; a
 * missing, unknown, expired or reused one lands on `/`, with nothing said about why.
 */
export async function signedOut(ctx: LogoutRoutesDeps, req: Request, res: Response): Promise<void> {
  const state = req.query.state;
  const returnTo = await takeLogout(
    ctx.transactions,
    typeof state === 'string' ? state : undefined,
  );
  res.setHeader('cache-control', 'no-store');
  redirectWithoutBody(res, 302, returnTo ?? '/');
}
