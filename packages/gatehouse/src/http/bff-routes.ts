import { randomBytes } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import * as client from 'openid-client';
import { sameSecret, userDigest } from '../digest.ts';
import { GatehouseError, problem } from '../errors.ts';
import {
  beginLogin,
  completeLogin,
  newBrowserBinding,
  LOGIN_TRANSACTION_TTL_MS,
} from '../oidc/login.ts';
import {
  absoluteLimit,
  filterClaims,
  openClaims,
  sessionExpiresAt,
  sessionUser,
  type SessionRecord,
  type TokenSet,
} from '../session/model.ts';
import type { GatehouseContext } from '../context.ts';
import { deviceInfo, summaryOf } from '../session/device-summary.ts';
import { endSessionUrl, rememberLogout, takeLogout } from '../oidc/logout.ts';
import type { Provider } from '../tenants/model.ts';
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
  redirectWithoutBody(res, 302, url.href);
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
    // Both limits in one round trip (Redis auto-pipelining); the callback limit's refusal first.
    const limits = await Promise.allSettled([
      ctx.rateLimits.consume('callback', ip),
      ctx.rateLimits.check('failedCallback', ip),
    ]);
    for (const limit of limits) if (limit.status === 'rejected') throw limit.reason;
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
  // The redirect URI comes from configuration, never from Host / X-Forwarded-Host.
  const query = req.originalUrl.includes('?')
    ? req.originalUrl.slice(req.originalUrl.indexOf('?'))
    : '';
  const callbackUrl = new URL(`${ctx.providers.redirectUri(tenant, provider)}${query}`);
  const login = await completeLogin(ctx, {
    tenant,
    provider,
    callbackUrl,
    binding: readCookie(req, ctx.cookies.loginBinding),
  });
  if (login.transaction.testBy !== undefined) {
    // The admin's test: what the IdP answered, and no session touched (none created, none
    // replaced: express-session writes nothing for an unmodified session).
    const resolved = await ctx.providers.resolve(tenant, provider);
    sendTestSignInPage(
      res,
      testSignInResult(
        tenant,
        { id: provider, displayName: resolved?.provider.displayName ?? provider },
        login.claims,
      ),
    );
    return { testBy: login.transaction.testBy };
  }
  const now = ctx.clock();
  const claims = login.claims;
  const timeouts = await sessionTimeouts(ctx, tenant);
  const agent = deviceInfo(req.get('user-agent'));
  // Sealed at once: each seal is a WebCrypto job on libuv's pool.
  const [sealedClaims, sealedTokens, sealedDpopKey] = await Promise.all([
    ctx.vault.seal(filterClaims({ ...claims, sub: String(claims.sub) })),
    ctx.vault.seal(login.tokens),
    login.dpopKey ? ctx.vault.seal(login.dpopKey) : undefined,
  ]);
  const record: SessionRecord = {
    v: 1,
    tenant,
    provider,
    issuer: String(claims.iss),
    user: userDigest(String(claims.iss), String(claims.sub)),
    ...(typeof claims.sid === 'string' ? { sid: claims.sid } : {}),
    // Identity claims are sealed at rest like the tokens; `/bff/user` opens them.
    claims: sealedClaims,
    tokens: sealedTokens,
    accessTokenExpiresAt: login.tokens.expiresAt,
    // The DPoP key the tokens are bound to, sealed like them (a DPoP provider only).
    ...(sealedDpopKey ? { dpopKey: sealedDpopKey } : {}),
    createdAt: now,
    lastSeenAt: now,
    absoluteExpiresAt: now + timeouts.absoluteTimeoutSeconds * 1000,
    ...(timeouts.idleTimeoutSeconds !== ctx.config.session.idleTimeoutSeconds
      ? { idleTimeoutMs: timeouts.idleTimeoutSeconds * 1000 }
      : {}),
    ...(login.refreshExpiresAt ? { refreshExpiresAt: login.refreshExpiresAt } : {}),
    handle: randomBytes(16).toString('base64url'),
    device: summaryOf(agent),
    deviceInfo: agent,
  };
  // Never adopt a pre-login session id: a fresh one for the signed-in session.
  await promisify((cb) => req.session.regenerate(cb));
  req.session.cookie.maxAge = timeouts.absoluteTimeoutSeconds * 1000;
  req.session.gh = record;
  // Index first: a session that exists is always findable by back-channel logout and admins
  // (a leftover index entry of a session that was never saved is pruned when listed).
  await ctx.sessions.indexSession(req.sessionID, record);
  await promisify((cb) => req.session.save(cb));
  ctx.metrics.loginSucceeded(tenant, provider);
  ctx.metrics.sessionCreated(tenant);
  redirectWithoutBody(res, 302, login.transaction.returnTo);
  return {};
}

