import { z } from 'zod';
import { GatehouseError, problem } from '../errors.ts';
import {
  AUDIT_ACTIONS,
  STREAM_ID,
  type AuditAction,
  type AuditActor,
  type AuditQuery,
} from '../observability/audit.ts';
import { auditOrigin } from '../http/audit-origin.ts';
import type { AdminPrincipal } from './auth.ts';
import type { AdminCall, AdminRoute } from './admin-route.ts';

/** The audit actor of an admin caller (the operator, an API key or an admin's session). */
export function adminActor(who: AdminPrincipal): AuditActor {
  if (who.role === 'operator') return { kind: 'operator' };
  if (who.role === 'tenant-admin' && who.via === 'api-key')
    return { kind: 'api-key', id: who.keyId ?? 'unknown' };
  if (who.role === 'tenant-admin') return { kind: 'tenant-admin', id: who.user ?? 'unknown' };
  return { kind: 'anonymous' };
}

interface Audited {
  action: AuditAction;
  tenant: string;
  target?: string;
}

/** A provider test answers 200 either way: one whose checks did not all pass is a failure. */
const checksFailed = (outcome: { result: unknown } | { error: unknown }): boolean => {
  const result = 'result' in outcome ? outcome.result : undefined;
  return typeof result === 'object' && result !== null && (result as { ok?: unknown }).ok === false;
};

type Describe = (call: AdminCall<unknown>, result: unknown) => Audited | undefined;

const field = (value: unknown, name: string): string | undefined => {
  const found: unknown =
    typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : null;
  return typeof found === 'string' ? found : undefined;
};

const onTenant =
  (action: AuditAction): Describe =>
  ({ params }) =>
    params.tenant
      ? { action, tenant: params.tenant, target: `tenant:${params.tenant}` }
      : undefined;

const onProvider =
  (action: AuditAction | ((body: unknown) => AuditAction)): Describe =>
  ({ params, body }) => {
    const provider = params.provider ?? field(body, 'id');
    if (!params.tenant || !provider) return undefined;
    const name = typeof action === 'function' ? action(body) : action;
    return { action: name, tenant: params.tenant, target: `provider:${provider}` };
  };

/** The admin operations that change something (or test a provider), by operationId. */
const AUDITED: Readonly<Record<string, Describe>> = {
  createTenant: ({ body }) => {
    const id = field(body, 'id');
    return id ? { action: 'tenant.created', tenant: id, target: `tenant:${id}` } : undefined;
  },
  updateTenant: onTenant('tenant.updated'),
  deleteTenant: onTenant('tenant.deleted'),
  createApiKey: ({ params }, result) =>
    params.tenant
      ? {
          action: 'api-key.issued',
          tenant: params.tenant,
          ...(field(result, 'id') ? { target: `api-key:${field(result, 'id')}` } : {}),
        }
      : undefined,
  revokeApiKey: ({ params }) =>
    params.tenant
      ? { action: 'api-key.revoked', tenant: params.tenant, target: `api-key:${params.keyId}` }
      : undefined,
  createProvider: onProvider('provider.created'),
  updateProvider: onProvider((body) =>
    (body as { enabled?: unknown } | undefined)?.enabled === false
      ? 'provider.disabled'
      : 'provider.updated',
  ),
  deleteProvider: onProvider('provider.deleted'),
  testProvider: onProvider('provider.tested'),
  checkProvider: onProvider('provider.tested'),
  // The target names the key: `client-key:<provider>/<kid>` (a public id, the JWS `kid`).
  rotateClientKey: ({ params }, result) => {
    const kid = field((result as { rotated?: unknown } | undefined)?.rotated, 'kid');
    return params.tenant && params.provider
      ? {
          action: 'provider.key-rotated',
          tenant: params.tenant,
          target: kid ? `client-key:${params.provider}/${kid}` : `provider:${params.provider}`,
        }
      : undefined;
  },
  retireClientKey: ({ params }) =>
    params.tenant && params.provider
      ? {
          action: 'provider.key-retired',
          tenant: params.tenant,
          target: `client-key:${params.provider}/${params.kid ?? ''}`,
        }
      : undefined,
  endUserSessions: onProvider('sessions.ended'),
  endTenantSessions: onTenant('sessions.ended'),
  endTenantSession: ({ params }) =>
    params.tenant && params.handle
      ? { action: 'sessions.ended', tenant: params.tenant, target: `session:${params.handle}` }
      : undefined,
};

/**
 * Records one admin call in the audit trail when it changes something: `success` with what it
 * acted on, or `failure` with the problem code (only for callers that passed authorization:
 * refused callers are in the access log).
 */
