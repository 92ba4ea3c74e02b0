import type { AdminRule, ProviderSettings, TenantSessionSettings } from './model.ts';
import type { IdTokenSigningAlgorithm } from './provider-schema.ts';

/** What the registry's writers (the admin API) give and get: inputs, patches, API keys. */

export interface TenantInput {
  id: string;
  name: string;
  emailDomains: string[];
  hosts: string[];
  adminRule: AdminRule;
  session?: TenantSessionSettings | undefined;
}
export type TenantPatch = Partial<Omit<TenantInput, 'id'>>;

export interface ProviderInput extends ProviderSettings {
  id: string;
  clientSecret?: string | undefined;
}
/**
 * `clientSecret`: a string replaces it, `null` removes it, absent keeps it; likewise
 * `idTokenSignedResponseAlg` (`null`: chosen from discovery again).
 */
export type ProviderPatch = Partial<Omit<ProviderSettings, 'idTokenSignedResponseAlg'>> & {
  clientSecret?: string | null | undefined;
  idTokenSignedResponseAlg?: IdTokenSigningAlgorithm | null | undefined;
};

/** What a create or update would store, shown to `beforeWrite` (the provider checks). */
export interface ProviderCandidate extends ProviderSettings {
  id: string;
  tenant: string;
  hasClientSecret: boolean;
}
/** `clientSecret`: the secret the candidate would use, in clear (for the credentials check). */
export type BeforeProviderWrite = (
  candidate: ProviderCandidate,
  clientSecret: string | undefined,
) => Promise<void>;

export interface IssuedApiKey {
  id: string;
  /** `ghk_<id>_<secret>`: shown once, only its hash is stored. */
  key: string;
  label: string | undefined;
  createdAt: number;
}

export interface ApiKeySummary {
  id: string;
  label: string | undefined;
  createdAt: number;
}