/** The deployment's timeouts with the tenant's own overrides (config or admin API) applied. */
async function sessionTimeouts(ctx: GatehouseContext, tenantId: string) {
  const overrides = (await ctx.registry.tenant(tenantId))?.session;
  return {
    idleTimeoutSeconds: overrides?.idleTimeoutSeconds ?? ctx.config.session.idleTimeoutSeconds,
    absoluteTimeoutSeconds:
      overrides?.absoluteTimeoutSeconds ?? ctx.config.session.absoluteTimeoutSeconds,
  };
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
  const idp = await idpLogout(ctx, req, record, returnTo);
  const sid = req.sessionID;
  await promisify((cb) => req.session.destroy(cb));
  res.clearCookie(ctx.cookies.session, {
    path: '/',
    httpOnly: true,
    secure: ctx.config.secureCookies,
    sameSite: 'strict',
  });
  ctx.metrics.sessionsEnded('logout');
  // The session is gone: the access line and the audit trail still say whose it was.
  addLogContext(res, {
    tenant: record.tenant,
    provider: record.provider,
    user: sessionUser(record),
  });
  const origin = auditOrigin(req);
  const actor = userActor(record);
  ctx.audit.record({
    tenant: record.tenant,
    actor,
    action: 'sign-out',
    target: `provider:${record.provider}`,
    outcome: 'success',
    ...origin,
  });
  ctx.sessions.ended(record, { reason: 'logout', by: actor, ...origin });
  await ctx.sessions.unindexSession(sid, record);
  // Best effort from here: revocation never turns logout into an error.
  if (idp?.revoke) await idp.revoke();
  redirectWithoutBody(res, status, idp?.url ?? returnTo);
}

/**
 * A redirect with an empty body: Express's `res.redirect` writes the URL into the body too, and
 * an end-session URL carries the ID token as `id_token_hint`.
 */
function redirectWithoutBody(res: Response, status: 302 | 303, url: string): void {
  res.status(status).location(url).end();
}

/**
 * The IdP's side of a logout: the end-session (or Cognito) URL with a freshly stored `state`,
 * and the revocation of the session's tokens to run once the session is gone. An IdP that
 * cannot be reached (discovery), or tokens that cannot be opened, leave only the local logout.
 */
async function idpLogout(
  ctx: GatehouseContext,
  req: Request,
  record: SessionRecord,
  returnTo: string,
): Promise<{ url?: string; revoke?: () => Promise<void> }> {
  let configuration: client.Configuration;
  let tokens: TokenSet;
  let provider: Provider | undefined;
  try {
    provider = (await ctx.providers.resolve(record.tenant, record.provider))?.provider;
    configuration = await ctx.providers.client(record.tenant, record.provider);
    tokens = await ctx.vault.open<TokenSet>(record.tokens);
  } catch (error) {
    // An outage or a retired key, not a bug: the reason, without a stack.
    req.log.warn(
      {
        tenant: record.tenant,
        provider: record.provider,
        reason: error instanceof Error ? error.message : String(error),
      },
      'logout: could not end the IdP session',
    );
    return {};
  }
  const revoke = () => revokeTokens(req, record, configuration, tokens);
  if (!provider) return { revoke };
  const settings = provider;
  const postLogoutRedirectUri = `${ctx.publicOrigin}/bff/signed-out`;
  // Cognito's `/logout` sends no state back: the app is reached at `/`.
  const needsState =
    settings.logout === 'end-session' && !!configuration.serverMetadata().end_session_endpoint;
  const state = needsState ? await rememberLogout(ctx.transactions, returnTo) : '';
  const url = endSessionUrl(configuration, settings, {
    idToken: tokens.idToken,
    logoutHint: tokens.idToken ? undefined : await loginHintOf(ctx, record),
    postLogoutRedirectUri,
    state,
  });
  return { ...(url ? { url: url.href } : {}), revoke };
}

/** The `login_hint` claim some IdPs (Entra ID) put in the ID token, for `logout_hint`. */
async function loginHintOf(
  ctx: GatehouseContext,
  record: SessionRecord,
): Promise<string | undefined> {
  const claims = await openClaims(ctx.vault, record).catch(() => undefined);
  const hint = claims?.login_hint;
  return typeof hint === 'string' ? hint : undefined;
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

/**
 * An IdP that answers `unsupported_token_type` cannot revoke that token (a JWT access token
 * simply expires): expected at every logout, so one info line. Anything else (IdP unreachable,
 * another error) is a warning; neither needs a stack.
 */
function logRevocationFailure(
  log: Request['log'],
  where: { tenant: string; provider: string; token: string },
  reason: unknown,
): void {
  if (reason instanceof client.ResponseBodyError && reason.error === 'unsupported_token_type') {
    log.info({ ...where, error: reason.error }, 'logout: the IdP does not revoke this token');
    return;
  }
  const detail =
    reason instanceof client.ResponseBodyError
      ? { error: reason.error, status: reason.status }
      : { reason: reason instanceof Error ? reason.message : String(reason) };
  log.warn({ ...where, ...detail }, 'logout: token revocation failed');
}

async function revokeTokens(
  req: Request,
  record: SessionRecord,
  configuration: client.Configuration,
  tokens: TokenSet,
): Promise<void> {
  if (!configuration.serverMetadata().revocation_endpoint) return;
  const revocations: Array<Promise<void>> = [
    client.tokenRevocation(configuration, tokens.accessToken, {
      token_type_hint: 'access_token',
    }),
  ];
  if (tokens.refreshToken) {
    revocations.push(
      client.tokenRevocation(configuration, tokens.refreshToken, {
        token_type_hint: 'refresh_token',
      }),
    );
  }
  const results = await Promise.allSettled(revocations);
  const where = { tenant: record.tenant, provider: record.provider };
  for (const [index, result] of results.entries()) {
    if (result.status === 'fulfilled') continue;
    const token = index === 0 ? 'access_token' : 'refresh_token';
    logRevocationFailure(req.log, { ...where, token }, result.reason);
  }
}
