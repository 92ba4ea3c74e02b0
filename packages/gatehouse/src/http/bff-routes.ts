import express, { type Request, type Response, type Router } from 'express';
import { sameSecret } from '../digest.ts';
import { GatehouseError, problem } from '../errors.ts';
import { beginLogin, newBrowserBinding, LOGIN_TRANSACTION_TTL_MS } from '../oidc/login.ts';
import { absoluteLimit, openClaims, sessionExpiresAt, sessionUser } from '../session/model.ts';
import type { GatehouseContext } from '../context.ts';
import { finishCallback } from '../oidc/callback.ts';
import { takeLogout } from '../oidc/logout.ts';
import { signOut } from '../oidc/sign-out.ts';
import { addLogContext, auditOrigin, userActor } from './audit-origin.ts';
import { readCookie } from './cookies.ts';
import { activeSession, slideIfDue } from './session-access.ts';
import { requireCsrfHeaderOrSameOriginForm } from './csrf.ts';
import { validateReturnTo } from './return-to.ts';
import { tenantPage } from './tenant-page.ts';
import { setSignInRetry } from './pages.ts';
import { loginAttempt } from '../oidc/login-attempts.ts';
import { sendTestSignInPage, testSignInAdmin, testSignInResult } from './test-sign-in.ts';
import { clientIp, rateLimited } from './rate-limit.ts';

/** Query parameters must be single strings: `returnTo[]=…` or a repeated key is refused. */
function singleQueryValue(req: Request, name: string): string | undefined {
  const value: unknown = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    throw problem('invalid_parameter', { detail: `The "${name}" parameter must appear once.` });
  return value;
}

const promisify = (fn: (cb: (err?: unknown) => void) => void) =>
  new Promise<void>((resolve, reject) =>
    fn((err) =>
      err ? reject(err instanceof Error ? err : new Error('session operation failed')) : resolve(),
    ),
  );

export function bffRouter(ctx: GatehouseContext): Router {
  const router = express.Router();
  const logoutCsrf = requireCsrfHeaderOrSameOriginForm(ctx.publicOrigin);
  router.get('/login', rateLimited(ctx.rateLimits, 'loginStart'), (req, res) =>
    startLogin(ctx, req, res),
  );
  router.get('/tenants/:tenant', tenantPage(ctx));
  router.get('/home-realm', rateLimited(ctx.rateLimits, 'loginStart'), (req, res) =>
    homeRealm(ctx, req, res),
  );
  router.get('/callback/:tenant/:provider', (req, res) => callback(ctx, req, res));
  router.get('/user', (req, res) => currentUser(ctx, req, res));
  router.post('/logout', logoutCsrf, (req, res) => logout(ctx, req, res, 303));
  router.get('/logout', (req, res) => logout(ctx, req, res, 302));
  router.get('/signed-out', (req, res) => signedOut(ctx, req, res));
  return router;
}

async function startLogin(ctx: GatehouseContext, req: Request, res: Response): Promise<void> {
  const mode = singleQueryValue(req, 'mode');
  if (mode !== undefined && mode !== 'test') {
    throw problem('invalid_parameter', { detail: 'The "mode" parameter can only be "test".' });
  }
  if (mode === 'test') {
    await startTestSignIn(ctx, req, res);
    return;
  }
  const returnTo = validateReturnTo(singleQueryValue(req, 'returnTo'), ctx.publicOrigin);
  const email = singleQueryValue(req, 'email');
  const loginHint = singleQueryValue(req, 'login_hint') ?? email;
  const tenantId =
    singleQueryValue(req, 'tenant') ??
    (email ? await tenantForEmail(ctx, email) : await tenantForRequestHost(ctx, req));
  if (!tenantId) throw problem('tenant_required');
  const tenant = await ctx.registry.tenant(tenantId);
  if (!tenant) throw problem('unknown_tenant');

  let providerId = singleQueryValue(req, 'provider');
  if (!providerId) {
    const enabled = (await ctx.registry.providers(tenant.id)).filter((p) => p.enabled);
    if (enabled.length !== 1 || !enabled[0]) {
      // Several (or no) providers: the SPA's tenant page lets the user choose.
      res.redirect(302, `/t/${tenant.id}?returnTo=${encodeURIComponent(returnTo)}`);
      return;
    }
    providerId = enabled[0].id;
  }

  let binding = readCookie(req, ctx.cookies.loginBinding);
  if (!binding || !/^[A-Za-z0-9_-]{43}$/.test(binding)) binding = newBrowserBinding();
  const url = await beginLogin(ctx, {
    tenant: tenant.id,
    provider: providerId,
    returnTo,
    binding,
    ...(loginHint ? { loginHint } : {}),
    resources: resourcesFor(ctx, tenant.id),
  });
  ctx.metrics.loginStarted(tenant.id, providerId);
  setLoginBinding(ctx, res, binding);
  res.redirect(302, url.href);
}

