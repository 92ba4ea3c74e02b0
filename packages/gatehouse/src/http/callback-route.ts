import type { Request, Response } from 'express';
import type { GatehouseContext } from '../context.ts';
import { GatehouseError } from '../errors.ts';
import { callbackUrlOf, finishCallback } from '../oidc/callback.ts';
import { takeCallbackTransaction, type TakenTransaction } from '../oidc/login.ts';
import { loginAttempt } from '../oidc/login-attempts.ts';
import { addLogContext, auditOrigin, userActor } from './audit-origin.ts';
import { redirectWithoutBody } from './bff-request.ts';
import { readCookie } from './cookies.ts';
import { newSignedInSession, type NewSession } from './express-session-store.ts';
import { setSignInRetry } from './pages.ts';
import { clientIp } from './rate-limit.ts';
import { sessionRecordSlot } from './request-state.ts';
import { readRequestSession, sessionIdFromCookie } from './session-access.ts';
import type { SessionRecord } from '../session/model.ts';
import { sendTestSignInPage, testSignInResult } from './test-sign-in.ts';

/** The callback: what it uses of the context. */
export type CallbackRouteDeps = Pick<
  GatehouseContext,
  | 'audit'
  | 'clock'
  | 'config'
  | 'cookies'
  | 'metrics'
  | 'providers'
  | 'rateLimits'
  | 'registry'
  | 'sessions'
  | 'testControls'
  | 'transactions'
  | 'vault'
>;

/** `GET /bff/callback/:tenant/:provider`: the adapter of `oidc/callback.ts` `finishCallback`. */

/**
 * The callback, and what its failure page needs. A browser that is already signed in and comes
 * back to a spent or expired callback (the Back button, a second tab) goes straight to the app;
 * any other failure remembers the tenant, provider and the attempt's return path, so that the
 * page's "Try again" restarts the same sign-in.
 */
export async function callback(ctx: CallbackRouteDeps, req: Request, res: Response): Promise<void> {
  try {
    await auditedLogin(ctx, req, res);
  } catch (error) {
    const state = typeof req.query.state === 'string' ? req.query.state : undefined;
    const attempt = await loginAttempt(ctx, state).catch(() => undefined);
    const spent =
      error instanceof GatehouseError &&
      (error.code === 'login_transaction_invalid' || error.code === 'login_expired');
    if (spent && (await signedIn(ctx, req))) {
      res.redirect(302, attempt?.returnTo ?? '/');
      return;
    }
    setSignInRetry(res, {
      tenant: String(req.params.tenant),
      provider: String(req.params.provider),
      returnTo: attempt?.returnTo ?? '/',
    });
    throw error;
  }
}

/** Whether this browser holds a live session (a store failure counts as no). */
async function signedIn(ctx: CallbackRouteDeps, req: Request): Promise<boolean> {
  try {
    return (await readRequestSession(ctx, req)) !== undefined;
  } catch {
    return false;
  }
}

/**
 * The callback with its limits (per client IP: every callback, and the failed ones: past that
 * limit every callback from the address is refused) and its metrics (succeeded, or failed with
 * the problem code as the reason).
 */
async function finishLoginCounted(
  ctx: CallbackRouteDeps,
  req: Request,
  res: Response,
): Promise<LoginOutcome> {
  const ip = clientIp(req);
  try {
    const tenant = String(req.params.tenant);
    const provider = String(req.params.provider);
    const query = callbackQuery(req);
    // Both limits and the transaction's take in one round trip (Redis auto-pipelining): any
    // answer uses the transaction up, a refusal by a limit too. The callback limit's refusal
    // first.
    const taking = takeCallbackTransaction(ctx, callbackUrlOf(ctx, tenant, provider, query));
    const limits = await Promise.allSettled([
      ctx.rateLimits.consume('callback', ip),
      ctx.rateLimits.check('failedCallback', ip),
    ]);
    for (const limit of limits) if (limit.status === 'rejected') throw limit.reason;
    return await finishLogin(ctx, req, res, { tenant, provider, query, taking });
  } catch (error) {
    const code = error instanceof GatehouseError ? error.code : 'internal_error';
    const known = await ctx.providers
      .resolve(String(req.params.tenant), String(req.params.provider))
      .catch(() => undefined);
    ctx.metrics.loginFailed(known?.tenant.id, known?.provider.id, code);
    // The caller's own failures count against it; an outage or a refusal already made do not.
    const status = error instanceof GatehouseError ? error.status : 500;
    if (status < 500 && code !== 'rate_limited') {
      await ctx.rateLimits.consume('failedCallback', ip).catch(() => undefined);
    }
    throw error;
  }
}

