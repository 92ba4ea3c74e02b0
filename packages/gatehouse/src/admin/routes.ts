import express, { type Request, type Response, type Router } from 'express';
import type { z } from 'zod';
import type { GatehouseContext } from '../context.ts';
import { type GatehouseError, problem } from '../errors.ts';
import type { ProblemCode } from '../problems.ts';
import { openClaims, type SessionRecord } from '../session/model.ts';
import type { Provider, Tenant } from '../tenants/model.ts';
import type { ProviderCandidate } from '../tenants/registry.ts';
import { providerSettingsOf, type ProviderSettings } from '../tenants/provider-schema.ts';
import { PROVIDER_PROFILES } from '../tenants/provider-profiles.ts';
import { assertChecksPassed, type ProviderCheckReport } from '../tenants/provider-checks.ts';
import type { ClientKeySummary } from '../tenants/client-keys.ts';
import type { ClientKeyAlgorithm } from '../tenants/client-key-model.ts';
import { providerUris } from '../tenants/provider-uris.ts';
import {
  identifyAdmin,
  principal,
  requireAdmin,
  requireOperator,
  requireTenantAdmin,
  type AdminAccess,
  type AdminPrincipal,
} from './auth.ts';
import { clientIp, rateLimited } from '../http/rate-limit.ts';
import { auditOrigin } from '../http/audit-origin.ts';
import { adminActor, auditAdminCall, auditTrailRoute } from './audit.ts';
import type { AdminCall, AdminDeps, AdminRoute } from './admin-route.ts';
import { buildOpenApiDocument } from './openapi.ts';
import {
  apiKeyCreateSchema,
  apiKeyIssuedSchema,
  apiKeyListSchema,
  clientKeyListSchema,
  clientKeyRotatedSchema,
  meSchema,
  providerAnswerSchema,
  providerCreateSchema,
  providerListSchema,
  providerPatchSchema,
  providerProfilesSchema,
  providerTestSchema,
  providerUrisSchema,
  sessionsEndedSchema,
  tenantSessionListSchema,
  tenantAnswerSchema,
  tenantCreateSchema,
  tenantListSchema,
  tenantPatchSchema,
  type ProviderAnswer,
  type TenantOut,
} from './schemas.ts';

const route = <Body>(definition: AdminRoute<Body>): AdminRoute => definition;

const PARAMS: Record<string, RegExp> = {
  tenant: /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/,
  provider: /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/,
  keyId: /^[0-9a-f]{16}$/,
  // A client signing key's id: the base64url SHA-256 thumbprint of its public JWK.
  kid: /^[A-Za-z0-9_-]{43}$/,
  // An IdP's subject identifier: printable ASCII, at most 255 characters (OIDC Core).
  sub: /^[\x21-\x7e]{1,255}$/,
  // A session's public handle: 16 random bytes, base64url.
  handle: /^[A-Za-z0-9_-]{22}$/,
};

const toIso = (ms: number) => (ms > 0 ? new Date(ms).toISOString() : null);

function tenantOut(tenant: Tenant): TenantOut {
  return {
    id: tenant.id,
    name: tenant.name,
    emailDomains: [...tenant.emailDomains],
    hosts: [...tenant.hosts],
    adminRule: { claim: tenant.adminRule.claim, value: tenant.adminRule.value },
    ...(tenant.session ? { session: { ...tenant.session } } : {}),
    source: tenant.source,
  };
}

/** Never the key nor its hash: the key is shown once, in the answer that issues it. */
function apiKeyOut(key: { id: string; label?: string | undefined; createdAt: number }) {
  return { id: key.id, label: key.label ?? null, createdAt: new Date(key.createdAt).toISOString() };
}