/**
 * `mode=test`: a tenant admin tries one provider (`tenant` and `provider` named) in a popup.
 * Only a signed-in admin of that tenant may; the callback then creates no session.
 */
async function startTestSignIn(ctx: GatehouseContext, req: Request, res: Response): Promise<void> {
  const tenantId = singleQueryValue(req, 'tenant');
  const providerId = singleQueryValue(req, 'provider');
  if (!tenantId || !providerId) {
    throw problem('invalid_parameter', {
      detail: 'A test sign-in names its "tenant" and "provider".',
    });
  }
  const testBy = await testSignInAdmin(ctx, req, tenantId);
  let binding = readCookie(req, ctx.cookies.loginBinding);
  if (!binding || !/^[A-Za-z0-9_-]{43}$/.test(binding)) binding = newBrowserBinding();
  const url = await beginLogin(ctx, {
    tenant: tenantId,
    provider: providerId,
    returnTo: '/admin',
    binding,
    testBy,
  });
  setLoginBinding(ctx, res, binding);
  res.redirect(302, url.href);
}

function setLoginBinding(ctx: GatehouseContext, res: Response, binding: string): void {
  // Lax so that it comes back on the IdP's top-level redirect to our callback.
  res.cookie(ctx.cookies.loginBinding, binding, {
    httpOnly: true,
    secure: ctx.config.secureCookies,
    sameSite: 'lax',
    path: '/',
    maxAge: LOGIN_TRANSACTION_TTL_MS,
  });
}

/** The resource indicators (RFC 8707) of the API routes a tenant's sessions may use. */
function resourcesFor(ctx: GatehouseContext, tenantId: string): string[] {
  const resources = ctx.config.routes
    .filter((route) => route.resource && (!route.tenants || route.tenants.includes(tenantId)))
    .map((route) => route.resource ?? '');
  return [...new Set(resources)];
}

/**
 * The tenant whose hosts include the request's Host, else the default tenant. An HTTP/1.0
 * request may carry no Host at all: it signs in like any request for an unknown host does.
 */
async function tenantForRequestHost(
  ctx: GatehouseContext,
  req: Request,
): Promise<string | undefined> {
  const host: string | undefined = req.hostname;
  const tenant = host ? await ctx.registry.tenantForHost(host) : undefined;
  return tenant?.id ?? ctx.config.defaultTenant;
}

/**
 * `GET /bff/home-realm?email=…`: the tenant that signs in this email address, as JSON, so that
 * the SPA can say "unknown domain" next to the field (keeping what was typed) before it
 * navigates to `/bff/login`. It tells no more than `/bff/login?email=…` does, under the same
 * rate limit, and starts no login.
 */
async function homeRealm(ctx: GatehouseContext, req: Request, res: Response): Promise<void> {
  const email = singleQueryValue(req, 'email');
  if (!email) throw problem('invalid_parameter', { detail: 'The "email" parameter is required.' });
  res.json({ tenant: await tenantForEmail(ctx, email) });
}

/** Home-realm discovery: the tenant owning the email's domain; unknown domains reveal nothing. */
async function tenantForEmail(ctx: GatehouseContext, email: string): Promise<string> {
  const domain =
    email.length > 320 ? undefined : /^[^@\s]+@([^@\s]+)$/.exec(email.trim())?.[1]?.toLowerCase();
  const tenant = domain ? await ctx.registry.tenantForEmailDomain(domain) : undefined;
  if (!tenant) throw problem('unknown_email_domain');
  return tenant.id;
}

