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
 * providers that use private_key_jwt have one; the first fetch makes the key. Keys the
 * registration checks made for a candidate (a provider of a known tenant not stored yet, or
 * switching to private_key_jwt) are served too, so the OP can fetch the key the credentials
 * check signs with before the provider is saved.
 */
export function clientJwksHandler(
  ctx: Pick<GatehouseContext, 'registry' | 'providers' | 'clientKeys'>,
): RequestHandler {
  return async (req, res) => {
    const tenant = String(req.params.tenant ?? '');
    const providerId = String(req.params.provider ?? '');
    const valid = SLUG.test(tenant) && SLUG.test(providerId);
    const provider = valid ? await ctx.registry.provider(tenant, providerId) : undefined;
    let jwks: { keys: unknown[] } | undefined;
    if (provider?.tokenEndpointAuthMethod === 'private_key_jwt') {
      jwks = await ctx.providers.clientJwks(tenant, providerId);
    } else if (valid && (await ctx.registry.tenant(tenant))) {
      const candidate = await ctx.clientKeys.jwks(tenant, providerId);
      if (candidate?.keys.length) jwks = candidate;
    }
    if (!jwks) throw problem(provider ? 'no_client_keys' : 'unknown_provider');
    res.setHeader('cache-control', `public, max-age=${CLIENT_JWKS_MAX_AGE_SECONDS}`);
    res.json(jwks);
  };
}
