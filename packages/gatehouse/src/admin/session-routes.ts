import type { z } from 'zod';
import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';
import { openClaims, type SessionRecord } from '../session/model.ts';
import { UnopenableValueError } from '../session/vault.ts';
import { auditOrigin } from '../http/audit-origin.ts';
import { adminActor } from './audit.ts';
import { route, type AdminCall, type AdminRoute } from './admin-route.ts';
import { existingProvider, existingTenant } from './lookups.ts';
import { sessionsEndedSchema, tenantSessionListSchema } from './schemas.ts';

/** Ending a user's or a tenant's sessions, listing a tenant's. */
export const SESSION_ROUTES: readonly AdminRoute[] = [
  route({
    method: 'delete',
    path: '/tenants/:tenant/providers/:provider/users/:sub/sessions',
    operationId: 'endUserSessions',
    summary:
      'End every session of one user (the provider’s issuer and this sub), on every instance',
    access: 'tenant',
    response: { status: 200, description: 'How many sessions ended', schema: sessionsEndedSchema },
    errors: [404],
    handle: async ({ ctx, req, who, params }) => {
      const provider = await existingProvider(ctx, params.tenant, params.provider);
      // Sessions are indexed by the issuer the IdP itself states (as its ID tokens do).
      const configuration = await ctx.providers.client(provider.tenant, provider.id);
      const issuer = configuration.serverMetadata().issuer;
      const sessions = await ctx.sessions.sessionsOfUser(issuer, params.sub ?? '');
      return endSessions(
        { ctx, req, who },
        sessions,
        (record) => record.tenant === provider.tenant && record.provider === provider.id,
      );
    },
  }),
  route({
    method: 'delete',
    path: '/tenants/:tenant/sessions',
    operationId: 'endTenantSessions',
    summary: 'End every session of the tenant, on every instance',
    access: 'operator',
    response: { status: 200, description: 'How many sessions ended', schema: sessionsEndedSchema },
    errors: [404],
    handle: async ({ ctx, req, who, params }) => {
      const tenant = await existingTenant(ctx, params.tenant);
      const sessions = await ctx.sessions.sessionsOfTenant(tenant.id);
      return endSessions({ ctx, req, who }, sessions, (record) => record.tenant === tenant.id);
    },
  }),
  route({
    method: 'get',
    path: '/tenants/:tenant/sessions',
    operationId: 'listTenantSessions',
    summary: "List the tenant's live sessions, newest first (never a session id or a token)",
    access: 'tenant',
    response: { status: 200, description: 'The sessions', schema: tenantSessionListSchema },
    errors: [404],
    handle: async ({ ctx, req, params }) => {
      const tenant = await existingTenant(ctx, params.tenant);
      const sessions = [...(await ctx.sessions.sessionsOfTenant(tenant.id)).values()]
        .filter((record) => record.tenant === tenant.id)
        .sort((a, b) => b.createdAtMs - a.createdAtMs)
        .slice(0, MAX_LISTED_SESSIONS);
      const own = req.session.gh?.handle;
      return {
        sessions: await Promise.all(
          sessions.map(async (record) => tenantSessionOut(ctx, record, own)),
        ),
      };
    },
  }),
  route({
    method: 'delete',
    path: '/tenants/:tenant/sessions/:handle',
    operationId: 'endTenantSession',
    summary: 'End one session of the tenant (by its public handle), on every instance',
    access: 'tenant',
    response: { status: 200, description: 'How many sessions ended', schema: sessionsEndedSchema },
    errors: [404],
    handle: async ({ ctx, req, who, params }) => {
      const tenant = await existingTenant(ctx, params.tenant);
      const sessions = await ctx.sessions.sessionsOfTenant(tenant.id);
      const result = await endSessions(
        { ctx, req, who },
        sessions,
        (record) => record.tenant === tenant.id && record.handle === params.handle,
      );
      if (result.ended === 0) throw problem('unknown_session');
      return result;
    },
  }),
];

/** How many sessions the console lists at most (the newest). */
const MAX_LISTED_SESSIONS = 500;

async function tenantSessionOut(
  ctx: Pick<GatehouseContext, 'vault'>,
  record: SessionRecord,
  own: string | undefined,
): Promise<z.infer<typeof tenantSessionListSchema>['sessions'][number]> {
  // A session whose claims no instance can open (a retired key, damaged bytes) is listed without
  // them (it ends at its own next request), rather than failing the whole list.
  const claims = await openClaims(ctx.vault, record).catch(
    (error: unknown): Record<string, unknown> => {
      if (error instanceof UnopenableValueError) return {};
      throw error;
    },
  );
  const name = [claims.name, claims.preferred_username, claims.email].find(
    (value): value is string => typeof value === 'string' && value !== '',
  );
  return {
    handle: record.handle,
    provider: record.provider,
    sub: typeof claims.sub === 'string' ? claims.sub : '',
    name: name ?? null,
    device: record.device,
    createdAt: new Date(record.createdAtMs).toISOString(),
    lastSeenAt: new Date(record.lastSeenAtMs).toISOString(),
    current: own !== undefined && record.handle === own,
  };
}

async function endSessions(
  { ctx, req, who }: Pick<AdminCall<unknown>, 'ctx' | 'req' | 'who'>,
  sessions: Map<string, SessionRecord>,
  matches: (record: SessionRecord) => boolean,
): Promise<z.infer<typeof sessionsEndedSchema>> {
  const ending = { reason: 'admin', by: adminActor(who), ...auditOrigin(req) } as const;
  const ended = await ctx.sessions.endMatching(sessions, matches, ending);
  ctx.metrics.sessionsEnded('admin', ended);
  return { ended };
}
