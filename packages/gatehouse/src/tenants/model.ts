import { z } from 'zod';
import { storedProviderSettingsShape, type ProviderSettings } from './provider-schema.ts';

/** Where a tenant or provider comes from: the config file (read-only) or the admin API. */
export type RegistrySource = 'config' | 'dynamic';

export {
  TOKEN_ENDPOINT_AUTH_METHODS,
  type ProviderSettings,
  type TokenEndpointAuthMethod,
} from './provider-schema.ts';

/** A signed-in user of the tenant is its admin when `claims[claim]` equals or contains `value`. */
export interface AdminRule {
  claim: string;
  value: string;
}

export const DEFAULT_ADMIN_RULE: AdminRule = Object.freeze({
  claim: 'roles',
  value: 'gatehouse-admin',
});

/** A tenant's own session timeouts (seconds), overriding the deployment's. */
export interface TenantSessionSettings {
  idleTimeoutSeconds?: number;
  absoluteTimeoutSeconds?: number;
}

export interface Tenant {
  id: string;
  name: string;
  emailDomains: readonly string[];
  hosts: readonly string[];
  adminRule: AdminRule;
  session?: TenantSessionSettings;
  source: RegistrySource;
}

/** A provider as the rest of Gatehouse sees it: never the secret itself. */
export interface Provider extends ProviderSettings {
  id: string;
  tenant: string;
  hasClientSecret: boolean;
  source: RegistrySource;
  /** Bumped on every change (0 for config providers): client caches key on it. */
  revision: number;
  /** Epoch ms (0 for config providers): sessions older than their provider are not honoured. */
  createdAt: number;
  updatedAt: number;
}

// ---- What the dynamic registry store holds (JSON in Redis) ----

const storedAdminRule = z.object({ claim: z.string(), value: z.string() });

export const storedTenantSchema = z.object({
  id: z.string(),
  name: z.string(),
  emailDomains: z.array(z.string()),
  hosts: z.array(z.string()),
  adminRule: storedAdminRule,
  session: z
    .object({
      idleTimeoutSeconds: z.number().optional(),
      absoluteTimeoutSeconds: z.number().optional(),
    })
    .optional(),
  revision: z.number().int(),
  createdAt: z.number(),
  updatedAt: z.number(),
});

export const storedProviderSchema = z.object({
  id: z.string(),
  tenant: z.string(),
  ...storedProviderSettingsShape,
  /** The client secret sealed by the Vault (compact JWE), bound to tenant and provider. */
  sealedClientSecret: z.string().optional(),
  revision: z.number().int(),
  createdAt: z.number(),
  updatedAt: z.number(),
});

export const storedApiKeySchema = z.object({
  id: z.string(),
  tenant: z.string(),
  /** SHA-256 (base64url) of the key's secret part; the key itself is never stored. */
  secretHash: z.string(),
  label: z.string().optional(),
  createdAt: z.number(),
});

export type StoredTenant = z.infer<typeof storedTenantSchema>;
export type StoredProvider = z.infer<typeof storedProviderSchema>;
export type StoredApiKey = z.infer<typeof storedApiKeySchema>;

/** `id` of a provider inside the store: unique across tenants. */
export const providerKey = (tenant: string, provider: string) => `${tenant}/${provider}`;
