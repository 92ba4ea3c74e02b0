/** A user that can sign in at one realm. `id` is both the login name and the `sub` claim. */
export interface DevIdpUser {
  id: string;
  password: string;
  name: string;
  email: string;
  emailVerified?: boolean;
  roles?: string[];
  /**
   * More claims. Standard profile claims (`given_name`, `groups`, `locale`…) are released in ID
   * tokens and userinfo with the `profile` scope; every claim here is also put into the user's
   * JWT access tokens (reserved JWT claims such as `iss`, `aud` or `exp` excepted).
   */
  claims?: Record<string, unknown>;
  /** This user's access token lifetime, instead of the IdP's. */
  accessTokenTtlSeconds?: number;
  /** This user's refresh token (and grant) lifetime, instead of the IdP's. */
  refreshTokenTtlSeconds?: number;
  /**
   * The user agreed up front to what every client asks: signing in has no consent step (users
   * the control API makes, unless it is asked for `askConsent`).
   */
  consentGiven?: boolean;
}

/** A statically registered client. No `client_secret` means a public client (`none` auth). */
export interface DevIdpClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  backchannel_logout_uri?: string;
  token_endpoint_auth_method?:
    'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
  /** Where the client's public keys are (private_key_jwt: Gatehouse's `/bff/jwks/…`). */
  jwks_uri?: string;
  /** The client's public keys given inline (private_key_jwt without a JWKS URL). */
  jwks?: { keys: Array<Record<string, unknown>> };
  /**
   * A resource server: it may introspect every token of the realm (RFC 7662), not only its
   * own, as an API checking what a relying party's tokens still are.
   */
  resource_server?: boolean;
  /** How this client's ID tokens are signed (one of the realm's `idTokenSigningAlgs`). */
  id_token_signed_response_alg?: DevIdpSigningAlg;
  /** RFC 9449: the token endpoint refuses this client's requests without a DPoP proof. */
  dpop_bound_access_tokens?: boolean;
}

/** The ID token signing algorithms a realm can be given keys for. */
export type DevIdpSigningAlg = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';

/** The big providers a realm can behave like (see personalities.ts for what each changes). */
export const PERSONALITIES = [
  'entra',
  'google',
  'okta',
  'auth0',
  'keycloak',
  'cognito',
  'strict-modern',
] as const;
export type Personality = (typeof PERSONALITIES)[number];

/** One issuer: `path` '' is the root issuer, otherwise a sub-path such as '/globex'. */
export interface DevIdpRealm {
  path: string;
  users: DevIdpUser[];
  clients: DevIdpClient[];
  /**
   * The ID token signing algorithms the realm announces in discovery and has keys for (an
   * RS256 key is always there, for access tokens). Default: oidc-provider's own list.
   */
  idTokenSigningAlgs?: DevIdpSigningAlg[];
  /** Behave like a big provider (see personalities.ts); a plain OpenID Provider when absent. */
  personality?: Personality;
  /**
   * Refuse authorization requests that were not pushed first (RFC 9126
   * `require_pushed_authorization_requests`, advertised in discovery).
   */
  requirePushedAuthorizationRequests?: boolean;
  /** Offer pushed authorization requests (RFC 9126) without requiring them; default off. */
  offersPushedAuthorizationRequests?: boolean;
}

/** The resource indicator (and JWT `aud`) of the demo API. */
export const DEMO_API_RESOURCE = 'urn:gatehouse:demo-api';

/** The confidential clients of the default realms, keyed by tenant, for the BFF's dev config. */
export const DEV_CLIENTS = {
  acme: { realmPath: '', clientId: 'gatehouse-acme', clientSecret: 'dev-only-acme-secret' },
  globex: {
    realmPath: '/globex',
    clientId: 'gatehouse-globex',
    clientSecret: 'dev-only-globex-secret',
  },
  /**
   * Not in the dev config: a second globex client for the provider `sso` that a tenant admin
   * registers at runtime through the admin API / console (`/bff/callback/globex/sso`).
   */
  globexSso: {
    realmPath: '/globex',
    clientId: 'gatehouse-globex-sso',
    clientSecret: 'dev-only-globex-sso-secret',
  },
  /**
   * Not in the dev config: an acme client whose tokens must be DPoP-bound
   * (`dpop_bound_access_tokens`), for a provider `dpop` with `dpop: true`
   * (`/bff/callback/acme/dpop`).
   */
  acmeDpop: {
    realmPath: '',
    clientId: 'gatehouse-acme-dpop',
    clientSecret: 'dev-only-acme-dpop-secret',
  },
} as const;

/** The Gatehouse URIs registered for a tenant's provider (default: its dev provider). */
export function devClientUris(gatehouseOrigin: string, tenant: string, providerId = 'dev') {
  return {
    redirectUri: `${gatehouseOrigin}/bff/callback/${tenant}/${providerId}`,
    postLogoutRedirectUri: `${gatehouseOrigin}/bff/signed-out`,
    backchannelLogoutUri: `${gatehouseOrigin}/bff/backchannel-logout/${tenant}/${providerId}`,
  };
}

function devClient(
  gatehouseOrigin: string,
  tenant: 'acme' | 'globex',
  client: keyof typeof DEV_CLIENTS = tenant,
  providerId = 'dev',
  extra: Partial<DevIdpClient> = {},
): DevIdpClient {
  const { clientId, clientSecret } = DEV_CLIENTS[client];
  const uris = devClientUris(gatehouseOrigin, tenant, providerId);
  return {
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [uris.redirectUri],
    post_logout_redirect_uris: [uris.postLogoutRedirectUri],
    backchannel_logout_uri: uris.backchannelLogoutUri,
    ...extra,
  };
}

function devUser(id: string, name: string, email: string, roles: string[]): DevIdpUser {
  return { id, password: id, name, email, emailVerified: true, roles };
}

/** The two default tenants: acme at the root issuer (alice, bob), globex at '/globex' (carol, dave). */
export function defaultRealms(opts: { gatehouseOrigin: string }): DevIdpRealm[] {
  const origin = opts.gatehouseOrigin.replace(/\/+$/, '');
  const admin = ['gatehouse-admin'];
  return [
    {
      path: DEV_CLIENTS.acme.realmPath,
      users: [
        devUser('alice', 'Alice Anderson', 'alice@acme.test', admin),
        devUser('bob', 'Bob Brown', 'bob@acme.test', []),
      ],
      clients: [
        devClient(origin, 'acme'),
        devClient(origin, 'acme', 'acmeDpop', 'dpop', { dpop_bound_access_tokens: true }),
      ],
    },
    {
      path: DEV_CLIENTS.globex.realmPath,
      users: [
        devUser('carol', 'Carol Chen', 'carol@globex.test', admin),
        devUser('dave', 'Dave Diaz', 'dave@globex.test', []),
      ],
      clients: [devClient(origin, 'globex'), devClient(origin, 'globex', 'globexSso', 'sso')],
    },
  ];
}