/**
 * The callback, audited: `sign-in` with outcome `success`, or `failure` with the problem code
 * as reason (the tenant of a failure is the one in the path; the audit log keeps it only when
 * that tenant exists).
 */
async function auditedLogin(ctx: CallbackRouteDeps, req: Request, res: Response): Promise<void> {
  // Whatever a caller put in the path: only so much of it goes into a log line.
  const tenant = String(req.params.tenant).slice(0, 64);
  const provider = String(req.params.provider).slice(0, 64);
  addLogContext(res, { tenant, provider });
  let outcome: LoginOutcome;
  try {
    outcome = await finishLoginCounted(ctx, req, res);
  } catch (error) {
    ctx.audit.record({
      tenant,
      actor: { kind: 'anonymous' },
      action: 'sign-in',
      target: `provider:${provider}`,
      outcome: 'failure',
      reason: error instanceof GatehouseError ? error.code : 'internal_error',
      ...auditOrigin(req),
    });
    throw error;
  }
  if (outcome.testBy !== undefined) {
    ctx.audit.record({
      tenant,
      actor: { kind: 'tenant-admin', id: outcome.testBy },
      action: 'provider.tested',
      target: `provider:${provider}`,
      outcome: 'success',
      reason: 'test-sign-in',
      ...auditOrigin(req),
    });
    return;
  }
  const record = outcome.record;
  if (record) {
    ctx.audit.record({
      tenant,
      actor: userActor(record),
      action: 'sign-in',
      target: `provider:${provider}`,
      outcome: 'success',
      ...auditOrigin(req),
    });
  }
}

/** A sign-in (the new session's record), or a tenant admin's test sign-in (`testBy`: the admin), which created no session. */
interface LoginOutcome {
  record?: SessionRecord;
  testBy?: string;
}

/** The callback's query string (`?…`, or `''`) as the browser sent it. */
function callbackQuery(req: Request): string {
  const at = req.originalUrl.indexOf('?');
  return at === -1 ? '' : req.originalUrl.slice(at);
}

async function finishLogin(
  ctx: CallbackRouteDeps,
  req: Request,
  res: Response,
  callbackRequest: {
    tenant: string;
    provider: string;
    query: string;
    taking: TakenTransaction | undefined;
  },
): Promise<LoginOutcome> {
  const { tenant } = callbackRequest;
  let created: NewSession | undefined;
  const outcome = await finishCallback(
    ctx,
    {
      ...callbackRequest,
      binding: readCookie(req, ctx.cookies.loginBinding),
      userAgent: req.get('user-agent'),
    },
    {
      renew: async (record, maxAgeMs) => {
        // Never adopt the browser's session id (fixation): a session it presented ends here (as
        // express-session's regenerate would end it), and the signed-in one gets a fresh id.
        const previous = sessionIdFromCookie(
          req.headers.cookie,
          ctx.cookies.session,
          ctx.config.session.secrets,
        );
        if (previous !== undefined) await ctx.sessions.destroy(previous);
        created = newSignedInSession(record, {
          name: ctx.cookies.session,
          secrets: ctx.config.session.secrets,
          secure: ctx.config.secureCookies,
          maxAgeMs,
        });
        return created.id;
      },
      // One write; a store failure is a 503 before any cookie is set.
      save: async () => {
        if (created) await ctx.sessions.store.save(created.id, created.stored);
      },
    },
  );
  if (outcome.kind === 'tested') {
    sendTestSignInPage(res, testSignInResult(tenant, outcome.provider, outcome.claims));
    return { testBy: outcome.testBy };
  }
  // As express-session: a Secure cookie only goes out on a request that came over https.
  if (created && (!ctx.config.secureCookies || req.secure)) {
    res.append('set-cookie', created.setCookie);
  }
  // Whom the access line names (express-session's `req.session` is not there to say it).
  sessionRecordSlot.set(res, outcome.record);
  redirectWithoutBody(res, 302, outcome.returnTo);
  return { record: outcome.record };
}
