import { z } from 'zod';

/** The algorithms Gatehouse signs private_key_jwt client assertions with. */
export const CLIENT_KEY_ALGORITHMS = ['ES256', 'RS256'] as const;
export type ClientKeyAlgorithm = (typeof CLIENT_KEY_ALGORITHMS)[number];

/** One signing key of a provider's client: the public JWK in clear, the private one sealed. */
export const storedClientKeySchema = z.object({
  /** The RFC 7638 thumbprint of the public key. */
  kid: z.string(),
  alg: z.enum(CLIENT_KEY_ALGORITHMS),
  publicJwk: z.record(z.string(), z.unknown()),
  /** The private JWK sealed by the Vault (compact JWE), bound to tenant, provider and kid. */
  sealedPrivateJwk: z.string(),
  createdAt: z.number(),
  /** From when it signs (epoch ms): published at once, used once OPs have fetched it. */
  activatesAt: z.number(),
  /** When it stops being published (epoch ms): set when a newer key supersedes it. */
  retiresAt: z.number().optional(),
});

/** A provider's client signing keys, written with a compare-and-set on `revision`. */
export const storedClientKeySetSchema = z.object({
  tenant: z.string(),
  provider: z.string(),
  revision: z.number().int(),
  keys: z.array(storedClientKeySchema),
});

export type StoredClientKey = z.infer<typeof storedClientKeySchema>;
export type StoredClientKeySet = z.infer<typeof storedClientKeySetSchema>;
