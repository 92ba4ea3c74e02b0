import type { z } from 'zod';
import type { Tenant } from '../tenants/model.ts';
import { route, type AdminRoute } from './admin-route.ts';
import { existingTenant } from './lookups.ts';
import {
  apiKeyCreateSchema,
  apiKeyIssuedSchema,
  apiKeyListSchema,
  meSchema,
  tenantAnswerSchema,
  tenantCreateSchema,
  tenantListSchema,
  tenantPatchSchema,
  type TenantOut,
} from './schemas.ts';

function tenantOut(tenant: Tenant): TenantOut {
  return {
    id: tenant.id,
    name: tenant.name,
    emailDomains: [...tenant.emailDomains],
    hosts: [...tenant.hosts],
    adminRule: { claim: tenant.adminRule.claim, value: tenant.adminRule.value },
    ...(tenant.session ? { session: { ...tenant.session } } : {}),
    source: tenant.source,
  };
}

/** Never the key nor its hash: the key is shown once, in the answer that issues it. */
function apiKeyOut(key: { id: string; label?: string | undefined; createdAt: number }) {
  return { id: key.id, label: key.label ?? null, createdAt: new Date(key.createdAt).toISOString() };
}

/** The caller, the tenants and their admin API keys. */
export const TENANT_ROUTES: readonly AdminRoute[] = [
  route({
    method: 'get',
    path: '/me',
    operationId: 'whoAmI',
    summary: 'Who the caller is: the operator or the admin of one tenant',
    access: 'admin',
    response: { status: 200, description: 'The caller', schema: meSchema },
    errors: [],
    handle: async ({ who }): Promise<z.infer<typeof meSchema>> =>
      who.role === 'tenant-admin' ? { role: who.role, tenant: who.tenant } : { role: 'operator' },
  }),
  route({
    method: 'get',
    path: '/tenants',
    operationId: 'listTenants',
    summary: 'List every tenant (config and dynamic)',
    access: 'operator',
    response: { status: 200, description: 'The tenants', schema: tenantListSchema },
    errors: [],
    handle: async ({ ctx }) => ({ tenants: (await ctx.registry.tenants()).map(tenantOut) }),
  }),
  route({
    method: 'post',
    path: '/tenants',
    operationId: 'createTenant',
    summary: 'Create a dynamic tenant',
    access: 'operator',
    body: tenantCreateSchema,
    response: { status: 201, description: 'The new tenant', schema: tenantAnswerSchema },
    errors: [409, 422],
    handle: async ({ ctx, body }) => ({
      tenant: tenantOut(await ctx.registry.createTenant(body)),
    }),
  }),
  route({
    method: 'get',
    path: '/tenants/:tenant',
    operationId: 'getTenant',
    summary: 'Read one tenant',
    access: 'tenant',
    response: { status: 200, description: 'The tenant', schema: tenantAnswerSchema },
    errors: [404],
    handle: async ({ ctx, params }) => ({
      tenant: tenantOut(await existingTenant(ctx, params.tenant)),
    }),
  }),
  route({
    method: 'patch',
    path: '/tenants/:tenant',
    operationId: 'updateTenant',
    summary: 'Change a dynamic tenant (config tenants are read-only: 409)',
    access: 'operator',
    body: tenantPatchSchema,
    response: { status: 200, description: 'The changed tenant', schema: tenantAnswerSchema },
    errors: [404, 409, 422],
    handle: async ({ ctx, params, body }) => ({
      tenant: tenantOut(await ctx.registry.updateTenant(params.tenant ?? '', body)),
    }),
  }),
  route({
    method: 'delete',
    path: '/tenants/:tenant',
    operationId: 'deleteTenant',
    summary: 'Delete a dynamic tenant with its providers and API keys; their sessions end',
    access: 'operator',
    response: { status: 204, description: 'Deleted' },
    errors: [404, 409],
    handle: async ({ ctx, params }) => ctx.registry.deleteTenant(params.tenant ?? ''),
  }),
  route({
    method: 'get',
    path: '/tenants/:tenant/api-keys',
    operationId: 'listApiKeys',
    summary: "List a tenant's admin API keys (never the keys themselves)",
    access: 'operator',
    response: { status: 200, description: 'The keys', schema: apiKeyListSchema },
    errors: [404],
    handle: async ({ ctx, params }) => ({
      apiKeys: (await ctx.registry.listApiKeys(params.tenant ?? '')).map(apiKeyOut),
    }),
  }),
  route({
    method: 'post',
    path: '/tenants/:tenant/api-keys',
    operationId: 'createApiKey',
    summary: 'Issue a tenant admin API key; the key is shown in this answer only',
    access: 'operator',
    body: apiKeyCreateSchema,
    bodyOptional: true,
    response: { status: 201, description: 'The new key', schema: apiKeyIssuedSchema },
    errors: [404, 422],
    handle: async ({ ctx, params, body }) => {
      const issued = await ctx.registry.issueApiKey(params.tenant ?? '', body.label);
      return { ...apiKeyOut(issued), key: issued.key };
    },
  }),
  route({
    method: 'delete',
    path: '/tenants/:tenant/api-keys/:keyId',
    operationId: 'revokeApiKey',
    summary: 'Revoke a tenant admin API key',
    access: 'operator',
    response: { status: 204, description: 'Revoked' },
    errors: [404],
    handle: async ({ ctx, params }) =>
      ctx.registry.revokeApiKey(params.tenant ?? '', params.keyId ?? ''),
  }),
];
