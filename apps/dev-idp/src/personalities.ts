// Provider "personalities": the dev IdP (oidc-provider) made to behave like a big provider in
// the ways that matter to a relying party. Each one changes only what the real provider does
// differently from a plain OpenID Provider, and says which behaviour it mimics. A realm picks
// one with `personality`; the rest of the realm (users, login and consent pages, clients) is the
// dev IdP's own.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import express from 'express';
import type { Request, Response, Router } from 'express';
import { base64url, CompactSign, importJWK } from 'jose';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Configuration, JWK, KoaContextWithOIDC } from 'oidc-provider';
import { sendPage } from './interactions.ts';
import { messagePage } from './pages.ts';
import type { DevIdpRealm, Personality } from './realms.ts';

/**
 * A realm path shaped like the real provider's issuer path (the origin is the dev IdP's own):
 * Entra `https://login.microsoftonline.com/<tenant id>/v2.0`, Okta's default custom
 * authorization server `https://<org>.okta.com/oauth2/default`, Keycloak
 * `https://<host>/realms/<realm>`, Cognito `https://cognito-idp.<region>.amazonaws.com/<pool id>`;
 * Google (`https://accounts.google.com`) and Auth0 (`https://<tenant>.auth0.com/`) are at the root.
 */
export const PERSONALITY_PATHS: Readonly<Record<Personality, string>> = {
  entra: '/3f2504e0-4f89-41d3-9a0c-0305e82c3301/v2.0',
  google: '',
  okta: '/oauth2/default',
  auth0: '',
  keycloak: '/realms/acme',
  cognito: '/eu-west-1_G4tEh0uSe',
  'strict-modern': '',
};

/** The realm's issuer: origin + path, and Auth0's trailing `/` (`https://<tenant>.auth0.com/`). */
export function realmIssuer(origin: string, realm: Pick<DevIdpRealm, 'path' | 'personality'>) {
  return `${origin}${realm.path}${realm.personality === 'auth0' ? '/' : ''}`;
}

