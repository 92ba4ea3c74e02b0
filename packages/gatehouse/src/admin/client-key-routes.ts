import type { z } from 'zod';
import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';
import type { Provider } from '../tenants/model.ts';
import type { ClientKeySummary } from '../tenants/client-keys.ts';
import { providerUris } from '../tenants/provider-uris.ts';
import { route, type AdminRoute } from './admin-route.ts';
import { existingProvider } from './lookups.ts';
import { clientKeyListSchema, clientKeyRotatedSchema } from './schemas.ts';

/** A provider that signs client assertions (private_key_jwt), config or dynamic. */
async function keyedProvider(
  ctx: Pick<GatehouseContext, 'registry'>,
  tenant: string | undefined,
  id: string | undefined,
): Promise<Provider> {
  const provider = await existingProvider(ctx, tenant, id);
  if (provider.tokenEndpointAuthMethod !== 'private_key_jwt') throw problem('no_client_keys');
  return provider;
}

async function clientKeyList(
  ctx: Pick<GatehouseContext, 'clientKeys' | 'publicOrigin'>,
  provider: Provider,
): Promise<z.infer<typeof clientKeyListSchema>> {
  const keys = await ctx.clientKeys.list(provider.tenant, provider.id);
  return {
    jwksUri: providerUris(ctx.publicOrigin, provider.tenant, provider.id).jwksUri,
    keys: keys.map(clientKeyOut),
  };
}

function clientKeyOut(key: ClientKeySummary) {
  return {
    kid: key.kid,
    alg: key.alg,
    createdAt: new Date(key.createdAt).toISOString(),
    activatesAt: new Date(key.activatesAt).toISOString(),
    retiresAt: key.retiresAt === undefined ? null : new Date(key.retiresAt).toISOString(),
    signing: key.signing,
  };
}
/** A provider's private_key_jwt signing keys: list, rotate, retire. */
export const CLIENT_KEY_ROUTES: readonly AdminRoute[] = [
  route({
    method: 'get',
    path: '/tenants/:tenant/providers/:provider/keys',
    operationId: 'listClientKeys',
    summary: 'The published private_key_jwt signing keys of a provider (public ids only)',
    access: 'tenant',
    response: { status: 200, description: 'The keys', schema: clientKeyListSchema },
    errors: [404],
    handle: async ({ ctx, params }) =>
      clientKeyList(ctx, await keyedProvider(ctx, params.tenant, params.provider)),
  }),
  route({
    method: 'post',
    path: '/tenants/:tenant/providers/:provider/keys/rotate',
    operationId: 'rotateClientKey',
    summary:
      'A new private_key_jwt signing key: published now, signing after the activation delay; the previous one stays published for the overlap',
    access: 'tenant',
    response: {
      status: 201,
      description: 'The new key and every key',
      schema: clientKeyRotatedSchema,
    },
    errors: [404, 409, 502],
    handle: async ({ ctx, params }) => {
      const provider = await keyedProvider(ctx, params.tenant, params.provider);
      // The first key's algorithm comes from the OP's discovery (made with its JWKS).
      await ctx.providers.clientJwks(provider.tenant, provider.id);
      const rotated = await ctx.clientKeys.rotate(provider.tenant, provider.id, () => 'ES256');
      return { rotated: clientKeyOut(rotated), ...(await clientKeyList(ctx, provider)) };
    },
  }),
  route({
    method: 'delete',
    path: '/tenants/:tenant/providers/:provider/keys/:kid',
    operationId: 'retireClientKey',
    summary: 'Stop publishing a superseded private_key_jwt signing key before its overlap ends',
    access: 'tenant',
    response: { status: 204, description: 'Retired' },
    errors: [404, 409],
    handle: async ({ ctx, params }) => {
      const provider = await keyedProvider(ctx, params.tenant, params.provider);
      await ctx.clientKeys.retire(provider.tenant, provider.id, params.kid ?? '');
    },
  }),
];
