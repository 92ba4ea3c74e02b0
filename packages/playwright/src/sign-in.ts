import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { APIRequestContext } from '@playwright/test';
import { playwrightClient, type HopResponse, type SignInClient } from './http.ts';

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

async function describe(response: HopResponse): Promise<string> {
  let text = '';
  try {
    text = (await response.text()).replace(/\s+/g, ' ').slice(0, 300);
  } catch {
    // no body (a redirect)
  }
  return `HTTP ${response.status} from ${response.url}${text ? `: ${text}` : ''}`;
}

/** A subject no other test or worker uses. */
export function uniqueSub(prefix: string | undefined, workerIndex: number): string {
  return `${prefix ?? 'pw'}-w${workerIndex}-${randomUUID().slice(0, 13)}`;
}

/**
 * Where the dev IdP's realm of a Gatehouse tenant (key: JSON of Gatehouse's origin, the tenant
 * and the provider or null) was at this worker's last sign-in. Exported for tests only.
 */
export const knownRealms = new Map<string, { idpOrigin: string; realm: string }>();

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
  http: SignInClient,
  where: { idpOrigin: string; realm: string },
  spec: GatehouseUserSpec,
  sub: string,
): Promise<GatehouseTestUser> {
  const response = await http.post(`${where.idpOrigin}/__control/users`, {
    json: {
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
  });
  if (response.status === 404) {
    throw new GatehouseFixtureError(
      `the dev IdP at ${where.idpOrigin} has no control API: start it with DEV_IDP_CONTROL_API=1 (GATEHOUSE_TEST_CONTROLS=1 pnpm dev does)`,
    );
  }
  if (response.status !== 201) {
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
  /** Called with each step's name and wall time in ms (the opt-in timing breakdown). */
  onStep?: (step: string, ms: number) => void;
}

/** Times one step for `onStep`. */
async function step<T>(
  onStep: SignInOptions['onStep'],
  name: string,
  run: () => Promise<T>,
): Promise<T> {
  if (!onStep) return run();
  const started = performance.now();
  try {
    return await run();
  } finally {
    onStep(name, performance.now() - started);
  }
}

/**
 * The real sign-in, over HTTP with `client`: a browser context's `context.request` (whose
 * cookies are the browser's), or a `JarClient` (a cookie jar of its own, whose cookies then go
 * into a browser context): `/bff/login` → the dev IdP's authorization endpoint → its login
 * form, posted without loading the page (a user made on the fly has consented up front, so there
 * is no consent form), which the IdP answers with its authorization endpoint's resume: the
 * redirect to Gatehouse's callback with the code → Gatehouse's callback (code + PKCE, checked
 * by Gatehouse as for any browser) → the session cookie, set by Gatehouse. The user is made at the dev IdP on the way
 * unless `user` is one made before.
 */
export async function signInOverHttp(
  client: APIRequestContext | SignInClient,
  baseURL: string,
  user: GatehouseUserSpec | GatehouseTestUser,
  options: SignInOptions,
): Promise<GatehouseTestUser> {
  const login = new URL('/bff/login', baseURL);
  login.searchParams.set('tenant', user.tenant);
  if (user.provider) login.searchParams.set('provider', user.provider);
  login.searchParams.set('returnTo', options.returnTo ?? '/');
  const { onStep } = options;
  const http = 'get' in client && 'storageState' in client ? playwrightClient(client) : client;
  const makeUser = (where: { idpOrigin: string; realm: string }, spec: GatehouseUserSpec) =>
    step(onStep, 'idp user (parallel)', () =>
      createDevIdpUser(http, where, spec, uniqueSub(spec.sub, options.workerIndex)),
    );
  // The user is made while Gatehouse starts the sign-in when this worker knows the tenant's
  // realm from an earlier sign-in (checked below), else while the IdP opens the interaction:
  // either way not one round trip after the other.
  const realmKey = JSON.stringify([login.origin, user.tenant, user.provider ?? null]);
  const known = knownRealms.get(realmKey);
  const early = 'password' in user || !known ? undefined : makeUser(known, user);
  // Settled here if /bff/login fails first (awaited below otherwise).
  early?.catch(() => undefined);
  const start = await step(onStep, 'gatehouse /bff/login', () => http.get(login.href));
  const authorizationUrl = start.location;
  if (start.status !== 302 || !authorizationUrl) {
    throw new GatehouseFixtureError(`Gatehouse did not start a sign-in: ${await describe(start)}`);
  }
  const where = devIdpRealm(authorizationUrl);
  knownRealms.set(realmKey, where);
  const sameRealm = known?.idpOrigin === where.idpOrigin && known.realm === where.realm;
  const [testUser, authorization] = await Promise.all([
    'password' in user ? user : early && sameRealm ? early : makeUser(where, user),
    step(onStep, 'idp /auth', () => http.get(authorizationUrl)),
  ]);

  const gatehouseOrigin = new URL(baseURL).origin;
  let url = authorizationUrl;
  let pending: HopResponse | undefined = authorization;
  let loggedIn = false;
  let consented = false;
  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    const { origin, pathname } = new URL(url);
    let response: HopResponse;
    if (pending) {
      response = pending;
      pending = undefined;
    } else if (origin === where.idpOrigin && /\/auth\/[^/]+\/interaction$/.test(pathname)) {
      // The interaction's login form (and the consent form, for a user who was made asking for
      // consent or an IdP session that only lacks consent): posted straight away.
      const confirm = () => http.post(`${url}/confirm`, { form: {} });
      if (!loggedIn) {
        loggedIn = true;
        response = await step(onStep, 'idp login + resume', () =>
          http.post(`${url}/login`, { form: { login: testUser.sub, password: testUser.password } }),
        );
        // 400 "unexpected step": this context is signed in at the IdP already, which asks only
        // for consent.
        if (response.status === 400) {
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
      const name =
        origin === gatehouseOrigin && pathname.startsWith('/bff/callback/')
          ? 'gatehouse callback'
          : origin === where.idpOrigin
            ? 'idp resume'
            : 'other hop';
      response = await step(onStep, name, () => http.get(url));
    }
    const next = response.location;
    if (response.status < 300 || response.status >= 400 || !next) {
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
