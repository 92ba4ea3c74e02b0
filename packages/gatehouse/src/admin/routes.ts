import express, { type Request, type Response, type Router } from 'express';
import type { z } from 'zod';
import { type GatehouseError, problem } from '../errors.ts';
import type { ProblemCode } from '../problems.ts';
import {
  identifyAdmin,
  principal,
  requireAdmin,
  requireOperator,
  requireTenantAdmin,
  type AdminAccess,
  type AdminPrincipal,
} from './auth.ts';
import { clientIp, rateLimited } from '../http/rate-limit.ts';
import { auditAdminCall, auditTrailRoute } from './audit.ts';
import type { AdminDeps, AdminRoute } from './admin-route.ts';
import { buildOpenApiDocument } from './openapi.ts';
import { TENANT_ROUTES } from './tenant-routes.ts';
import { PROVIDER_ROUTES } from './provider-routes.ts';
import { CLIENT_KEY_ROUTES } from './client-key-routes.ts';
import { SESSION_ROUTES } from './session-routes.ts';

const PARAMS: Record<string, RegExp> = {
  tenant: /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/,
  provider: /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/,
  keyId: /^[0-9a-f]{16}$/,
  // A client signing key's id: the base64url SHA-256 thumbprint of its public JWK.
  kid: /^[A-Za-z0-9_-]{43}$/,
  // An IdP's subject identifier: printable ASCII, at most 255 characters (OIDC Core).
  sub: /^[\x21-\x7e]{1,255}$/,
  // A session's public handle: 16 random bytes, base64url.
  handle: /^[A-Za-z0-9_-]{22}$/,
};

/**
 * Every admin endpoint, by area. The router and the OpenAPI document are both built from this
 * list.
 */
export const ADMIN_ROUTES: readonly AdminRoute[] = [
  ...TENANT_ROUTES,
  ...PROVIDER_ROUTES,
  ...CLIENT_KEY_ROUTES,
  ...SESSION_ROUTES,
  auditTrailRoute,
];

/**
 * `/admin/api`: JSON in, JSON or problem+json out. The caller is identified before the body is
 * even parsed; then each route checks its access (operator, or the admin of exactly the tenant
 * in the path) before looking anything up, so another tenant's ids reveal nothing.
 */
export function adminRouter(ctx: AdminDeps): Router {
  const router = express.Router();
  const document = buildOpenApiDocument(ctx, ADMIN_ROUTES);
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  router.use(identifyAdmin(ctx));
  router.use(rateLimited(ctx.rateLimits, 'adminApi', adminRateKey));
  router.use(express.json({ limit: '32kb' }));
  for (const definition of ADMIN_ROUTES) {
    router[definition.method](definition.path, (req, res) => runRoute(ctx, definition, req, res));
  }
  return router;
}

async function runRoute(
  ctx: AdminDeps,
  definition: AdminRoute,
  req: Request,
  res: Response,
): Promise<void> {
  const who = principal(res);
  const params = checkedParams(req);
  authorize(definition.access, who, params.tenant);
  const body = definition.body ? readBody(req, definition.body) : undefined;
  const call = { ctx, req, who, body, params };
  let result: unknown;
  try {
    result = await definition.handle(call);
  } catch (error) {
    auditAdminCall(definition, call, { error });
    throw error;
  }
  auditAdminCall(definition, call, { result });
  if (definition.response.status === 204) res.status(204).end();
  else res.status(definition.response.status).json(result);
}

function authorize(access: AdminAccess, who: AdminPrincipal, tenant: string | undefined): void {
  if (access === 'admin') requireAdmin(who);
  if (access === 'operator') requireOperator(who);
  if (access === 'tenant') requireTenantAdmin(who, tenant ?? '');
}

/** What a malformed path parameter answers: it cannot name anything that exists. */
const UNKNOWN_PARAM: Readonly<Record<string, ProblemCode>> = {
  tenant: 'unknown_tenant',
  provider: 'unknown_provider',
  keyId: 'unknown_api_key',
  kid: 'unknown_client_key',
  sub: 'unknown_sub',
  handle: 'unknown_session',
};

function checkedParams(req: Request): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.params as Record<string, unknown>)) {
    if (typeof value !== 'string' || !PARAMS[name]?.test(value)) {
      throw problem(UNKNOWN_PARAM[name] ?? 'not_found');
    }
    params[name] = value;
  }
  return params;
}

/** JSON only; an absent body is `{}` (so required fields are reported), an unknown field is a 422. */
function readBody<Body>(req: Request, schema: z.ZodType<Body>): Body {
  let raw: unknown = req.body;
  if (raw === undefined) {
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
    if (hasBody) {
      throw problem('unsupported_media_type');
    }
    raw = {};
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw validationFailed(parsed.error);
  return parsed.data;
}

function validationFailed(error: z.ZodError): GatehouseError {
  const errors = error.issues.flatMap((issue) => {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: [...path, key].join('.'),
        message: 'Unknown field.',
      }));
    }
    return [{ path: path.join('.'), message: issue.message }];
  });
  return problem('validation_failed', { extra: { errors } });
}

/**
 * Whose admin API budget a request uses: the operator's, a tenant's API keys', a signed-in
 * user's own (by the session's public handle), or the address's when anonymous.
 */
function adminRateKey(req: Request, res: Response): string {
  const who = principal(res);
  if (who.role === 'operator') return 'operator';
  if (who.role === 'tenant-admin' && who.via === 'api-key') return `api-key:${who.tenant}`;
  const handle = req.session.gh?.handle;
  if (handle) return `session:${handle}`;
  return clientIp(req);
}
