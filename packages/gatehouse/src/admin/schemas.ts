import { z } from 'zod';
import { adminRuleSchema, emailDomain, hostName, tenantSessionSchema } from '../config/schema.ts';
import { slug } from '../config/fields.ts';
import { DEFAULT_ADMIN_RULE } from '../tenants/model.ts';
import {
  ID_TOKEN_SIGNING_ALGORITHMS,
  PROVIDER_PROFILE_IDS,
  providerInputSchema,
  providerPatchSchema as providerPatchBodySchema,
  providerSettingsOutShape,
} from '../tenants/provider-schema.ts';
import { PROVIDER_CHECKS } from '../tenants/provider-checks.ts';
import { PROBLEM_CODES } from '../problems.ts';

// ---- Request bodies (strict: an unknown field is a 422, never silently ignored) ----

const unique = (values: readonly string[]) => new Set(values).size === values.length;

/** `POST …/providers`: the one provider model (`tenants/provider-schema.ts`), defaults applied. */
export const providerCreateSchema = providerInputSchema;

/** `PATCH …/providers/:provider`: every field optional; `clientSecret: null` removes the secret. */
export const providerPatchSchema = providerPatchBodySchema;

const emailDomains = z.array(emailDomain).max(50).refine(unique, 'must not repeat a domain');
const hosts = z.array(hostName).max(20).refine(unique, 'must not repeat a host');

export const tenantCreateSchema = z.strictObject({
  id: slug,
  name: z.string().trim().min(1).max(100),
  emailDomains: emailDomains.default([]),
  hosts: hosts.default([]),
  adminRule: adminRuleSchema.default({ claim: 'roles', value: DEFAULT_ADMIN_RULE.value }),
  session: tenantSessionSchema.optional(),
});

export const tenantPatchSchema = z.strictObject({
  name: z.string().trim().min(1).max(100).optional(),
  emailDomains: emailDomains.optional(),
  hosts: hosts.optional(),
  adminRule: adminRuleSchema.optional(),
  session: tenantSessionSchema.optional(),
});

export const apiKeyCreateSchema = z.strictObject({
  label: z.string().trim().min(1).max(100).optional(),
});

// ---- Responses (documented in the OpenAPI document; the types keep the code honest) ----

const source = z.enum(['config', 'dynamic']);
const timestamp = z.iso.datetime().nullable().describe('null for config entries');

export const tenantOutSchema = z.object({
  id: z.string(),
  name: z.string(),
  emailDomains: z.array(z.string()),
  hosts: z.array(z.string()),
  adminRule: z.object({ claim: z.string(), value: z.string() }),
  session: z
    .object({
      idleTimeoutSeconds: z.number().optional(),
      absoluteTimeoutSeconds: z.number().optional(),
    })
    .optional(),
  source,
});

export const providerOutSchema = z.object({
  id: z.string(),
  tenant: z.string(),
  ...providerSettingsOutShape,
  hasClientSecret: z.boolean().describe('the secret itself is write-only'),
  source,
  createdAt: timestamp,
  updatedAt: timestamp,
});

/** The URIs a tenant admin registers at the IdP (`tenants/provider-uris.ts`). */
export const providerUrisSchema = z.object({
  redirectUri: z.string().describe('register this redirect URI at the IdP'),
  postLogoutRedirectUri: z.string().describe('register this post-logout redirect URI at the IdP'),
  backchannelLogoutUri: z.string().describe('register this back-channel logout URI at the IdP'),
  jwksUri: z.string().describe("Gatehouse's public keys for this provider (private_key_jwt)"),
});

export const providerAnswerSchema = z.object({
  provider: providerOutSchema,
  uris: providerUrisSchema,
  redirectUri: z.string().describe('the same as uris.redirectUri (kept for older clients)'),
  backchannelLogoutUri: z
    .string()
    .describe('the same as uris.backchannelLogoutUri (kept for older clients)'),
});

export const tenantAnswerSchema = z.object({ tenant: tenantOutSchema });
export const tenantListSchema = z.object({ tenants: z.array(tenantOutSchema) });
export const providerListSchema = z.object({ providers: z.array(providerAnswerSchema) });

