import { randomBytes } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import * as client from 'openid-client';
import { userDigest } from '../digest.ts';
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
import { deviceSummary } from '../session/device-summary.ts';
import { addLogContext, auditOrigin, userActor } from './audit-origin.ts';
import { readCookie } from './cookies.ts';
import { activeSession, slideIfDue } from './session-access.ts';
import { requireCsrfHeader } from './csrf.ts';
import { validateReturnTo } from './return-to.ts';
import { tenantPage } from './tenant-page.ts';
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
  const csrf = requireCsrfHeader(ctx.publicOrigin);
  router.get('/login', rateLimited(ctx.rateLimits, 'loginStart'), (req, res) =>
    startLogin(ctx, req, res),
  );
  router.get('/tenants/:tenant', tenantPage(ctx));
  router.get('/callback/:tenant/:provider', (req, res) => auditedLogin(ctx, req, res));
  router.get('/user', (req, res) => currentUser(ctx, req, res));
  router.post('/logout', csrf, (req, res) => logout(ctx, req, res));
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

/** Home-realm discovery: the tenant owning the email's domain; unknown domains reveal nothing. */
async function tenantForEmail(ctx: GatehouseContext, email: string): Promise<string> {
  const domain = /^[^@\s]+@([^@\s]+)$/.exec(email.trim())?.[1]?.toLowerCase();
  const tenant = domain ? await ctx.registry.tenantForEmailDomain(domain) : undefined;
  if (!tenant) throw problem('unknown_email_domain');
  return tenant.id;
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
  const record: SessionRecord = {
    v: 1,
    tenant,
    provider,
    issuer: String(claims.iss),
    user: userDigest(String(claims.iss), String(claims.sub)),
    ...(typeof claims.sid === 'string' ? { sid: claims.sid } : {}),
    // Identity claims are sealed at rest like the tokens; `/bff/user` opens them.
    claims: await ctx.vault.seal(filterClaims({ ...claims, sub: String(claims.sub) })),
    tokens: await ctx.vault.seal(login.tokens),
    accessTokenExpiresAt: login.tokens.expiresAt,
    createdAt: now,
    lastSeenAt: now,
    absoluteExpiresAt: now + timeouts.absoluteTimeoutSeconds * 1000,
    ...(timeouts.idleTimeoutSeconds !== ctx.config.session.idleTimeoutSeconds
      ? { idleTimeoutMs: timeouts.idleTimeoutSeconds * 1000 }
      : {}),
    ...(login.refreshExpiresAt ? { refreshExpiresAt: login.refreshExpiresAt } : {}),
    handle: randomBytes(16).toString('base64url'),
    device: deviceSummary(req.get('user-agent')),
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
  res.redirect(302, login.transaction.returnTo);
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
    session: {
      expiresAt: new Date(sessionExpiresAt(record, ctx.sessions.idleTimeoutMs)).toISOString(),
      idleExpiresAt: new Date(idleExpiresAt).toISOString(),
      absoluteExpiresAt: new Date(absoluteLimit(record)).toISOString(),
    },
  });
}

/**
 * Ends the session everywhere we can: the server-side record (so the cookie is dead on every
 * instance), the refresh and access tokens at the IdP, then the end-session URL for the browser.
 */
async function logout(ctx: GatehouseContext, req: Request, res: Response): Promise<void> {
  const record = req.session.gh;
  const sid = req.sessionID;
  await promisify((cb) => req.session.destroy(cb));
  if (record) {
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
  }
  res.clearCookie(ctx.cookies.session, {
    path: '/',
    httpOnly: true,
    secure: ctx.config.secureCookies,
    sameSite: 'strict',
  });
  if (!record) {
    res.json({ endSessionUrl: null });
    return;
  }
  // The session is gone already; what follows is best effort and never turns logout into an error.
  let endSessionUrl: string | null = null;
  try {
    const tokens = await ctx.vault.open<TokenSet>(record.tokens);
    endSessionUrl = await endIdpSession(ctx, req, record, tokens);
  } catch (error) {
    req.log.warn({ err: error }, 'logout: could not end the IdP session');
  }
  res.json({ endSessionUrl });
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

async function endIdpSession(
  ctx: GatehouseContext,
  req: Request,
  record: SessionRecord,
  tokens: TokenSet,
): Promise<string | null> {
  let configuration: client.Configuration;
  try {
    configuration = await ctx.providers.client(record.tenant, record.provider);
  } catch (error) {
    // An outage, not a bug: the reason, without a stack.
    req.log.warn(
      {
        tenant: record.tenant,
        provider: record.provider,
        reason: error instanceof Error ? error.message : String(error),
      },
      'logout: provider unavailable',
    );
    return null;
  }
  if (configuration.serverMetadata().revocation_endpoint) {
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
  if (!configuration.serverMetadata().end_session_endpoint) return null;
  return client.buildEndSessionUrl(configuration, {
    ...(tokens.idToken ? { id_token_hint: tokens.idToken } : {}),
    post_logout_redirect_uri: `${ctx.publicOrigin}/`,
  }).href;
}
