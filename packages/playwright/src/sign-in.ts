import { randomUUID } from 'node:crypto';
import type { APIRequestContext, APIResponse } from '@playwright/test';

/** The shape of a test user: every field but `tenant` is optional. */
export interface GatehouseUserSpec {
  /** The Gatehouse tenant to sign in to (`/bff/login?tenant=…`). */
  tenant: string;
  /** The tenant's provider, when it has several (`/bff/login?provider=…`). */
  provider?: string;
  /**
   * A prefix of the subject: the user's `sub` is `<sub>-<worker>-<random>`, so that no two tests
   * (nor two workers) ever share a user. Default `pw`.
   */
  sub?: string;
  /** Default: `<sub>@example.test`. */
  email?: string;
  /** Default: the `sub`. */
  name?: string;
  /** The `roles` claim (e.g. `['gatehouse-admin']` for a tenant admin). */
  roles?: string[];
  /** More claims: standard profile claims reach the ID token; all reach the access tokens. */
  claims?: Record<string, unknown>;
  /** This user's access token lifetime at the dev IdP. */
  accessTokenTtlSeconds?: number;
  /** This user's refresh token lifetime at the dev IdP. */
  refreshTokenTtlSeconds?: number;
}

/** A user the dev IdP made for a test, with where it lives. */
export interface GatehouseTestUser {
  tenant: string;
  provider?: string;
  sub: string;
  email: string;
  name: string;
  roles: string[];
  claims: Record<string, unknown>;
  /** The dev IdP's origin and the realm path (its issuer is `idpOrigin + realm`). */
  idpOrigin: string;
  realm: string;
  /** The user's password at the dev IdP's login page (random, test-only). */
  password: string;
}

const MAX_HOPS = 20;

export class GatehouseFixtureError extends Error {
  override readonly name = 'GatehouseFixtureError';
}

function location(response: APIResponse, from: string): string | undefined {
  const value = response.headers()['location'];
  return value ? new URL(value, from).href : undefined;
}

async function describe(response: APIResponse): Promise<string> {
  let text = '';
  try {
    text = (await response.text()).replace(/\s+/g, ' ').slice(0, 300);
  } catch {
    // no body (a redirect)
  }
  return `HTTP ${response.status()} from ${response.url()}${text ? `: ${text}` : ''}`;
}

/** A subject no other test or worker uses. */
export function uniqueSub(prefix: string | undefined, workerIndex: number): string {
  return `${prefix ?? 'pw'}-w${workerIndex}-${randomUUID().slice(0, 13)}`;
}

/** The dev IdP's realm behind an authorization URL (its endpoint is `<issuer>/auth`). */
function devIdpRealm(authorizationUrl: string): { idpOrigin: string; realm: string } {
  const url = new URL(authorizationUrl);
  if (!url.pathname.endsWith('/auth')) {
    throw new GatehouseFixtureError(
      `the tenant's IdP is not the Gatehouse dev IdP (authorization endpoint ${url.origin}${url.pathname}); the fixtures sign in through the dev IdP only`,
    );
  }
  return { idpOrigin: url.origin, realm: url.pathname.slice(0, -'/auth'.length) };
}

/** Makes the user at the dev IdP through its test-only control API. */
async function createDevIdpUser(
  request: APIRequestContext,
  where: { idpOrigin: string; realm: string },
  spec: GatehouseUserSpec,
  sub: string,
): Promise<GatehouseTestUser> {
  const response = await request.post(`${where.idpOrigin}/__control/users`, {
    data: {
      realm: where.realm,
      id: sub,
      ...(spec.name !== undefined ? { name: spec.name } : {}),
      ...(spec.email !== undefined ? { email: spec.email } : {}),
      ...(spec.roles !== undefined ? { roles: spec.roles } : {}),
      ...(spec.claims !== undefined ? { claims: spec.claims } : {}),
      ...(spec.accessTokenTtlSeconds !== undefined
        ? { accessTokenTtlSeconds: spec.accessTokenTtlSeconds }
        : {}),
      ...(spec.refreshTokenTtlSeconds !== undefined
        ? { refreshTokenTtlSeconds: spec.refreshTokenTtlSeconds }
        : {}),
    },
    failOnStatusCode: false,
  });
  if (response.status() === 404) {
    throw new GatehouseFixtureError(
      `the dev IdP at ${where.idpOrigin} has no control API: start it with DEV_IDP_CONTROL_API=1 (GATEHOUSE_TEST_CONTROLS=1 pnpm dev does)`,
    );
  }
  if (response.status() !== 201) {
    throw new GatehouseFixtureError(`the dev IdP refused the user: ${await describe(response)}`);
  }
  const made = (await response.json()) as {
    id: string;
    password: string;
    name: string;
    email: string;
    roles?: string[];
    claims?: Record<string, unknown>;
  };
  return {
    tenant: spec.tenant,
    ...(spec.provider !== undefined ? { provider: spec.provider } : {}),
    sub: made.id,
    email: made.email,
    name: made.name,
    roles: made.roles ?? [],
    claims: made.claims ?? {},
    idpOrigin: where.idpOrigin,
    realm: where.realm,
    password: made.password,
  };
}

