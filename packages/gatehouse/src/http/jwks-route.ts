import type { RequestHandler } from 'express';
import type { SigningKeyRing } from '../tokens/key-ring.ts';
import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';

/**
 * `GET /.well-known/jwks.json`: the public halves of the downstream signing keys. No session is
 * read; five minutes of caching matches the longest token lifetime.
 */
export function jwksHandler(keys: SigningKeyRing): RequestHandler {
  return (_req, res) => {
    res.setHeader('cache-control', 'public, max-age=300');
    res.json(keys.jwks());
  };
}

/** A tenant or provider id (the admin API's slug): anything else names no provider. */
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

/** How long an OP may cache a provider's client JWKS (the activation delay must exceed it). */
export const CLIENT_JWKS_MAX_AGE_SECONDS = 60;

/**
 * `GET /bff/jwks/:tenant/:provider`: the public keys a private_key_jwt provider's OP verifies
 * Gatehouse's client assertions with (the provider's `jwks_uri` registered at the IdP). Only
 * providers that use private_key_jwt have one; the first fetch makes the key.
 */
export function clientJwksHandler(
  ctx: Pick<GatehouseContext, 'registry' | 'providers'>,
): RequestHandler {
  return async (req, res) => {
    const tenant = String(req.params.tenant ?? '');
    const providerId = String(req.params.provider ?? '');
    const provider =
      SLUG.test(tenant) && SLUG.test(providerId)
        ? await ctx.registry.provider(tenant, providerId)
        : undefined;
    if (!provider) throw problem('unknown_provider');
    if (provider.tokenEndpointAuthMethod !== 'private_key_jwt') throw problem('no_client_keys');
    const jwks = await ctx.providers.clientJwks(tenant, providerId);
    res.setHeader('cache-control', `public, max-age=${CLIENT_JWKS_MAX_AGE_SECONDS}`);
    res.json(jwks);
  };
}
