import { sameSecret } from '../digest.ts';
import type { Request, RequestHandler, Response } from 'express';
import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';
import { activeSession, sessionClaims, slideIfDue } from '../http/session-access.ts';
import { requireCsrfHeader } from '../http/csrf.ts';
import { requestSlot } from '../http/request-state.ts';
import { sessionUser } from '../session/model.ts';
import { matchesAdminRule } from '../tenants/admin-rule.ts';

/** Who calls the admin API: what it uses of the context. */
export type AdminAuthDeps = Pick<
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

/** Who may call a route: everyone, any admin, the operator, or the operator and that tenant's admins. */
export type AdminAccess = 'public' | 'admin' | 'operator' | 'tenant';

/** Who is calling the admin API. */
export type AdminPrincipal =
  | { role: 'operator' }
  | {
      role: 'tenant-admin';
      tenant: string;
      via: 'api-key' | 'session';
      /** The API key's public id (`via: 'api-key'`), for the audit trail. */
      keyId?: string;
      /** The admin's user digest (`via: 'session'`), for the audit trail. */
      user?: string;
    }
  /** Signed in, but not matching the tenant's admin rule. */
  | { role: 'user'; tenant: string }
  | { role: 'anonymous' };

/** Who the caller is, once {@link identifyAdmin} has looked. */
const adminPrincipalSlot = requestSlot<AdminPrincipal>('admin');

const BEARER = /^Bearer +([\x21-\x7e]{1,512})$/i;

const invalidToken = () =>
  problem('invalid_token', {
    headers: { 'www-authenticate': 'Bearer realm="gatehouse-admin", error="invalid_token"' },
  });

export const adminSignInRequired = () =>
  problem('unauthenticated', {
    detail: 'Sign in as an administrator or send a bearer token.',
    headers: { 'www-authenticate': 'Bearer realm="gatehouse-admin"' },
  });

/** Compares in constant time (see {@link sameSecret}); no operator when no token is configured. */
export function operatorTokenMatcher(expected: string | undefined): (presented: string) => boolean {
  return (presented) => expected !== undefined && sameSecret(expected, presented);
}

export { matchesAdminRule };

/**
 * Identifies the caller: a bearer token (the operator's, or a tenant's `ghk_` API key) wins;
 * otherwise the session cookie, which — being ambient — must come with `X-CSRF: 1` from our
 * own origin. A bad bearer token is a 401, never a fall-back to the cookie.
 */
export function identifyAdmin(ctx: AdminAuthDeps): RequestHandler {
  const isOperatorToken = operatorTokenMatcher(ctx.config.adminToken);
  const csrf = requireCsrfHeader(ctx.publicOrigin);
  return async (req, res, next) => {
    adminPrincipalSlot.set(res, await principalOf(ctx, req, res, isOperatorToken, csrf));
    next();
  };
}

async function principalOf(
  ctx: AdminAuthDeps,
  req: Request,
  res: Response,
  isOperatorToken: (token: string) => boolean,
  csrf: RequestHandler,
): Promise<AdminPrincipal> {
  const authorization = req.get('authorization');
  if (authorization !== undefined) {
    const token = BEARER.exec(authorization)?.[1];
    if (!token) throw invalidToken();
    if (token.startsWith('ghk_')) {
      const tenant = await ctx.registry.verifyApiKey(token);
      if (!tenant) throw invalidToken();
      const keyId = /^ghk_([0-9a-f]{16})_/.exec(token)?.[1];
      return { role: 'tenant-admin', tenant, via: 'api-key', ...(keyId ? { keyId } : {}) };
    }
    if (isOperatorToken(token)) return { role: 'operator' };
    throw invalidToken();
  }

  let record = await activeSession(ctx, req);
  if (!record) return { role: 'anonymous' };
  await runMiddleware(csrf, req, res);
  record = await slideIfDue(ctx, req, record);
  const tenant = await ctx.registry.tenant(record.tenant);
  const session = { sid: req.sessionID, record };
  if (tenant && matchesAdminRule(await sessionClaims(ctx, req, session), tenant.adminRule)) {
    return { role: 'tenant-admin', tenant: tenant.id, via: 'session', user: sessionUser(record) };
  }
  return { role: 'user', tenant: record.tenant };
}

function runMiddleware(middleware: RequestHandler, req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    void middleware(req, res, (error?: unknown) => {
      if (error) reject(error instanceof Error ? error : new Error('middleware failed'));
      else resolve();
    });
  });
}

export function principal(res: Response): AdminPrincipal {
  return adminPrincipalSlot.get(res) ?? { role: 'anonymous' };
}

/** Operator or tenant admin (of any tenant). */
export function requireAdmin(who: AdminPrincipal): void {
  if (who.role === 'anonymous') throw adminSignInRequired();
  if (who.role === 'user') throw notAdmin();
}

export function requireOperator(who: AdminPrincipal): void {
  requireAdmin(who);
  if (who.role !== 'operator') {
    throw problem('operator_only');
  }
}

/** The operator, or an admin of exactly this tenant: checked before the tenant is even looked up. */
export function requireTenantAdmin(who: AdminPrincipal, tenant: string): void {
  requireAdmin(who);
  if (who.role === 'tenant-admin' && who.tenant !== tenant) {
    throw problem('tenant_forbidden');
  }
}

const notAdmin = () => problem('not_admin');
