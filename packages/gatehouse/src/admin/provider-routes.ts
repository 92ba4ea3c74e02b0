import type { z } from 'zod';
import type { GatehouseContext } from '../context.ts';
import type { ClientKeyAlgorithm } from '../tenants/client-key-model.ts';
import type { Provider } from '../tenants/model.ts';
import type { ProviderCandidate } from '../tenants/registry-inputs.ts';
import { providerSettingsOf, type ProviderSettings } from '../tenants/provider-schema.ts';
import { PROVIDER_PROFILES } from '../tenants/provider-profiles.ts';
import { assertChecksPassed, type ProviderCheckReport } from '../tenants/provider-checks.ts';
import { providerUris } from '../tenants/provider-uris.ts';
import { route, type AdminRoute } from './admin-route.ts';
import { existingProvider, existingTenant } from './lookups.ts';
import {
  providerAnswerSchema,
  providerCreateSchema,
  providerListSchema,
  providerPatchSchema,
  providerProfilesSchema,
  providerTestSchema,
  providerUrisSchema,
  type ProviderAnswer,
} from './schemas.ts';

const toIso = (ms: number) => (ms > 0 ? new Date(ms).toISOString() : null);

/** An explicit allow-list of fields: whatever a provider carries internally, no secret leaves. */
function providerAnswer(
  ctx: Pick<GatehouseContext, 'publicOrigin'>,
  provider: Provider,
): ProviderAnswer {
  const uris = providerUris(ctx.publicOrigin, provider.tenant, provider.id);
  return {
    provider: {
      id: provider.id,
      tenant: provider.tenant,
      ...providerSettingsOf(provider),
      hasClientSecret: provider.hasClientSecret,
      source: provider.source,
      createdAt: toIso(provider.createdAt),
      updatedAt: toIso(provider.updatedAt),
    },
    uris,
    redirectUri: uris.redirectUri,
    backchannelLogoutUri: uris.backchannelLogoutUri,
  };
}

/**
 * A provider is stored only after its checks pass. One saved disabled is not contacted (so an
 * unreachable IdP can still be switched off); enabling it later runs every check.
 */
function providerChecks(
  ctx: Pick<GatehouseContext, 'providerChecks' | 'publicOrigin' | 'clientKeys'>,
) {
  return async (candidate: ProviderCandidate, clientSecret: string | undefined): Promise<void> => {
    if (candidate.enabled) {
      assertChecksPassed(await runChecks(ctx, candidate, clientSecret));
    } else {
      ctx.providerChecks.checkIssuerScheme(candidate.issuer);
    }
  };
}

/** Every check for a provider (stored or candidate), with the secret it would present. */
async function runChecks(
  ctx: Pick<GatehouseContext, 'providerChecks' | 'publicOrigin' | 'clientKeys'>,
  provider: ProviderSettings & { id: string; tenant: string },
  clientSecret: string | undefined,
): Promise<ProviderCheckReport> {
  const uris = providerUris(ctx.publicOrigin, provider.tenant, provider.id);
  return ctx.providerChecks({
    issuer: provider.issuer,
    clientId: provider.clientId,
    tokenEndpointAuthMethod: provider.tokenEndpointAuthMethod,
    pkce: provider.pkce,
    par: provider.par,
    idTokenSignedResponseAlg: provider.idTokenSignedResponseAlg,
    clientSecret,
    redirectUri: uris.redirectUri,
    // private_key_jwt: signed with the provider's key, made now for a candidate (its JWKS URL
    // then serves it, so the OP can fetch it before the provider is stored).
    ...(provider.tokenEndpointAuthMethod === 'private_key_jwt'
      ? {
          clientAssertionKey: (alg: ClientKeyAlgorithm) =>
            ctx.clientKeys.signingKey(provider.tenant, provider.id, () => alg),
          jwksUri: uris.jwksUri,
        }
      : {}),
  });
}

/** A check report as the admin API answers it. */
function checkAnswer(report: ProviderCheckReport): z.infer<typeof providerTestSchema> {
  return { ok: report.ok, checks: report.checks, discovery: report.discovery };
}

