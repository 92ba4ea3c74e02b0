/**
 * The admin API's contract as TypeScript types, inferred from the zod schemas that validate its
 * requests and describe its answers (`schemas.ts`): one source of truth. Types only — importing
 * this module costs nothing at run time. `@gatehouse/client` derives its admin types from here
 * (`pnpm contract:generate` expands them into `packages/client/src/admin-contract.ts`, so the
 * published SDK needs neither zod nor this package).
 *
 * Request bodies are `z.input` (what a caller may send: defaults make fields optional);
 * answers are `z.output` (what the server sends).
 */
import type { z } from 'zod';
import type { auditPageSchema } from './audit.ts';
import type {
  apiKeyIssuedSchema,
  apiKeyListSchema,
  clientKeyListSchema,
  clientKeyRotatedSchema,
  meSchema,
  problemSchema,
  providerAnswerSchema,
  providerCreateSchema,
  providerListSchema,
  providerOutSchema,
  providerPatchSchema,
  providerTestSchema,
  providerCheckResultSchema,
  providerProfilesSchema,
  providerUrisSchema,
  sessionsEndedSchema,
  tenantSessionListSchema,
} from './schemas.ts';

/** `GET /admin/api/me`: who the admin API takes the caller for. */
export type AdminIdentity = z.output<typeof meSchema>;
/** A tenant's identity provider as the admin API shows it (the secret is never read back). */
export type TenantProvider = z.output<typeof providerOutSchema>;
/** A provider plus the URIs its admin must configure at the IdP. */
export type ProviderView = z.output<typeof providerAnswerSchema>;
/** `GET /admin/api/tenants/:tenant/providers`. */
export type ProviderList = z.output<typeof providerListSchema>;
/** `POST /admin/api/tenants/:tenant/providers`. */
export type ProviderInput = z.input<typeof providerCreateSchema>;
/** `PATCH …/providers/:id`: absent keeps, `clientSecret: null` removes the secret. */
export type ProviderPatch = z.input<typeof providerPatchSchema>;
/**
 * `POST …/providers/:id/test` and `POST …/provider-checks`: every check named, passed or not
 * (a create or update whose checks fail is a `provider_check_failed` problem carrying the same).
 */
export type ProviderTestResult = z.output<typeof providerTestSchema>;
/** One check's outcome: its name, pass or fail, a sentence and the body field it concerns. */
export type ProviderCheckResult = z.output<typeof providerCheckResultSchema>;
/** The URIs a tenant admin registers at the IdP (`GET …/provider-uris/:provider`). */
export type ProviderUris = z.output<typeof providerUrisSchema>;
/** `GET /admin/api/provider-profiles`. */
export type ProviderProfiles = z.output<typeof providerProfilesSchema>;
/** One profile: a preset of provider settings with notes for the console. */
export type ProviderProfile = ProviderProfiles['profiles'][number];
/** How the provider authenticates Gatehouse at its token endpoint. */
export type TokenEndpointAuthMethod = TenantProvider['tokenEndpointAuthMethod'];
/** The name of one provider check (`issuer_mismatch`, `jwks_unavailable`, …). */
export type ProviderCheckName = ProviderCheckResult['name'];
/** Every stable problem code Gatehouse answers with (see the README's table). */
export type ProblemCode = z.output<typeof problemSchema>['code'];
/** `GET …/api-keys`: a tenant's admin API keys (never the keys themselves). */
export type ApiKeyList = z.output<typeof apiKeyListSchema>;
/** One admin API key as listed. */
export type ApiKeyInfo = ApiKeyList['apiKeys'][number];
/** `POST …/api-keys`: the new key, shown in this answer only. */
export type IssuedApiKey = z.output<typeof apiKeyIssuedSchema>;
/** `GET …/sessions`: the tenant's live sessions. */
export type TenantSessionList = z.output<typeof tenantSessionListSchema>;
/** One live session of a tenant, as its admins see it. */
export type TenantSession = TenantSessionList['sessions'][number];
/** How many sessions an admin call ended. */
export type SessionsEnded = z.output<typeof sessionsEndedSchema>;
/** `GET …/audit`: one page of a tenant's audit trail. */
export type AuditPage = z.output<typeof auditPageSchema>;
/** One audit event. */
export type AuditEventView = AuditPage['events'][number];
/** `GET …/providers/:provider/keys`: a private_key_jwt provider's published signing keys. */
export type ClientKeyList = z.output<typeof clientKeyListSchema>;
/** One published signing key (public ids and times only, never the private key). */
export type ClientKeyInfo = ClientKeyList['keys'][number];
/** `POST …/providers/:provider/keys/rotate`: the new key and every published key. */
export type ClientKeyRotated = z.output<typeof clientKeyRotatedSchema>;
