import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import * as client from 'openid-client';
import {
  createCookieFetch,
  freePort,
  inspectSession,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import {
  DEMO_API_RESOURCE,
  PERSONALITY_PATHS,
  realmIssuer,
  startDevIdp,
  type DevIdpRealm,
  type Personality,
  type RunningDevIdp,
} from '@gatehouse/dev-idp';
import { ADMIN_TOKEN, adminCall, withAdminToken, type Caller } from './support/admin.ts';
import { trustingDevIdps } from './support/scripted-idp.ts';

/**
 * The provider × capability matrix (README "Identity provider support"): for each OP that
 * behaves like a big provider (the dev IdP's personalities, plus a plain OP), one named test per
 * cell — register through the admin API, sign in (code + PKCE through the OP's pages), call the
 * API, refresh, RP-initiated logout, revocation at logout, back-channel logout. Real Redis, one
 * real OP server per row, one Gatehouse.
 */
type Cell = 'register' | 'login' | 'API' | 'refresh' | 'RP logout' | 'revocation' | 'back-channel';

interface Row {
  /** Provider id at Gatehouse (tenant acme) and the test names' prefix. */
  id: string;
  personality?: Personality;
  /** The provider body beyond id, issuer and client credentials. */
  settings: Record<string, unknown>;
  /** The cells this row has a test for; the README says why the others are "—". */
  cells: readonly Cell[];
  /** The OP has an end_session_endpoint (else Gatehouse signs out locally only). */
  endSession: boolean;
  /** Amazon Cognito's `/logout?client_id&logout_uri` instead of end-session. */
  cognitoLogout?: boolean;
  /** private_key_jwt (Gatehouse's per-provider JWKS) + PAR + DPoP-bound tokens, no secret. */
  strict?: boolean;
  /** The proxied route the API and refresh cells call (default `/api/demo`). */
  api?: string;
}

const ALL: readonly Cell[] = [
  'register',
  'login',
  'API',
  'refresh',
  'RP logout',
  'revocation',
  'back-channel',
];

const ROWS: readonly Row[] = [
  {
    id: 'generic',
    settings: { profile: 'generic', authorizationParams: { prompt: 'consent' } },
    cells: ALL,
    endSession: true,
  },
  {
    id: 'google',
    personality: 'google',
    // What the google profile sets: no offline_access; access_type=offline + prompt=consent.
    settings: {
      profile: 'google',
      scopes: ['openid', 'profile', 'email'],
      authorizationParams: { access_type: 'offline', prompt: 'consent' },
    },
    cells: ['register', 'login', 'API', 'refresh', 'RP logout', 'revocation'],
    endSession: false,
  },
  { id: 'okta', personality: 'okta', settings: { profile: 'okta' }, cells: ALL, endSession: true },
  {
    id: 'auth0',
    personality: 'auth0',
    // Auth0 gives a JWT access token for an API only when asked for its audience.
    settings: { profile: 'auth0', authorizationParams: { audience: DEMO_API_RESOURCE } },
    cells: ALL,
    endSession: true,
  },
  {
    id: 'keycloak',
    personality: 'keycloak',
    settings: { profile: 'keycloak' },
    cells: ALL,
    endSession: true,
  },
  {
    id: 'entra',
    personality: 'entra',
    // The profile assumes PKCE: Entra enforces it but leaves it out of discovery.
    settings: { profile: 'entra' },
    cells: ['register', 'login', 'API', 'refresh', 'RP logout'],
    endSession: true,
  },
  {
    id: 'cognito',
    personality: 'cognito',
    // The profile assumes PKCE and signs out at Cognito's own /logout.
    settings: { profile: 'cognito' },
    cells: ['register', 'login', 'API', 'refresh', 'RP logout'],
    endSession: false,
    cognitoLogout: true,
  },
  {
    id: 'strict-modern',
    personality: 'strict-modern',
    // The profile: PAR required, private_key_jwt, DPoP.
    settings: { profile: 'strict-modern', authorizationParams: { prompt: 'consent' } },
    // Revocation is checked by a resource server of this OP (its own private_key_jwt key).
    cells: ALL,
    endSession: true,
    strict: true,
    api: '/api/dpop-demo',
  },
];

const CLIENT_SECRET = 'matrix-test-secret-0123456789';
/**
 * The strict OP accepts private_key_jwt only, and Gatehouse's client has no secret: the
 * revocation cell introspects there as a resource server client with a key of this test's own.
 */
const RESOURCE_SERVER = 'matrix-resource-server';
const resourceServerKey = generateKeyPair('ES256', { extractable: true });
const operator: Caller = { name: 'operator', bearer: ADMIN_TOKEN };
const csrf = { 'x-csrf': '1' };

let redis: RedisServer;
let stack: Stack;
const ops = new Map<string, { idp: RunningDevIdp; path: string; issuer: string }>();

function realmOf(
  row: Row,
  gatehouseOrigin: string,
  resourceServerJwk?: Record<string, unknown>,
): DevIdpRealm {
  const callback = (origin: string) => `${origin}/bff/callback/acme/${row.id}`;
  const resourceServer =
    row.strict && resourceServerJwk
      ? [
          {
            client_id: RESOURCE_SERVER,
            token_endpoint_auth_method: 'private_key_jwt' as const,
            jwks: { keys: [resourceServerJwk] },
            redirect_uris: ['https://resource-server.invalid/unused'],
            resource_server: true,
          },
        ]
      : [];
  return {
    path: row.personality ? PERSONALITY_PATHS[row.personality] : '',
    ...(row.personality ? { personality: row.personality } : {}),
    users: [{ id: 'alice', password: 'alice', name: 'Alice Anderson', email: 'alice@acme.test' }],
    clients: [
      {
        client_id: `gatehouse-${row.id}`,
        ...(row.strict
          ? {
              token_endpoint_auth_method: 'private_key_jwt' as const,
              jwks_uri: `${gatehouseOrigin}/bff/jwks/acme/${row.id}`,
              dpop_bound_access_tokens: true,
            }
          : { client_secret: CLIENT_SECRET }),
        redirect_uris: [callback(gatehouseOrigin)],
        // Where Gatehouse sends the browser after end-session, now and as the logout moves to
        // a page of its own.
        post_logout_redirect_uris: [`${gatehouseOrigin}/`, `${gatehouseOrigin}/bff/signed-out`],
        backchannel_logout_uri: `${gatehouseOrigin}/bff/backchannel-logout/acme/${row.id}`,
      },
      ...resourceServer,
    ],
  };
}

beforeAll(async () => {
  redis = await startRedisServer();
  // The OPs' ports first: Gatehouse must know their origins (http dev IdPs) and the demo API
  // their issuers before any of them runs.
  const ports = new Map<string, number>();
  for (const row of ROWS) ports.set(row.id, await freePort());
  const originOf = (row: Row) => `http://localhost:${ports.get(row.id) ?? 0}`;
  const issuerOf = (row: Row) =>
    realmIssuer(originOf(row), {
      path: row.personality ? PERSONALITY_PATHS[row.personality] : '',
      ...(row.personality ? { personality: row.personality } : {}),
    });
  stack = await startStack({
    redis,
    configure: (input) => ({
      ...trustingDevIdps(withAdminToken(input), ...ROWS.map(originOf)),
      testControls: true,
      // The demo API behind a route that sends DPoP-bound tokens with a fresh proof per call.
      routes: [
        ...(input.routes ?? []),
        {
          prefix: '/api/dpop-demo',
          upstream: input.routes?.[0]?.upstream ?? '',
          tokenMode: 'user',
          dpop: true,
        },
      ],
    }),
    trustedIssuers: ROWS.map((row) => ({
      issuer: issuerOf(row),
      jwksUri: `${issuerOf(row).replace(/\/$/, '')}/jwks`,
      audience: DEMO_API_RESOURCE,
    })),
  });
  const publicJwk = {
    ...(await exportJWK((await resourceServerKey).publicKey)),
    alg: 'ES256',
    use: 'sig',
    kid: 'matrix-rs',
  };
  for (const row of ROWS) {
    const realm = realmOf(row, stack.origin, publicJwk);
    const idp = await startDevIdp({
      port: ports.get(row.id) ?? 0,
      realms: [realm],
      resources: { [DEMO_API_RESOURCE]: {} },
      controlApi: true,
    });
    ops.set(row.id, { idp, path: realm.path, issuer: idp.issuer(realm.path) });
    expect(idp.issuer(realm.path)).toBe(issuerOf(row));
  }
});

afterAll(async () => {
  for (const { idp } of ops.values()) await idp.close();
  await stack?.close();
  await redis?.stop();
});

function opOf(row: Row) {
  const op = ops.get(row.id);
  if (!op) throw new Error(`no OP for ${row.id}`);
  return op;
}

function providerBody(row: Row) {
  return {
    id: row.id,
    displayName: `Matrix ${row.id}`,
    issuer: opOf(row).issuer,
    clientId: `gatehouse-${row.id}`,
    ...(row.strict ? {} : { clientSecret: CLIENT_SECRET }),
    ...row.settings,
  };
}

const registered = new Map<string, Promise<void>>();

/** Registers the row's provider once (the `register` cell checks the answer itself). */
function ensureRegistered(row: Row): Promise<void> {
  let done = registered.get(row.id);
  if (!done) {
    done = adminCall(
      stack.origin,
      operator,
      'POST',
      '/tenants/acme/providers',
      providerBody(row),
    ).then((answer) => {
      expect(answer.status, answer.text).toBe(201);
    });
    registered.set(row.id, done);
  }
  return done;
}

async function signedIn(row: Row): Promise<CookieFetch> {
  await ensureRegistered(row);
  const http = createCookieFetch();
  const target = await signIn(
    http,
    stack.origin,
    { login: 'alice', password: 'alice' },
    { tenant: 'acme', provider: row.id, returnTo: '/matrix' },
  );
  expect(target).toBe('/matrix');
  return http;
}

async function callApi(http: CookieFetch, route = '/api/demo') {
  const res = await http(`${stack.origin}${route}/me`, { headers: csrf });
  const body = (await res.json()) as { sub?: string; iss?: string };
  return { status: res.status, body };
}

/**
 * Signs out as the browser does and returns where it is sent next: the `Location` of a
 * redirect, or the `endSessionUrl` of the JSON answer; null when Gatehouse sends it nowhere.
 */
async function rpLogout(http: CookieFetch): Promise<string | null> {
  const res = await http(`${stack.origin}/bff/logout`, { method: 'POST', headers: csrf });
  if (res.status === 302 || res.status === 303) return res.headers.get('location');
  expect(res.status).toBe(200);
  return ((await res.json()) as { endSessionUrl: string | null }).endSessionUrl;
}

/** Confirms the OP's sign-out page (its form posts itself in a browser); returns the redirect. */
async function confirmIdpLogout(http: CookieFetch, endSessionUrl: string): Promise<string> {
  const page = await http(endSessionUrl);
  expect(page.status, 'the OP accepts the end-session request').toBe(200);
  const html = await page.text();
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1] ?? '';
  const body = new URLSearchParams();
  for (const [, name = '', value = ''] of html.matchAll(
    /<input type="hidden" name="([^"]+)" value="([^"]*)"/g,
  )) {
    body.set(name, value);
  }
  const done = await http(new URL(action, endSessionUrl).href, { method: 'POST', body });
  expect(done.status).toBe(303);
  return done.headers.get('location') ?? '';
}

