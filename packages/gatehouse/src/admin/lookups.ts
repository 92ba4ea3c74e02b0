import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';
import type { Provider, Tenant } from '../tenants/model.ts';

/** The tenant a path names, or 404 `unknown_tenant`. */
export async function existingTenant(
  ctx: Pick<GatehouseContext, 'registry'>,
  id: string | undefined,
): Promise<Tenant> {
  const tenant = id === undefined ? undefined : await ctx.registry.tenant(id);
  if (!tenant) throw problem('unknown_tenant');
  return tenant;
}

/** The provider a path names (its tenant first), or 404 `unknown_tenant` / `unknown_provider`. */
export async function existingProvider(
  ctx: Pick<GatehouseContext, 'registry'>,
  tenant: string | undefined,
  id: string | undefined,
): Promise<Provider> {
  await existingTenant(ctx, tenant);
  const provider =
    tenant === undefined || id === undefined ? undefined : await ctx.registry.provider(tenant, id);
  if (!provider) throw problem('unknown_provider');
  return provider;
}
