import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';
import type { Account, ClientMetadata, Configuration, JWK, ResourceServer } from 'oidc-provider';
import { interactionPath } from './interactions.ts';
import { logoutPage, messagePage } from './pages.ts';
import type { DevIdpClient, DevIdpRealm, DevIdpSigningAlg, DevIdpUser } from './realms.ts';
import { accessTokenClaims, type UserDirectory } from './users.ts';
import { personalityConfiguration, personalityMiddleware } from './personalities.ts';

/** Scopes a resource server accepts unless `resources[...].scope` says otherwise. */
export const DEFAULT_RESOURCE_SCOPE = 'openid profile email offline_access roles api';

export interface RealmProviderOptions {
  realm: DevIdpRealm;
  /** The realm's users (the control API may add more while the IdP runs). */
  users: UserDirectory;
  issuer: string;
  resources: ReadonlyMap<string, { scope?: string }>;
  defaultResource: string | undefined;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** RFC 9449 §8: every DPoP proof must carry a nonce this IdP issued (`use_dpop_nonce`). */
  dpopNonces?: boolean;
  /** See `DevIdpOptions.signingAlg`; ignored for a realm with its own `idTokenSigningAlgs`. */
  signingAlg?: DevIdpSigningAlg;
}

const signingKeys = new WeakMap<Provider, JWK[]>();

/** The realm's private RS256 key, for the test-only control API that signs arbitrary JWTs. */
export function signingJwkOf(provider: Provider): JWK | undefined {
  return signingKeys.get(provider)?.[0];
}

/** All the realm's private signing keys (the RS256 one first), for the start-up warm-up. */
export function signingJwksOf(provider: Provider): JWK[] {
  return signingKeys.get(provider) ?? [];
}

/**
 * A realm signing with `alg` (not RS256): the only ID token algorithm it announces, and every
 * client's registered `id_token_signed_response_alg` unless the client names its own.
 */
function signingWith(realm: DevIdpRealm, alg: DevIdpSigningAlg): DevIdpRealm {
  return {
    ...realm,
    idTokenSigningAlgs: [alg],
    clients: realm.clients.map((client) => ({ id_token_signed_response_alg: alg, ...client })),
  };
}

/** Builds one realm's OpenID Provider with its own fresh signing key and cookie key. */
export async function createRealmProvider(options: RealmProviderOptions): Promise<Provider> {
  // A realm that lists its own ID token algorithms keeps them, and RS256 access tokens.
  const { signingAlg, ...rest } = options;
  const opts: RealmProviderOptions =
    signingAlg && signingAlg !== 'RS256' && !options.realm.idTokenSigningAlgs
      ? { ...rest, realm: signingWith(options.realm, signingAlg), signingAlg }
      : rest;
  const jwk = await generateSigningJwk();
  // Keys for the other ID token algorithms the realm announces (an EC key for ES256, …).
  const more = await Promise.all(
    (opts.realm.idTokenSigningAlgs ?? [])
      .filter((alg) => alg !== 'RS256')
      .map((alg) => generateSigningJwk(alg)),
  );
  const { personality } = opts.realm;
  const configuration = personalityConfiguration(
    personality,
    providerConfiguration(opts, [jwk, ...more]),
    jwk,
  );
  const provider = new Provider(opts.issuer, configuration);
  signingKeys.set(provider, [jwk, ...more]);
  const quirks = personalityMiddleware(personality);
  if (quirks) provider.use(quirks);
  // Like Keycloak, tell clients how long a refresh token lives (`refresh_expires_in`), so the
  // BFF can end its session no later than the refresh token dies. Each rotation gets the full TTL.
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as Record<string, unknown> | undefined;
    const oidc = ctx.oidc as
      { route?: string; entities?: { Grant?: { accountId?: string } } } | undefined;
    if (oidc?.route === 'token' && body && typeof body === 'object' && body.refresh_token) {
      const accountId = oidc.entities?.Grant?.accountId;
      body.refresh_expires_in =
        (accountId ? opts.users.find(accountId)?.refreshTokenTtlSeconds : undefined) ??
        opts.refreshTokenTtlSeconds;
    }
  });
  // Host and protocol come from X-Forwarded-* which the server always overwrites with the public origin.
  provider.proxy = true;
  return provider;
}