async function introspect(row: Row, token: string): Promise<boolean> {
  const { issuer } = opOf(row);
  if (row.strict) {
    const key = (await resourceServerKey).privateKey;
    const configuration = await client.discovery(
      new URL(issuer),
      RESOURCE_SERVER,
      {},
      client.PrivateKeyJwt({ key, kid: 'matrix-rs' }),
      { execute: [client.allowInsecureRequests] },
    );
    return (await client.tokenIntrospection(configuration, token)).active;
  }
  const metadata = (await (
    await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)
  ).json()) as { introspection_endpoint: string };
  const res = await fetch(metadata.introspection_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`gatehouse-${row.id}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
  });
  return ((await res.json()) as { active: boolean }).active;
}

const CELLS: Record<Cell, (row: Row) => Promise<void>> = {
  async register(row) {
    const answer = await adminCall(
      stack.origin,
      operator,
      'POST',
      '/tenants/acme/providers',
      providerBody(row),
    );
    expect(answer.status, answer.text).toBe(201);
    registered.set(row.id, Promise.resolve());
    // What the tenant admin registers at the IdP: exactly what this OP's client has.
    const client = realmOf(row, stack.origin).clients[0];
    expect(answer.body.uris).toMatchObject({
      redirectUri: client?.redirect_uris[0],
      backchannelLogoutUri: client?.backchannel_logout_uri,
    });
    expect(client?.post_logout_redirect_uris).toContain(
      (answer.body.uris as { postLogoutRedirectUri?: string } | undefined)?.postLogoutRedirectUri,
    );
    expect(answer.body.provider).toMatchObject({ id: row.id, profile: row.settings.profile });
    const tenantPage = (await (await fetch(`${stack.origin}/bff/tenants/acme`)).json()) as {
      providers: Array<{ id: string }>;
    };
    expect(tenantPage.providers.map((p) => p.id)).toContain(row.id);
  },

  async login(row) {
    const http = await signedIn(row);
    const user = await http(`${stack.origin}/bff/user`);
    expect(user.status).toBe(200);
    expect(await user.json()).toMatchObject({
      tenant: 'acme',
      provider: row.id,
      issuer: opOf(row).issuer,
      claims: { sub: 'alice' },
    });
  },

  async API(row) {
    const http = await signedIn(row);
    const me = await callApi(http, row.api);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ sub: 'alice', iss: opOf(row).issuer });
  },

  async refresh(row) {
    const http = await signedIn(row);
    const { idp, path } = opOf(row);
    const before = idp.tokenEndpointCallsByGrantType(path).refresh_token ?? 0;
    const { tokens } = await inspectSession(stack, http);
    expect(tokens.refreshToken, 'the OP issued a refresh token').toEqual(expect.any(String));
    const expired = await http(`${stack.origin}/bff/test-controls/expire-access-token`, {
      method: 'POST',
      headers: csrf,
    });
    expect(expired.status).toBe(200);
    const me = await callApi(http, row.api);
    expect(me.status).toBe(200);
    expect(me.body.sub).toBe('alice');
    // One refresh grant; at the strict OP two requests, the first answered `use_dpop_nonce`.
    expect(idp.tokenEndpointCallsByGrantType(path).refresh_token).toBe(
      before + (row.strict ? 2 : 1),
    );
    const after = await inspectSession(stack, http);
    expect(after.tokens.accessToken).not.toBe(tokens.accessToken);
  },

  async 'RP logout'(row) {
    const http = await signedIn(row);
    const { tokens } = await inspectSession(stack, http);
    const next = await rpLogout(http);
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(401);
    if (row.cognitoLogout) {
      // Cognito's own /logout at its domain's root: client_id + a registered logout_uri.
      const url = new URL(next ?? '');
      expect(`${url.origin}${url.pathname}`).toBe(`${opOf(row).idp.origin}/logout`);
      expect(url.searchParams.get('client_id')).toBe(`gatehouse-${row.id}`);
      const logoutUri = url.searchParams.get('logout_uri') ?? '';
      expect(logoutUri.startsWith(`${stack.origin}/`)).toBe(true);
      const res = await http(url.href);
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe(logoutUri);
      return;
    }
    if (!row.endSession) {
      // No end-session at this OP: the session ends at Gatehouse only, the browser stays here.
      if (next !== null) expect(new URL(next, stack.origin).origin).toBe(stack.origin);
      return;
    }
    const metadata = (await (
      await fetch(`${opOf(row).issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)
    ).json()) as { end_session_endpoint: string };
    expect(next).not.toBeNull();
    const url = new URL(next ?? '');
    expect(`${url.origin}${url.pathname}`).toBe(metadata.end_session_endpoint);
    expect(url.searchParams.get('id_token_hint')).toBe(tokens.idToken);
    const registered = url.searchParams.get('post_logout_redirect_uri') ?? '';
    expect(registered.startsWith(`${stack.origin}/`)).toBe(true);
    // The OP signs the user out and sends the browser back to Gatehouse (with the state if any).
    const back = new URL(await confirmIdpLogout(http, url.href));
    expect(`${back.origin}${back.pathname}`).toBe(registered);
    expect(back.searchParams.get('state')).toBe(url.searchParams.get('state'));
  },

  async revocation(row) {
    const http = await signedIn(row);
    const { tokens } = await inspectSession(stack, http);
    expect(tokens.refreshToken).toEqual(expect.any(String));
    expect(await introspect(row, tokens.refreshToken ?? '')).toBe(true);
    await rpLogout(http);
    expect(await introspect(row, tokens.refreshToken ?? '')).toBe(false);
  },

  async 'back-channel'(row) {
    const http = await signedIn(row);
    const other = await signedIn(row);
    const { tokens } = await inspectSession(stack, http);
    const sid = decodeJwt(tokens.idToken ?? '').sid;
    expect(sid).toEqual(expect.any(String));
    const { idp, path } = opOf(row);
    const res = await fetch(`${idp.origin}/__control/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ realm: path, sub: 'alice', sid }),
    });
    expect(await res.json()).toMatchObject({ delivered: [`gatehouse-${row.id}`], failed: [] });
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(401);
    // The logout token named one OP session (sid): the user's other session lives on.
    expect((await other(`${stack.origin}/bff/user`)).status).toBe(200);
  },
};

for (const row of ROWS) {
  describe(row.id, () => {
    for (const cell of row.cells) it(cell, () => CELLS[cell](row));
  });
}