type KoaMiddleware = (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void>;
type Fetch = NonNullable<Configuration['fetch']>;

/**
 * Personalities that issue a refresh token at every code exchange of a client allowed the
 * refresh_token grant. Keycloak and Cognito always do; Entra, Okta and Auth0 do when the client
 * asks for `offline_access` (as relying parties do for them). None of them has oidc-provider's
 * extra rule that `offline_access` counts only with `prompt=consent`.
 */
const REFRESH_WITHOUT_CONSENT_PROMPT: ReadonlySet<Personality | undefined> = new Set([
  'entra',
  'okta',
  'auth0',
  'keycloak',
  'cognito',
]);

/** What a personality changes in the realm's oidc-provider configuration. */
export function personalityConfiguration(
  personality: Personality | undefined,
  base: Configuration,
  signingJwk: JWK,
): Configuration {
  const configuration = quirkyConfiguration(personality, base, signingJwk);
  if (!REFRESH_WITHOUT_CONSENT_PROMPT.has(personality)) return configuration;
  return {
    ...configuration,
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  };
}

function quirkyConfiguration(
  personality: Personality | undefined,
  base: Configuration,
  signingJwk: JWK,
): Configuration {
  const features = (changes: Record<string, unknown>): Configuration => ({
    ...base,
    features: { ...base.features, ...changes },
  });
  switch (personality) {
    case undefined:
    case 'okta':
      return base;
    case 'entra':
      // Entra ID has no RFC 7009 revocation endpoint and no OIDC back-channel logout (it
      // offers front-channel logout only).
      return features({ revocation: { enabled: false }, backchannelLogout: { enabled: false } });
    case 'google':
      // Google has no end_session_endpoint and no back-channel logout; `access_type` is its
      // own authorization parameter (see googleAccessType).
      return {
        ...features({
          rpInitiatedLogout: { enabled: false },
          backchannelLogout: { enabled: false },
        }),
        extraParams: { access_type: googleAccessType },
      };
    case 'auth0': {
      // Without `audience`, Auth0 issues an opaque access token good for /userinfo only.
      const resourceIndicators = base.features?.resourceIndicators ?? {};
      return features({
        resourceIndicators: {
          ...resourceIndicators,
          defaultResource: (_ctx: unknown, _client: unknown, oneOf?: string[]) => oneOf?.[0],
        },
      });
    }
    case 'keycloak':
      // Keycloak (up to 24) types its logout tokens `typ: JWT` rather than `logout+jwt`.
      return { ...base, fetch: keycloakLogoutTokens(base.fetch ?? fetch, signingJwk) };
    case 'cognito':
      // Cognito has no end_session_endpoint (its /logout is not OIDC, see cognitoLogoutRouter)
      // and no back-channel logout. Its session cookie is the whole domain's, so /logout at the
      // origin's root sees it.
      return {
        ...features({
          rpInitiatedLogout: { enabled: false },
          backchannelLogout: { enabled: false },
        }),
        cookies: { ...base.cookies, long: { ...base.cookies?.long, path: '/' } },
      };
    case 'strict-modern':
      // A FAPI 2.0-style OP: PAR required, private_key_jwt only, DPoP-bound tokens with
      // server-provided DPoP nonces.
      return {
        ...features({
          pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
          dPoP: {
            enabled: true,
            nonceSecret: randomBytes(32),
            requireNonce: () => true,
          },
        }),
        clientAuthMethods: ['private_key_jwt'],
      };
  }
}

/** Koa middleware run around every request of the realm's provider, if the personality needs one. */
export function personalityMiddleware(
  personality: Personality | undefined,
): KoaMiddleware | undefined {
  switch (personality) {
    case 'entra':
      return withoutDiscoveryFields(['code_challenge_methods_supported']);
    case 'google':
      return async (ctx, next) => {
        if (ctx.path === '/auth' && ctx.method === 'GET') googleAuthorizationRequest(ctx);
        await next();
        // Google does not list offline_access (it refuses it; see googleAccessType).
        if (isDiscovery(ctx)) {
          const body = ctx.body as Record<string, unknown>;
          if (Array.isArray(body.scopes_supported)) {
            body.scopes_supported = body.scopes_supported.filter((s) => s !== 'offline_access');
          }
        }
      };
    case 'okta':
      // Okta's /v1/logout answers 400 without id_token_hint ("id_token_hint is required").
      return async (ctx, next) => {
        if (ctx.path === '/session/end' && ctx.method === 'GET' && !ctx.query['id_token_hint']) {
          ctx.status = 400;
          ctx.type = 'html';
          ctx.body = messagePage('Sign-out error', 'invalid_request: id_token_hint is required');
          return;
        }
        await next();
      };
    case 'auth0':
      // Auth0's `audience` names the API the access token is for (a JWT with that `aud`); here
      // it is the RFC 8707 resource indicator that oidc-provider understands.
      return async (ctx, next) => {
        const audience = ctx.query['audience'];
        if (ctx.path === '/auth' && ctx.method === 'GET' && typeof audience === 'string') {
          const query = new URLSearchParams(ctx.querystring);
          if (!query.has('resource')) query.set('resource', audience);
          ctx.querystring = query.toString();
        }
        await next();
      };
    case 'cognito':
      // Cognito supports PKCE but leaves code_challenge_methods_supported out of discovery, and
      // its /oauth2/revoke endpoint is not advertised either.
      return withoutDiscoveryFields(['code_challenge_methods_supported', 'revocation_endpoint']);
    default:
      return undefined;
  }
}

/**
 * Express routes the personality serves beside oidc-provider, mounted at the origin's root (one
 * such personality per dev IdP server).
 */
export function personalityRouter(
  personality: Personality | undefined,
  provider: Provider,
  realm: DevIdpRealm,
  sessionCookie: string,
): Router | undefined {
  return personality === 'cognito'
    ? cognitoLogoutRouter(provider, realm, sessionCookie)
    : undefined;
}

function isDiscovery(ctx: KoaContextWithOIDC): boolean {
  return (ctx.oidc as { route?: string } | undefined)?.route === 'discovery' && ctx.status === 200;
}

function withoutDiscoveryFields(fields: readonly string[]): KoaMiddleware {
  return async (ctx, next) => {
    await next();
    if (!isDiscovery(ctx)) return;
    const body = ctx.body as Record<string, unknown>;
    for (const field of fields) delete body[field];
  };
}

// ---- Google ----

/** The scope each Google authorization request asked for, before anything was added to it. */
const requestedScopes = new WeakMap<IncomingMessage, string>();

/**
 * Google issues a refresh token only for `access_type=offline`, and (again) only with
 * `prompt=consent`. oidc-provider's own rule is the same for `offline_access` (kept only with
 * `prompt=consent`), so that pair turns into the `offline_access` scope here.
 */
function googleAuthorizationRequest(ctx: KoaContextWithOIDC): void {
  const query = new URLSearchParams(ctx.querystring);
  const scope = query.get('scope') ?? '';
  requestedScopes.set(ctx.req, scope);
  const prompts = (query.get('prompt') ?? '').split(' ');
  if (query.get('access_type') === 'offline' && prompts.includes('consent')) {
    query.set('scope', `${scope} offline_access`);
    ctx.querystring = query.toString();
  }
}

/** Google refuses the `offline_access` scope (`invalid_scope`) and knows only online/offline. */
function googleAccessType(ctx: KoaContextWithOIDC, value: string | undefined): void {
  const scope = ctx.oidc.params?.['scope'];
  const asked = requestedScopes.get(ctx.req) ?? (typeof scope === 'string' ? scope : '');
  if (asked.split(' ').includes('offline_access')) {
    throw new errors.InvalidScope('offline_access is not a valid scope', 'offline_access');
  }
  if (value !== undefined && value !== 'online' && value !== 'offline') {
    throw new errors.InvalidRequest("access_type must be 'online' or 'offline'");
  }
}

// ---- Keycloak ----

/** Re-signs each outgoing logout token with the same key and claims under `typ: JWT`. */
function keycloakLogoutTokens(send: Fetch, jwk: JWK): Fetch {
  const key = importJWK(
    JSON.parse(JSON.stringify(jwk)) as Parameters<typeof importJWK>[0],
    'RS256',
  );
  return async (input, init) => {
    const body = init?.body;
    const token = body instanceof URLSearchParams ? body.get('logout_token') : null;
    if (body instanceof URLSearchParams && token) {
      const payload = base64url.decode(token.split('.')[1] ?? '');
      const jws = await new CompactSign(payload)
        .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
        .sign(await key);
      body.set('logout_token', jws);
    }
    return send(input, init);
  };
}

// ---- Cognito ----

function queryString(req: Request, name: string): string | undefined {
  const value = req.query[name];
  return typeof value === 'string' ? value : undefined;
}

function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Cognito's hosted UI `GET /logout?client_id=…&logout_uri=…` (at its domain's root, like
 * `/oauth2/authorize`; not in discovery): ends the user's session at the IdP
 * and redirects to `logout_uri` only if it is one of the client's registered sign-out URLs
 * (here: its `post_logout_redirect_uris`); anything else is an error page, never a redirect.
 * No `id_token_hint`, no `state`, no back-channel logout.
 */
function cognitoLogoutRouter(provider: Provider, realm: DevIdpRealm, sessionCookie: string) {
  const router = express.Router();
  router.get('/logout', async (req: Request, res: Response) => {
    const clientId = queryString(req, 'client_id');
    const logoutUri = queryString(req, 'logout_uri');
    const client = realm.clients.find((c) => c.client_id === clientId);
    if (!client || !logoutUri || !client.post_logout_redirect_uris?.includes(logoutUri)) {
      sendPage(res, 400, messagePage('Sign-out error', 'invalid_request: unknown logout_uri'));
      return;
    }
    const sessionId = cookieValue(req, sessionCookie);
    const session = sessionId ? await provider.Session.find(sessionId) : undefined;
    await session?.destroy();
    for (const name of [sessionCookie, `${sessionCookie}.sig`]) {
      res.clearCookie(name, { path: '/', httpOnly: true, sameSite: 'lax' });
    }
    res.redirect(302, logoutUri);
  });
  return router;
}