async function generateSigningJwk(alg: DevIdpSigningAlg = 'RS256'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), alg, use: 'sig', kid: randomUUID() };
}

function toClientMetadata(client: DevIdpClient): ClientMetadata {
  return {
    client_id: client.client_id,
    ...(client.client_secret ? { client_secret: client.client_secret } : {}),
    ...(client.jwks_uri ? { jwks_uri: client.jwks_uri } : {}),
    ...(client.jwks ? { jwks: client.jwks } : {}),
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method:
      client.token_endpoint_auth_method ?? (client.client_secret ? 'client_secret_basic' : 'none'),
    ...(client.id_token_signed_response_alg
      ? { id_token_signed_response_alg: client.id_token_signed_response_alg }
      : {}),
    ...(client.dpop_bound_access_tokens ? { dpop_bound_access_tokens: true } : {}),
    // session_required makes oidc-provider put `sid` into ID tokens and logout tokens.
    ...(client.backchannel_logout_uri
      ? {
          backchannel_logout_uri: client.backchannel_logout_uri,
          backchannel_logout_session_required: true,
        }
      : {}),
  };
}

function toAccount(user: DevIdpUser): Account {
  return {
    accountId: user.id,
    // oidc-provider filters these by the granted scopes (see `claims` below).
    claims: () => ({
      ...user.claims,
      sub: user.id,
      name: user.name,
      email: user.email,
      email_verified: user.emailVerified ?? true,
      roles: user.roles ?? [],
    }),
  };
}

/** Cookie names carry the realm so the root realm's cookies never shadow a sub-path realm's. */
export function cookieNames(realmPath: string) {
  const suffix = realmPath.replace(/[^A-Za-z0-9]/g, '_');
  return {
    session: `_session${suffix}`,
    interaction: `_interaction${suffix}`,
    resume: `_interaction_resume${suffix}`,
  };
}

function resourceServerInfo(opts: RealmProviderOptions, indicator: string): ResourceServer {
  const resource = opts.resources.get(indicator);
  if (!resource) throw new errors.InvalidTarget('unknown resource indicator');
  return {
    scope: resource.scope ?? DEFAULT_RESOURCE_SCOPE,
    audience: indicator,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: opts.signingAlg ?? 'RS256' } },
  };
}

type GrantContext = Parameters<NonNullable<Configuration['loadExistingGrant']>>[0];

/**
 * oidc-provider's own lookup (the grant this interaction or this browser session holds) and, for
 * a user who consented up front (`consentGiven`, users the control API makes), a grant of
 * everything the client asked for: the OIDC scopes and every resource server's scope. Its login
 * answers the consent step too (see interactions.ts), so such a sign-in has no consent page.
 */
async function loadOrPreGrant(
  ctx: GrantContext,
  userOf: (accountId: string | undefined) => DevIdpUser | undefined,
) {
  const { oidc } = ctx;
  const clientId = oidc.client?.clientId;
  const grantId =
    oidc.result?.consent?.grantId ??
    (clientId === undefined ? undefined : oidc.session?.grantIdFor(clientId));
  if (grantId) return oidc.provider.Grant.find(grantId);
  const accountId = oidc.account?.accountId;
  if (clientId === undefined || !userOf(accountId)?.consentGiven) return undefined;
  const grant = new oidc.provider.Grant({ accountId, clientId });
  const scope = oidc.params?.['scope'];
  if (typeof scope === 'string') grant.addOIDCScope(scope);
  for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
    if (server.scope) grant.addResourceScope(indicator, server.scope);
  }
  await grant.save();
  return grant;
}

function pickDefaultResource(preferred: string | undefined, oneOf?: readonly string[]) {
  if (!oneOf) return preferred;
  return preferred && oneOf.includes(preferred) ? preferred : oneOf[0];
}

/** oidc-provider's fetch refuses loopback targets (SSRF guard); dev back-channel receivers live there. */
function loopbackFriendlyFetch(
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  const { dispatcher: _ssrfGuard, ...rest } = (init ?? {}) as RequestInit & {
    dispatcher?: unknown;
  };
  return fetch(input, rest);
}

/** Released with `profile`: the standard profile claims, plus `roles` and `groups`. */
const PROFILE_CLAIMS = [
  'name',
  'given_name',
  'family_name',
  'middle_name',
  'nickname',
  'preferred_username',
  'profile',
  'picture',
  'website',
  'gender',
  'birthdate',
  'zoneinfo',
  'locale',
  'updated_at',
  'roles',
  'groups',
];