export interface SignInOptions {
  /** Where Gatehouse redirects after the sign-in (default `/`). */
  returnTo?: string;
  workerIndex: number;
}

/**
 * The real sign-in, over HTTP with `request` (a browser context's `context.request`, whose
 * cookies are the browser's): `/bff/login` → the dev IdP's authorization endpoint → its login
 * form, posted without loading the page (a user made on the fly has consented up front, so there
 * is no consent form) → Gatehouse's callback (code + PKCE, checked by Gatehouse as for any
 * browser) → the session cookie, set by Gatehouse. The user is made at the dev IdP on the way
 * unless `user` is one made before.
 */
export async function signInOverHttp(
  request: APIRequestContext,
  baseURL: string,
  user: GatehouseUserSpec | GatehouseTestUser,
  options: SignInOptions,
): Promise<GatehouseTestUser> {
  const login = new URL('/bff/login', baseURL);
  login.searchParams.set('tenant', user.tenant);
  if (user.provider) login.searchParams.set('provider', user.provider);
  login.searchParams.set('returnTo', options.returnTo ?? '/');
  const start = await request.get(login.href, { maxRedirects: 0, failOnStatusCode: false });
  const authorizationUrl = location(start, login.href);
  if (start.status() !== 302 || !authorizationUrl) {
    throw new GatehouseFixtureError(`Gatehouse did not start a sign-in: ${await describe(start)}`);
  }
  const where = devIdpRealm(authorizationUrl);
  // The user is made while the IdP opens the interaction: one round trip fewer.
  const [testUser, authorization] = await Promise.all([
    'password' in user
      ? user
      : createDevIdpUser(request, where, user, uniqueSub(user.sub, options.workerIndex)),
    request.get(authorizationUrl, { maxRedirects: 0, failOnStatusCode: false }),
  ]);

  const gatehouseOrigin = new URL(baseURL).origin;
  let url = authorizationUrl;
  let pending: APIResponse | undefined = authorization;
  let loggedIn = false;
  let consented = false;
  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    const { origin, pathname } = new URL(url);
    let response: APIResponse;
    if (pending) {
      response = pending;
      pending = undefined;
    } else if (origin === where.idpOrigin && /\/interaction\/[^/]+$/.test(pathname)) {
      // The interaction's login form (and the consent form, for a user who was made asking for
      // consent or an IdP session that only lacks consent): posted straight away.
      const confirm = () =>
        request.post(`${url}/confirm`, { form: {}, maxRedirects: 0, failOnStatusCode: false });
      if (!loggedIn) {
        loggedIn = true;
        response = await request.post(`${url}/login`, {
          form: { login: testUser.sub, password: testUser.password },
          maxRedirects: 0,
          failOnStatusCode: false,
        });
        // 400 "unexpected step": this context is signed in at the IdP already, which asks only
        // for consent.
        if (response.status() === 400) {
          consented = true;
          response = await confirm();
        }
      } else if (!consented) {
        consented = true;
        response = await confirm();
      } else {
        throw new GatehouseFixtureError(`the dev IdP asked for a third step at ${url}`);
      }
    } else {
      response = await request.get(url, { maxRedirects: 0, failOnStatusCode: false });
    }
    const next = location(response, url);
    if (response.status() < 300 || response.status() >= 400 || !next) {
      throw new GatehouseFixtureError(
        `sign-in of ${testUser.sub} failed: ${await describe(response)}`,
      );
    }
    // Gatehouse's callback answered with the returnTo: signed in.
    if (origin === gatehouseOrigin && pathname.startsWith('/bff/callback/')) return testUser;
    url = next;
  }
  throw new GatehouseFixtureError(`sign-in of ${testUser.sub} did not finish in ${MAX_HOPS} hops`);
}