export const apiKeyOutSchema = z.object({
  id: z.string(),
  label: z.string().nullable(),
  createdAt: z.iso.datetime(),
});
export const apiKeyListSchema = z.object({ apiKeys: z.array(apiKeyOutSchema) });
export const apiKeyIssuedSchema = apiKeyOutSchema.extend({
  key: z.string().describe('ghk_<id>_<secret>: shown once, only a hash is stored'),
});

/** A private_key_jwt signing key of a provider: the public half's id, never the private half. */
export const clientKeyOutSchema = z.object({
  kid: z.string().describe('RFC 7638 thumbprint, the JWS `kid` of the client assertions'),
  alg: z.enum(['ES256', 'RS256']),
  createdAt: z.iso.datetime(),
  activatesAt: z.iso.datetime().describe('From when it signs'),
  retiresAt: z.iso.datetime().nullable().describe('When it stops being published (superseded)'),
  signing: z.boolean().describe('Whether it signs now'),
});
export const clientKeyListSchema = z.object({
  jwksUri: z.string().describe('Register this URL at the IdP as the client’s jwks_uri'),
  keys: z.array(clientKeyOutSchema),
});
export const clientKeyRotatedSchema = clientKeyListSchema.extend({ rotated: clientKeyOutSchema });

export const meSchema = z.object({
  role: z.enum(['operator', 'tenant-admin']),
  tenant: z.string().optional(),
});

/** One named check: passed or not, a sentence, and the provider field it concerns. */
export const providerCheckResultSchema = z.object({
  name: z.enum(PROVIDER_CHECKS),
  ok: z.boolean(),
  message: z.string().describe('A sentence for the tenant admin'),
  field: z.string().nullable().describe('The provider body field the check concerns, if any'),
});

/** `POST …/providers/:provider/test` and `POST …/provider-checks`: every check, named. */
export const providerTestSchema = z.object({
  ok: z.boolean().describe('Every check passed'),
  checks: z.array(providerCheckResultSchema),
  discovery: z
    .object({
      issuer: z.string(),
      authorizationEndpoint: z.string().nullable(),
      tokenEndpoint: z.string().nullable(),
      endSessionEndpoint: z.string().nullable(),
      backchannelLogoutSupported: z.boolean(),
      idTokenSigningAlg: z
        .enum(ID_TOKEN_SIGNING_ALGORITHMS)
        .nullable()
        .describe('What sign-ins expect ID tokens to be signed with'),
    })
    .nullable()
    .describe('What the discovery document said, once it could be read'),
});

/** `GET /admin/api/provider-profiles`: the presets the console offers. */
export const providerProfilesSchema = z.object({
  profiles: z.array(
    z.object({
      id: z.enum(PROVIDER_PROFILE_IDS),
      name: z.string(),
      summary: z.string(),
      issuerHint: z
        .string()
        .describe('What the issuer looks like; placeholders in <angle brackets>'),
      defaults: z
        .object(providerSettingsOutShape)
        .partial()
        .describe('A partial provider body: what the profile sets for fields left out'),
      notes: z.array(z.string()),
    }),
  ),
});

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  code: z.enum(PROBLEM_CODES).describe("The stable problem code (see the README's table)"),
  detail: z.string().optional(),
  check: z.enum(PROVIDER_CHECKS).optional().describe('provider_check_failed only'),
  checks: z
    .array(providerCheckResultSchema)
    .optional()
    .describe('provider_check_failed only: every check, named'),
  errors: z
    .array(z.object({ path: z.string(), message: z.string() }))
    .optional()
    .describe('validation_failed only'),
});

export type TenantOut = z.infer<typeof tenantOutSchema>;
export type ProviderOut = z.infer<typeof providerOutSchema>;
export type ProviderAnswer = z.infer<typeof providerAnswerSchema>;

/** One live session of a tenant, as its admins see it (never the session id, never a token). */
export const tenantSessionOutSchema = z.object({
  handle: z.string().describe('the public handle: what ending one session names'),
  provider: z.string(),
  sub: z.string().describe("the user's subject at the provider"),
  name: z.string().nullable().describe('name, preferred_username or email when the IdP sent one'),
  device: z.string(),
  createdAt: z.iso.datetime(),
  lastSeenAt: z.iso.datetime(),
  current: z.boolean().describe("the caller's own session"),
});
export const tenantSessionListSchema = z.object({ sessions: z.array(tenantSessionOutSchema) });

/** How many sessions an admin call ended (on every instance). */
export const sessionsEndedSchema = z.object({ ended: z.number().int().min(0) });