/** A tenant's providers: registration, checks, the URIs to register, the profiles. */
export const PROVIDER_ROUTES: readonly AdminRoute[] = [
  route({
    method: 'get',
    path: '/tenants/:tenant/providers',
    operationId: 'listProviders',
    summary: "List a tenant's providers, enabled or not",
    access: 'tenant',
    response: { status: 200, description: 'The providers', schema: providerListSchema },
    errors: [404],
    handle: async ({ ctx, params }) => {
      const tenant = await existingTenant(ctx, params.tenant);
      const providers = await ctx.registry.providers(tenant.id);
      return { providers: providers.map((provider) => providerAnswer(ctx, provider)) };
    },
  }),
  route({
    method: 'post',
    path: '/tenants/:tenant/providers',
    operationId: 'createProvider',
    summary: 'Register a provider; discovery and every check run first',
    access: 'tenant',
    body: providerCreateSchema,
    response: { status: 201, description: 'The new provider', schema: providerAnswerSchema },
    errors: [404, 409, 422],
    handle: async ({ ctx, params, body }) => {
      const created = await ctx.registry.createProvider(
        params.tenant ?? '',
        { ...body, displayName: body.displayName ?? body.id },
        providerChecks(ctx),
      );
      return providerAnswer(ctx, created);
    },
  }),
  route({
    method: 'post',
    path: '/tenants/:tenant/provider-checks',
    operationId: 'checkProvider',
    summary:
      'Run every check for a candidate provider (a create body) without storing anything, credentials included',
    access: 'tenant',
    body: providerCreateSchema,
    response: {
      status: 200,
      description: 'Every check, named, passed or not (`ok`: all passed)',
      schema: providerTestSchema,
    },
    errors: [404, 422],
    handle: async ({ ctx, params, body }) => {
      const tenant = await existingTenant(ctx, params.tenant);
      await ctx.rateLimits.consume('providerTest', `tenant:${tenant.id}`);
      const { clientSecret, ...settings } = body;
      const candidate = {
        ...settings,
        displayName: body.displayName ?? body.id,
        tenant: tenant.id,
      };
      return checkAnswer(await runChecks(ctx, candidate, clientSecret));
    },
  }),
  route({
    method: 'get',
    path: '/tenants/:tenant/provider-uris/:provider',
    operationId: 'getProviderUris',
    summary: 'The URIs to register at the IdP for a provider id (before the provider exists, too)',
    access: 'tenant',
    response: { status: 200, description: 'The URIs', schema: providerUrisSchema },
    errors: [404],
    handle: async ({ ctx, params }) => {
      const tenant = await existingTenant(ctx, params.tenant);
      return providerUris(ctx.publicOrigin, tenant.id, params.provider ?? '');
    },
  }),
  route({
    method: 'get',
    path: '/provider-profiles',
    operationId: 'listProviderProfiles',
    summary: 'The provider profiles (presets for well-known IdPs) with their defaults and notes',
    access: 'admin',
    response: { status: 200, description: 'The profiles', schema: providerProfilesSchema },
    errors: [],
    handle: async (): Promise<z.infer<typeof providerProfilesSchema>> => ({
      profiles: PROVIDER_PROFILES.map((profile) => ({
        id: profile.id,
        name: profile.name,
        summary: profile.summary,
        issuerHint: profile.issuerHint,
        defaults: { ...structuredClone(profile.defaults), profile: profile.id },
        notes: [...profile.notes],
      })),
    }),
  }),
  route({
    method: 'get',
    path: '/tenants/:tenant/providers/:provider',
    operationId: 'getProvider',
    summary: 'Read one provider (the secret is write-only)',
    access: 'tenant',
    response: { status: 200, description: 'The provider', schema: providerAnswerSchema },
    errors: [404],
    handle: async ({ ctx, params }) =>
      providerAnswer(ctx, await existingProvider(ctx, params.tenant, params.provider)),
  }),
  route({
    method: 'patch',
    path: '/tenants/:tenant/providers/:provider',
    operationId: 'updateProvider',
    summary: 'Change, enable or disable a provider; an enabled result runs every check first',
    access: 'tenant',
    body: providerPatchSchema,
    response: { status: 200, description: 'The changed provider', schema: providerAnswerSchema },
    errors: [404, 409, 422],
    handle: async ({ ctx, params, body }) => {
      const updated = await ctx.registry.updateProvider(
        params.tenant ?? '',
        params.provider ?? '',
        body,
        providerChecks(ctx),
      );
      return providerAnswer(ctx, updated);
    },
  }),
  route({
    method: 'delete',
    path: '/tenants/:tenant/providers/:provider',
    operationId: 'deleteProvider',
    summary: 'Delete a dynamic provider; its sessions end',
    access: 'tenant',
    response: { status: 204, description: 'Deleted' },
    errors: [404, 409],
    handle: async ({ ctx, params }) =>
      ctx.registry.deleteProvider(params.tenant ?? '', params.provider ?? ''),
  }),
  route({
    method: 'post',
    path: '/tenants/:tenant/providers/:provider/test',
    operationId: 'testProvider',
    summary: 'Run discovery and every check again for a stored provider',
    access: 'tenant',
    response: {
      status: 200,
      description: 'Every check, named, passed or not (`ok`: all passed)',
      schema: providerTestSchema,
    },
    errors: [404],
    handle: async ({ ctx, params }) => {
      await ctx.rateLimits.consume('providerTest', `tenant:${params.tenant ?? ''}`);
      const provider = await existingProvider(ctx, params.tenant, params.provider);
      const secret = await ctx.registry
        .clientSecret(provider.tenant, provider.id)
        .catch(() => undefined);
      return checkAnswer(await runChecks(ctx, provider, secret));
    },
  }),
];
