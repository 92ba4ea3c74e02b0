import type { RequestHandler } from 'express';
import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';

/** The tenant page: what it uses of the context. */
export type TenantPageDeps = Pick<GatehouseContext, 'registry'>;

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

/**
 * `GET /bff/tenants/:tenant`: what the SPA's `/t/:tenant` page shows — the tenant's name and its
 * enabled providers (id and display name only). Public: it is the sign-in choice.
 */
export function tenantPage(ctx: TenantPageDeps): RequestHandler {
  return async (req, res) => {
    const id = String(req.params.tenant);
    const tenant = SLUG.test(id) ? await ctx.registry.tenant(id) : undefined;
    if (!tenant) throw problem('unknown_tenant');
    const providers = await ctx.registry.providers(tenant.id);
    res.json({
      tenant: { id: tenant.id, name: tenant.name },
      providers: providers
        .filter((provider) => provider.enabled)
        .map((provider) => ({ id: provider.id, displayName: provider.displayName })),
    });
  };
}