/** An explicit allow-list of fields: whatever a provider carries internally, no secret leaves. */
export function providerAnswer(
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

async function existingTenant(
  ctx: Pick<GatehouseContext, 'registry'>,
  id: string | undefined,
): Promise<Tenant> {
  const tenant = id === undefined ? undefined : await ctx.registry.tenant(id);
  if (!tenant) throw problem('unknown_tenant');
  return tenant;
}

async function existingProvider(
  ctx: Pick<GatehouseContext, 'registry'>,
  tenant: string | undefined,
  id: string | undefined,
): Promise<Provider> {
  await existingTenant(ctx, tenant);
  const provider =
    tenant === undefined || id === undefined ? undefined : await ctx.registry.provider(tenant, id);
  if (!provider) throw problem('unknown_provider');
  return provider;
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

/** Every admin endpoint. The router and the OpenAPI document are both built from this list. */
export const ADMIN_ROUTES: readonly AdminRoute[] = [
  route({
    method: 'get',
    path: '/me',
    operationId: 'whoAmI',
    summary: 'Who the caller is: the operator or the admin of one tenant',
    access: 'admin',
    response: { status: 200, description: 'The caller', schema: meSchema },
    errors: [],
    handle: async ({ who }): Promise<z.infer<typeof meSchema>> =>
      who.role === 'tenant-admin' ? { role: who.role, tenant: who.tenant } : { role: 'operator' },
  }),
  route({
    method: 'get',
    path: '/tenants',
    operationId: 'listTenants',
    summary: 'List every tenant (config and dynamic)',
    access: 'operator',
    response: { status: 200, description: 'The tenants', schema: tenantListSchema },
    errors: [],
    handle: async ({ ctx }) => ({ tenants: (await ctx.registry.tenants()).map(tenantOut) }),
  }),
  route({
    method: 'post',
    path: '/tenants',
    operationId: 'createTenant',
    summary: 'Create a dynamic tenant',
    access: 'operator',
    body: tenantCreateSchema,
    response: { status: 201, description: 'The new tenant', schema: tenantAnswerSchema },
    errors: [409, 422],
    handle: async ({ ctx, body }) => ({
      tenant: tenantOut(await ctx.registry.createTenant(body)),
    }),
  }),
  route({
    method: 'get',
    path: '/tenants/:tenant',
    operationId: 'getTenant',
    summary: 'Read one tenant',
    access: 'tenant',
    response: { status: 200, description: 'The tenant', schema: tenantAnswerSchema },
    errors: [404],
    handle: async ({ ctx, params }) => ({
      tenant: tenantOut(await existingTenant(ctx, params.tenant)),
    }),
  }),
  route({
    method: 'patch',
    path: '/tenants/:tenant',
    operationId: 'updateTenant',
    summary: 'Change a dynamic tenant (config tenants are read-only: 409)',
    access: 'operator',
    body: tenantPatchSchema,
    response: { status: 200, description: 'The changed tenant', schema: tenantAnswerSchema },
    errors: [404, 409, 422],
    handle: async ({ ctx, params, body }) => ({
      tenant: tenantOut(await ctx.registry.updateTenant(params.tenant ?? '', body)),
    }),
  }),
  route({
    method: 'delete',
    path: '/tenants/:tenant',
    operationId: 'deleteTenant',
    summary: 'Delete a dynamic tenant with its providers and API keys; their sessions end',
    access: 'operator',
    response: { status: 204, description: 'Deleted' },
    errors: [404, 409],
    handle: async ({ ctx, params }) => ctx.registry.deleteTenant(params.tenant ?? ''),
  }),
  route({
    method: 'get',
    path: '/tenants/:tenant/api-keys',
    operationId: 'listApiKeys',
    summary: "List a tenant's admin API keys (never the keys themselves)",
    access: 'operator',
    response: { status: 200, description: 'The keys', schema: apiKeyListSchema },
    errors: [404],
    handle: async ({ ctx, params }) => ({
      apiKeys: (await ctx.registry.listApiKeys(params.tenant ?? '')).map(apiKeyOut),
    }),
  }),
  route({
    method: 'post',
    path: '/tenants/:tenant/api-keys',
    operationId: 'createApiKey',
    summary: 'Issue a tenant admin API key; the key is shown in this answer only',
    access: 'operator',
    body: apiKeyCreateSchema,
    bodyOptional: true,
    response: { status: 201, description: 'The new key', schema: apiKeyIssuedSchema },
    errors: [404, 422],
    handle: async ({ ctx, params, body }) => {
      const issued = await ctx.registry.issueApiKey(params.tenant ?? '', body.label);
      return { ...apiKeyOut(issued), key: issued.key };
    },
  }),
  route({
    method: 'delete',
    path: '/tenants/:tenant/api-keys/:keyId',
    operationId: 'revokeApiKey',
    summary: 'Revoke a tenant admin API key',
    access: 'operator',
    response: { status: 204, description: 'Revoked' },
    errors: [404],
    handle: async ({ ctx, params }) =>
      ctx.registry.revokeApiKey(params.tenant ?? '', params.keyId ?? ''),
  }),
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
  route({
    method: 'delete',
    path: '/tenants/:tenant/providers/:provider/users/:sub/sessions',
    operationId: 'endUserSessions',
    summary:
      'End every session of one user (the provider’s issuer and this sub), on every instance',
    access: 'tenant',
    response: { status: 200, description: 'How many sessions ended', schema: sessionsEndedSchema },
    errors: [404],
    handle: async ({ ctx, req, who, params }) => {
      const provider = await existingProvider(ctx, params.tenant, params.provider);
      // Sessions are indexed by the issuer the IdP itself states (as its ID tokens do).
      const configuration = await ctx.providers.client(provider.tenant, provider.id);
      const issuer = configuration.serverMetadata().issuer;
      const sessions = await ctx.sessions.sessionsOfUser(issuer, params.sub ?? '');
      return endSessions(
        { ctx, req, who },
        sessions,
        (record) => record.tenant === provider.tenant && record.provider === provider.id,
      );
    },
  }),
  route({
    method: 'delete',
    path: '/tenants/:tenant/sessions',
    operationId: 'endTenantSessions',
    summary: 'End every session of the tenant, on every instance',
    access: 'operator',
    response: { status: 200, description: 'How many sessions ended', schema: sessionsEndedSchema },
    errors: [404],
    handle: async ({ ctx, req, who, params }) => {
      const tenant = await existingTenant(ctx, params.tenant);
      const sessions = await ctx.sessions.sessionsOfTenant(tenant.id);
      return endSessions({ ctx, req, who }, sessions, (record) => record.tenant === tenant.id);
    },
  }),
  route({
    method: 'get',
    path: '/tenants/:tenant/sessions',
    operationId: 'listTenantSessions',
    summary: "List the tenant's live sessions, newest first (never a session id or a token)",
    access: 'tenant',
    response: { status: 200, description: 'The sessions', schema: tenantSessionListSchema },
    errors: [404],
    handle: async ({ ctx, req, params }) => {
      const tenant = await existingTenant(ctx, params.tenant);
      const sessions = [...(await ctx.sessions.sessionsOfTenant(tenant.id)).values()]
        .filter((record) => record.tenant === tenant.id)
        .sort((a, b) => b.createdAtMs - a.createdAtMs)
        .slice(0, MAX_LISTED_SESSIONS);
      const own = req.session.gh?.handle;
      return {
        sessions: await Promise.all(
          sessions.map(async (record) => tenantSessionOut(ctx, record, own)),
        ),
      };
    },
  }),
  route({
    method: 'delete',
    path: '/tenants/:tenant/sessions/:handle',
    operationId: 'endTenantSession',
    summary: 'End one session of the tenant (by its public handle), on every instance',
    access: 'tenant',
    response: { status: 200, description: 'How many sessions ended', schema: sessionsEndedSchema },
    errors: [404],
    handle: async ({ ctx, req, who, params }) => {
      const tenant = await existingTenant(ctx, params.tenant);
      const sessions = await ctx.sessions.sessionsOfTenant(tenant.id);
      const result = await endSessions(
        { ctx, req, who },
        sessions,
        (record) => record.tenant === tenant.id && record.handle === params.handle,
      );
      if (result.ended === 0) throw problem('unknown_session');
      return result;
    },
  }),
  auditTrailRoute,
];

/** How many sessions the console lists at most (the newest). */
const MAX_LISTED_SESSIONS = 500;

async function tenantSessionOut(
  ctx: Pick<GatehouseContext, 'vault'>,
  record: SessionRecord,
  own: string | undefined,
): Promise<z.infer<typeof tenantSessionListSchema>['sessions'][number]> {
  const claims = await openClaims(ctx.vault, record);
  const name = [claims.name, claims.preferred_username, claims.email].find(
    (value): value is string => typeof value === 'string' && value !== '',
  );
  return {
    handle: record.handle,
    provider: record.provider,
    sub: typeof claims.sub === 'string' ? claims.sub : '',
    name: name ?? null,
    device: record.device,
    createdAt: new Date(record.createdAtMs).toISOString(),
    lastSeenAt: new Date(record.lastSeenAtMs).toISOString(),
    current: own !== undefined && record.handle === own,
  };
}

async function endSessions(
  { ctx, req, who }: Pick<AdminCall<unknown>, 'ctx' | 'req' | 'who'>,
  sessions: Map<string, SessionRecord>,
  matches: (record: SessionRecord) => boolean,
): Promise<z.infer<typeof sessionsEndedSchema>> {
  const ending = { reason: 'admin', by: adminActor(who), ...auditOrigin(req) } as const;
  const ended = await ctx.sessions.endMatching(sessions, matches, ending);
  ctx.metrics.sessionsEnded('admin', ended);
  return { ended };
}

/**
 * `/admin/api`: JSON in, JSON or problem+json out. The caller is identified before the body is
 * even parsed; then each route checks its access (operator, or the admin of exactly the tenant
 * in the path) before looking anything up, so another tenant's ids reveal nothing.
 */
export function adminRouter(ctx: AdminDeps): Router {
  const router = express.Router();
  const document = buildOpenApiDocument(ctx, ADMIN_ROUTES);
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  router.use(identifyAdmin(ctx));
  router.use(rateLimited(ctx.rateLimits, 'adminApi', adminRateKey));
  router.use(express.json({ limit: '32kb' }));
  for (const definition of ADMIN_ROUTES) {
    router[definition.method](definition.path, (req, res) => runRoute(ctx, definition, req, res));
  }
  return router;
}

async function runRoute(
  ctx: AdminDeps,
  definition: AdminRoute,
  req: Request,
  res: Response,
): Promise<void> {
  const who = principal(res);
  const params = checkedParams(req);
  authorize(definition.access, who, params.tenant);
  const body = definition.body ? readBody(req, definition.body) : undefined;
  const call = { ctx, req, who, body, params };
  let result: unknown;
  try {
    result = await definition.handle(call);
  } catch (error) {
    auditAdminCall(definition, call, { error });
    throw error;
  }
  auditAdminCall(definition, call, { result });
  if (definition.response.status === 204) res.status(204).end();
  else res.status(definition.response.status).json(result);
}

function authorize(access: AdminAccess, who: AdminPrincipal, tenant: string | undefined): void {
  if (access === 'admin') requireAdmin(who);
  if (access === 'operator') requireOperator(who);
  if (access === 'tenant') requireTenantAdmin(who, tenant ?? '');
}

/** What a malformed path parameter answers: it cannot name anything that exists. */
const UNKNOWN_PARAM: Readonly<Record<string, ProblemCode>> = {
  tenant: 'unknown_tenant',
  provider: 'unknown_provider',
  keyId: 'unknown_api_key',
  kid: 'unknown_client_key',
  sub: 'unknown_sub',
  handle: 'unknown_session',
};

function checkedParams(req: Request): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.params as Record<string, unknown>)) {
    if (typeof value !== 'string' || !PARAMS[name]?.test(value)) {
      throw problem(UNKNOWN_PARAM[name] ?? 'not_found');
    }
    params[name] = value;
  }
  return params;
}

/** JSON only; an absent body is `{}` (so required fields are reported), an unknown field is a 422. */
function readBody<Body>(req: Request, schema: z.ZodType<Body>): Body {
  let raw: unknown = req.body;
  if (raw === undefined) {
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
    if (hasBody) {
      throw problem('unsupported_media_type');
    }
    raw = {};
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw validationFailed(parsed.error);
  return parsed.data;
}

function validationFailed(error: z.ZodError): GatehouseError {
  const errors = error.issues.flatMap((issue) => {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: [...path, key].join('.'),
        message: 'Unknown field.',
      }));
    }
    return [{ path: path.join('.'), message: issue.message }];
  });
  return problem('validation_failed', { extra: { errors } });
}

/**
 * Whose admin API budget a request uses: the operator's, a tenant's API keys', a signed-in
 * user's own (by the session's public handle), or the address's when anonymous.
 */
function adminRateKey(req: Request, res: Response): string {
  const who = principal(res);
  if (who.role === 'operator') return 'operator';
  if (who.role === 'tenant-admin' && who.via === 'api-key') return `api-key:${who.tenant}`;
  const handle = req.session.gh?.handle;
  if (handle) return `session:${handle}`;
  return clientIp(req);
}