function providerConfiguration(opts: RealmProviderOptions, keys: JWK[]): Configuration {
  const {
    realm,
    users,
    accessTokenTtlSeconds: accessTtl,
    refreshTokenTtlSeconds: refreshTtl,
  } = opts;
  const userOf = (accountId: string | undefined) =>
    accountId === undefined ? undefined : users.find(accountId);
  const resourceServers = new Set(
    realm.clients.filter((client) => client.resource_server).map((client) => client.client_id),
  );
  return {
    clients: realm.clients.map(toClientMetadata),
    jwks: { keys },
    ...(realm.idTokenSigningAlgs
      ? { enabledJWA: { idTokenSigningAlgValues: [...realm.idTokenSigningAlgs] } }
      : {}),
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      names: cookieNames(realm.path),
      long: { httpOnly: true, sameSite: 'lax', path: realm.path || '/' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    findAccount: (_ctx, sub) => {
      const user = users.find(sub);
      return user ? toAccount(user) : undefined;
    },
    // `roles` is released with `profile` (what the BFF asks for) and with its own `roles` scope.
    scopes: ['openid', 'offline_access', 'profile', 'email', 'roles'],
    claims: {
      openid: ['sub'],
      profile: PROFILE_CLAIMS,
      email: ['email', 'email_verified'],
      roles: ['roles'],
    },
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true },
    rotateRefreshToken: true,
    clientBasedCORS: () => false,
    // Under the authorization endpoint's resume URL (`<realm>/auth/<uid>`), whose resume cookie
    // is scoped to that path: the forms post there with it, and a step that ends the interaction
    // answers with the resume itself (interactions.ts).
    interactions: { url: (_ctx, interaction) => interactionPath(realm.path, interaction.uid) },
    loadExistingGrant: (ctx) => loadOrPreGrant(ctx, userOf),
    // A user made by the control API may bring its own lifetimes.
    extraTokenClaims: (_ctx, token) =>
      accessTokenClaims(userOf((token as { accountId?: string }).accountId)),
    ttl: {
      AccessToken: (_ctx, token) => userOf(token.accountId)?.accessTokenTtlSeconds ?? accessTtl,
      IdToken: 3600,
      RefreshToken: (_ctx, token) => userOf(token.accountId)?.refreshTokenTtlSeconds ?? refreshTtl,
      Grant: (_ctx, grant) => userOf(grant.accountId)?.refreshTokenTtlSeconds ?? refreshTtl,
      Session: refreshTtl,
      Interaction: 600,
    },
    features: {
      devInteractions: { enabled: false },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId,
      },
      introspection: {
        enabled: true,
        // A client introspects its own tokens; a resource server any token of the realm.
        allowedPolicy: (_ctx, client, token) =>
          token.clientId === client.clientId || resourceServers.has(client.clientId),
      },
      backchannelLogout: { enabled: true },
      // RFC 9449: tokens requested with a DPoP proof are bound to its key (`token_type: DPoP`,
      // `cnf.jkt` in JWT access tokens); optionally only with a nonce of this IdP.
      dPoP: opts.dpopNonces
        ? { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true }
        : { enabled: true },
      // Off unless the realm asks (oidc-provider's default is on): a relying party with PAR
      // `auto` then sends the authorization request in the browser's URL, as most tests read it.
      pushedAuthorizationRequests: {
        enabled:
          (realm.offersPushedAuthorizationRequests ?? false) ||
          (realm.requirePushedAuthorizationRequests ?? false),
        requirePushedAuthorizationRequests: realm.requirePushedAuthorizationRequests ?? false,
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => {
          ctx.type = 'html';
          ctx.body = logoutPage(form);
        },
        postLogoutSuccessSource: (ctx) => {
          ctx.type = 'html';
          ctx.body = messagePage('Signed out', 'You are signed out.');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => pickDefaultResource(opts.defaultResource, oneOf),
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => resourceServerInfo(opts, indicator),
      },
    },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = messagePage('Sign-in error', `${out.error}: ${out.error_description ?? ''}`);
    },
    fetch: loopbackFriendlyFetch,
  };
}