export function auditAdminCall(
  definition: Pick<AdminRoute, 'operationId'>,
  call: AdminCall<unknown>,
  outcome: { result: unknown } | { error: unknown },
): void {
  const describe = AUDITED[definition.operationId];
  const audited = describe?.(call, 'result' in outcome ? outcome.result : undefined);
  if (!audited) return;
  const failedChecks = audited.action === 'provider.tested' && checksFailed(outcome);
  const failure = 'error' in outcome || failedChecks;
  const reason =
    'error' in outcome
      ? outcome.error instanceof GatehouseError
        ? outcome.error.code
        : 'internal_error'
      : 'provider_check_failed';
  call.ctx.audit.record({
    ...audited,
    actor: adminActor(call.who),
    outcome: failure ? 'failure' : 'success',
    ...(failure ? { reason } : {}),
    ...auditOrigin(call.req),
  });
}

const MAX_LIMIT = 1000;

/** `?since=&action=&limit=`, every parameter at most once. */
export const auditQuerySchema = z.strictObject({
  since: z
    .string()
    .max(64)
    .describe(
      'Cursor: a stream id from `next` (events after it) or an ISO 8601 time (events at or after it). ' +
        'Absent: from the oldest event kept.',
    )
    .optional(),
  action: z
    .string()
    .max(64)
    .describe(
      `Only this action (${AUDIT_ACTIONS.join(', ')}), or every action of a kind with a trailing dot (\`provider.\`).`,
    )
    .optional(),
  limit: z.string().describe(`How many events at most (1–${MAX_LIMIT}, default 100).`).optional(),
});

const actorSchema = z.object({
  kind: z.enum(['user', 'tenant-admin', 'api-key', 'operator', 'provider', 'system', 'anonymous']),
  id: z.string().optional(),
});

export const auditPageSchema = z.object({
  events: z.array(
    z.object({
      id: z.string(),
      time: z.string(),
      tenant: z.string(),
      actor: actorSchema,
      action: z.enum(AUDIT_ACTIONS),
      target: z.string().optional(),
      outcome: z.enum(['success', 'failure']),
      reason: z.string().optional(),
      requestId: z.string().optional(),
      ip: z.string().optional(),
    }),
  ),
  next: z.string().nullable(),
});

const badParameter = (name: string, detail: string) =>
  problem('invalid_parameter', { detail: `The "${name}" parameter ${detail}` });

/** The validated query: a bad value is a 400 `invalid_parameter` naming the parameter. */
export function parseAuditQuery(raw: unknown): AuditQuery {
  const parsed = auditQuerySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name =
      issue?.code === 'unrecognized_keys' ? (issue.keys[0] ?? 'query') : String(issue?.path[0]);
    if (issue?.code === 'unrecognized_keys')
      throw badParameter(name, 'is not known here (since, action, limit).');
    throw badParameter(name, 'must appear once, at most 64 characters.');
  }
  const { since, action, limit } = parsed.data;
  const query: AuditQuery = { limit: 100 };
  if (limit !== undefined) {
    if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT)
      throw badParameter('limit', `must be a whole number from 1 to ${MAX_LIMIT}.`);
    query.limit = Number(limit);
  }
  if (action !== undefined) {
    const known =
      (AUDIT_ACTIONS as readonly string[]).includes(action) ||
      (action.endsWith('.') && AUDIT_ACTIONS.some((name) => name.startsWith(action)));
    if (!known) throw badParameter('action', 'names no audit action.');
    query.action = action;
  }
  if (since !== undefined) {
    if (STREAM_ID.test(since)) {
      query.since = { id: since };
    } else {
      const time = ISO_TIME.test(since) ? Date.parse(since) : Number.NaN;
      if (Number.isNaN(time))
        throw badParameter('since', 'must be an event id (from `next`) or an ISO 8601 time.');
      query.since = { time };
    }
  }
  return query;
}

/** A date-time with a zone (`Z` or an offset); `Date.parse` alone accepts far too much. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** `GET /admin/api/tenants/:tenant/audit`: the tenant's trail, oldest first, one page. */
export const auditTrailRoute: AdminRoute = {
  method: 'get',
  path: '/tenants/:tenant/audit',
  operationId: 'readAuditTrail',
  summary:
    "Read a tenant's audit trail, oldest first; page on with `since` = the previous answer's `next`",
  access: 'tenant',
  query: auditQuerySchema,
  response: { status: 200, description: 'One page of events', schema: auditPageSchema },
  errors: [400, 404],
  handle: async ({ ctx, req, params }) => {
    const query = parseAuditQuery(req.query);
    const tenant = params.tenant ?? '';
    if (!(await ctx.registry.tenant(tenant))) throw problem('unknown_tenant');
    return ctx.audit.read(tenant, query);
  },
};
