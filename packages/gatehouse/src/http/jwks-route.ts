import type { RequestHandler } from 'express';
import type { SigningKeyRing } from '../tokens/key-ring.ts';

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