/**
 * The callback, and what its failure page needs. A browser that is already signed in and comes
 * back to a spent or expired callback (the Back button, a second tab) goes straight to the app;
 * any other failure remembers the tenant, provider and the attempt's return path, so that the
 * page's "Try again" restarts the same sign-in.
 */
async function callback(ctx: GatehouseContext, req: Request, res: Response): Promise<void> {
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
async function signedIn(ctx: GatehouseContext, req: Request): Promise<boolean> {
  try {
    return (await activeSession(ctx, req)) !== undefined;
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
  ctx: GatehouseContext,
  req: Request,
  res: Response,
): Promise<LoginOutcome> {
  const ip = clientIp(req);
  try {
    await ctx.rateLimits.consume('callback', ip);
    await ctx.rateLimits.check('failedCallback', ip);
    return await finishLogin(ctx, req, res);
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
async function auditedLogin(ctx: GatehouseContext, req: Request, res: Response): Promise<void> {
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
  const record = req.session.gh;
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

/** A sign-in, or a tenant admin's test sign-in (`testBy`: the admin), which created no session. */
interface LoginOutcome {
  testBy?: string;
}

async function finishLogin(
  ctx: GatehouseContext,
  req: Request,
  res: Response,
): Promise<LoginOutcome> {
  const tenant = String(req.params.tenant);
  const provider = String(req.params.provider);
  const query = req.originalUrl.includes('?')
    ? req.originalUrl.slice(req.originalUrl.indexOf('?'))
    : '';
  const outcome = await finishCallback(
    ctx,
    {
      tenant,
      provider,
      query,
      binding: readCookie(req, ctx.cookies.loginBinding),
      userAgent: req.get('user-agent'),
    },
    {
      renew: async (record, maxAgeMs) => {
        await promisify((cb) => req.session.regenerate(cb));
        req.session.cookie.maxAge = maxAgeMs;
        req.session.gh = record;
        return req.sessionID;
      },
      save: () => promisify((cb) => req.session.save(cb)),
    },
  );
  if (outcome.kind === 'tested') {
    sendTestSignInPage(res, testSignInResult(tenant, outcome.provider, outcome.claims));
    return { testBy: outcome.testBy };
  }
  res.redirect(302, outcome.returnTo);
  return {};
}

async function currentUser(ctx: GatehouseContext, req: Request, res: Response): Promise<void> {
  let record = await activeSession(ctx, req);
  if (!record) throw problem('unauthenticated');
  if (req.query.slide !== 'false') record = await slideIfDue(ctx, req, record);
  const idleExpiresAt = ctx.sessions.idleExpiresAt(record);
  res.json({
    claims: await openClaims(ctx.vault, record),
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

/**
 * Sign-out as a top-level navigation (the browser's form post or link, never a script's fetch):
 * the session ends everywhere (the server-side record, so the cookie is dead on every instance;
 * the refresh and access tokens revoked at the IdP), then the browser is redirected (303 after
 * a POST, 302 for the GET link) to the IdP's end-session URL with a `state`, or straight back to
 * the app. The redirect's `Location` is out of a script's reach (a fetch sees an opaque
 * redirect), and no body carries a URL or a token.
 */
async function logout(
  ctx: GatehouseContext,
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
    },
  );
  redirectWithoutBody(res, status, redirectTo);
}

/**
 * A redirect with an empty body: Express's `res.redirect` writes the URL into the body too, and
 * an end-session URL carries the ID token as `id_token_hint`.
 */
function redirectWithoutBody(res: Response, status: 302 | 303, url: string): void {
  res.status(status).location(url).end();
}

/**
 * `GET /bff/signed-out`: where the IdP sends the browser after its logout (the post-logout
 * redirect URI registered there). The `state` Gatehouse sent says where in the app to go; a
 * missing, unknown, expired or reused one lands on `/`, with nothing said about why.
 */
async function signedOut(ctx: GatehouseContext, req: Request, res: Response): Promise<void> {
  const state = req.query.state;
  const returnTo = await takeLogout(
    ctx.transactions,
    typeof state === 'string' ? state : undefined,
  );
  res.setHeader('cache-control', 'no-store');
  redirectWithoutBody(res, 302, returnTo ?? '/');
}
