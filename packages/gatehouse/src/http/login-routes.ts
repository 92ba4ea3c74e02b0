import type { Request, Response } from 'express';
import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';
import { beginLogin, newBrowserBinding, LOGIN_TRANSACTION_TTL_MS } from '../oidc/login.ts';
import { redirectWithoutBody, singleQueryValue } from './bff-request.ts';
import { readCookie } from './cookies.ts';
import { validateReturnTo } from './return-to.ts';
import { testSignInAdmin } from './test-sign-in.ts';

/** Login start and home realm: what it uses of the context. */
export type LoginRoutesDeps = Pick<
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
  | 'transactions'
  | 'vault'
>;

/** `GET /bff/login` (a sign-in, or a tenant admin's test sign-in) and `GET /bff/home-realm`. */

export async function startLogin(ctx: LoginRoutesDeps, req: Request, res: Response): Promise<void> {
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
async function startTestSignIn(ctx: LoginRoutesDeps, req: Request, res: Response): Promise<void> {
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

function setLoginBinding(ctx: LoginRoutesDeps, res: Response, binding: string): void {
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
function resourcesFor(ctx: LoginRoutesDeps, tenantId: string): string[] {
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
  ctx: LoginRoutesDeps,
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
export async function homeRealm(ctx: LoginRoutesDeps, req: Request, res: Response): Promise<void> {
  const email = singleQueryValue(req, 'email');
  if (!email) throw problem('invalid_parameter', { detail: 'The "email" parameter is required.' });
  res.json({ tenant: await tenantForEmail(ctx, email) });
}

/** Home-realm discovery: the tenant owning the email's domain; unknown domains reveal nothing. */
async function tenantForEmail(ctx: LoginRoutesDeps, email: string): Promise<string> {
  const domain =
    email.length > 320 ? undefined : /^[^@\s]+@([^@\s]+)$/.exec(email.trim())?.[1]?.toLowerCase();
  const tenant = domain ? await ctx.registry.tenantForEmailDomain(domain) : undefined;
  if (!tenant) throw problem('unknown_email_domain');
  return tenant.id;
}
