import { DEV_CLIENTS } from '@gatehouse/dev-idp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { operatorTokenMatcher } from '../src/admin/auth.ts';
import { ADMIN_ROUTES } from '../src/admin/routes.ts';
import {
  ADMIN_TOKEN,
  adminCall,
  devIdpProvider,
  recordedAnswers,
  withAdminToken,
  type Caller,
} from './support/admin.ts';

/**
 * The admin API over real HTTP against the dev IdP and a real redis-server: who may call what
 * (every endpoint × every kind of caller), CSRF for cookie callers, body handling, read-only
 * config entries, and that no client secret ever comes back or sits in Redis in clear.
 */
let redis: RedisServer;
let stack: Stack;
let origin: string;
const callers = {} as Record<
  'operator' | 'adminAKey' | 'adminACookie' | 'adminB' | 'endUser' | 'anonymous',
  Caller
>;
/** Every client secret sent in this file: none may ever come back or be stored in clear. */
const secrets: string[] = [];
let counter = 0;

/** The realm's real client secret: every create and update now proves its credentials. */
const secret = (realm: '' | '/globex' = '') => {
  const value = realm ? DEV_CLIENTS.globex.clientSecret : DEV_CLIENTS.acme.clientSecret;
  secrets.push(value);
  return value;
};

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startStack({ redis, configure: withAdminToken });
  origin = stack.origin;
  callers.operator = { name: 'operator', bearer: ADMIN_TOKEN };
  callers.anonymous = { name: 'anonymous' };
  const acmeKey = await adminCall(origin, callers.operator, 'POST', '/tenants/acme/api-keys', {
    label: 'matrix',
  });
  const globexKey = await adminCall(origin, callers.operator, 'POST', '/tenants/globex/api-keys');
  callers.adminAKey = { name: 'admin of A (API key)', bearer: String(acmeKey.body.key) };
  callers.adminB = { name: 'admin of B (API key)', bearer: String(globexKey.body.key) };
  const alice = createCookieFetch();
  await signIn(alice, origin, { login: 'alice', password: 'alice' });
  callers.adminACookie = { name: 'admin of A (alice, cookie)', jar: alice };
  const bob = createCookieFetch();
  await signIn(bob, origin, { login: 'bob', password: 'bob' });
  callers.endUser = { name: 'end user (bob, cookie)', jar: bob };
});
afterAll(async () => {
  await stack?.close();
  await redis?.stop();
});

const operatorCall = (method: string, path: string, body?: unknown) =>
  adminCall(origin, callers.operator, method, path, body);

async function freshProvider(tenant: 'acme' | 'globex'): Promise<string> {
  const id = `p${++counter}`;
  const realm = tenant === 'acme' ? '' : '/globex';
  const body = devIdpProvider(stack, id, realm, secret(realm));
  const created = await operatorCall('POST', `/tenants/${tenant}/providers`, body);
  expect(created.status, created.text).toBe(201);
  return id;
}

async function freshTenant(): Promise<string> {
  const id = `t${++counter}`;
  const created = await operatorCall('POST', '/tenants', { id, name: `Tenant ${id}` });
  expect(created.status, created.text).toBe(201);
  return id;
}

async function freshApiKey(): Promise<string> {
  const created = await operatorCall('POST', '/tenants/acme/api-keys', {});
  expect(created.status).toBe(201);
  return String(created.body.id);
}

type Who = keyof typeof callers;
const WHO: Who[] = ['operator', 'adminAKey', 'adminACookie', 'adminB', 'endUser', 'anonymous'];

interface Row {
  name: string;
  method: string;
  /** Builds the path (and creates what the cell acts on, fresh for every cell). */
  path: () => Promise<string>;
  body?: () => unknown;
  /** Expected status per caller, in the order of {@link WHO}. */
  expect: [number, number, number, number, number, number];
  /** For refused writes: what must be unchanged afterwards (read by the operator). */
  state?: (path: string) => Promise<unknown>;
}

const fixed = (path: string) => async () => path;
const readBack = (path: string) => operatorCall('GET', path).then((r) => [r.status, r.body]);
const readProvider = (path: string) => readBack(path.replace(/\/test$/, ''));
const readTenant = (path: string) => readBack(path);
const readKeys = () => readBack('/tenants/acme/api-keys');

const ROWS: Row[] = [
  { name: 'GET /me', method: 'GET', path: fixed('/me'), expect: [200, 200, 200, 200, 403, 401] },
  {
    name: 'GET /openapi.json',
    method: 'GET',
    path: fixed('/openapi.json'),
    expect: [200, 200, 200, 200, 200, 200],
  },
  {
    name: 'GET /tenants',
    method: 'GET',
    path: fixed('/tenants'),
    expect: [200, 403, 403, 403, 403, 401],
  },
  {
    name: 'POST /tenants',
    method: 'POST',
    path: fixed('/tenants'),
    body: () => ({ id: `new${++counter}`, name: 'New', emailDomains: [`new${counter}.test`] }),
    expect: [201, 403, 403, 403, 403, 401],
    state: () => readBack('/tenants').then(([, body]) => body),
  },
  {
    name: 'GET /tenants/acme',
    method: 'GET',
    path: fixed('/tenants/acme'),
    expect: [200, 200, 200, 403, 403, 401],
  },
  {
    name: 'GET /tenants/globex',
    method: 'GET',
    path: fixed('/tenants/globex'),
    expect: [200, 403, 403, 200, 403, 401],
  },
  {
    name: 'GET /tenants/unknown',
    method: 'GET',
    path: fixed('/tenants/unknown'),
    expect: [404, 403, 403, 403, 403, 401],
  },
  {
    name: 'PATCH /tenants/:dynamic',
    method: 'PATCH',
    path: async () => `/tenants/${await freshTenant()}`,
    body: () => ({ name: 'Renamed' }),
    expect: [200, 403, 403, 403, 403, 401],
    state: readTenant,
  },
  {
    name: 'PATCH /tenants/acme (config)',
    method: 'PATCH',
    path: fixed('/tenants/acme'),
    body: () => ({ name: 'Renamed' }),
    expect: [409, 403, 403, 403, 403, 401],
    state: readTenant,
  },
  {
    name: 'DELETE /tenants/:dynamic',
    method: 'DELETE',
    path: async () => `/tenants/${await freshTenant()}`,
    expect: [204, 403, 403, 403, 403, 401],
    state: readTenant,
  },
  {
    name: 'DELETE /tenants/acme (config)',
    method: 'DELETE',
    path: fixed('/tenants/acme'),
    expect: [409, 403, 403, 403, 403, 401],
    state: readTenant,
  },
  {
    name: 'GET /tenants/acme/api-keys',
    method: 'GET',
    path: fixed('/tenants/acme/api-keys'),
    expect: [200, 403, 403, 403, 403, 401],
  },
  {
    name: 'POST /tenants/acme/api-keys',
    method: 'POST',
    path: fixed('/tenants/acme/api-keys'),
    body: () => ({ label: 'cell' }),
    expect: [201, 403, 403, 403, 403, 401],
    state: readKeys,
  },
  {
    name: 'DELETE /tenants/acme/api-keys/:key',
    method: 'DELETE',
    path: async () => `/tenants/acme/api-keys/${await freshApiKey()}`,
    expect: [204, 403, 403, 403, 403, 401],
    state: readKeys,
  },
  {
    name: 'GET /tenants/acme/providers',
    method: 'GET',
    path: fixed('/tenants/acme/providers'),
    expect: [200, 200, 200, 403, 403, 401],
  },
  {
    name: 'GET /tenants/globex/providers',
    method: 'GET',
    path: fixed('/tenants/globex/providers'),
    expect: [200, 403, 403, 200, 403, 401],
  },
  {
    name: 'POST /tenants/acme/providers',
    method: 'POST',
    path: fixed('/tenants/acme/providers'),
    body: () => devIdpProvider(stack, `c${++counter}`, '', secret()),
    expect: [201, 201, 201, 403, 403, 401],
    state: () => readBack('/tenants/acme/providers'),
  },
  {
    name: 'POST /tenants/globex/providers',
    method: 'POST',
    path: fixed('/tenants/globex/providers'),
    body: () => devIdpProvider(stack, `c${++counter}`, '/globex', secret('/globex')),
    expect: [201, 403, 403, 201, 403, 401],
    state: () => readBack('/tenants/globex/providers'),
  },
  {
    name: 'GET /tenants/acme/providers/:p',
    method: 'GET',
    path: async () => `/tenants/acme/providers/${await freshProvider('acme')}`,
    expect: [200, 200, 200, 403, 403, 401],
  },
  {
    name: 'PATCH /tenants/acme/providers/:p',
    method: 'PATCH',
    path: async () => `/tenants/acme/providers/${await freshProvider('acme')}`,
    body: () => ({ displayName: 'Changed', clientSecret: secret() }),
    expect: [200, 200, 200, 403, 403, 401],
    state: readProvider,
  },
  {
    name: 'PATCH /tenants/globex/providers/:p',
    method: 'PATCH',
    path: async () => `/tenants/globex/providers/${await freshProvider('globex')}`,
    body: () => ({ enabled: false }),
    expect: [200, 403, 403, 200, 403, 401],
    state: readProvider,
  },
  {
    name: 'PATCH /tenants/acme/providers/dev (config)',
    method: 'PATCH',
    path: fixed('/tenants/acme/providers/dev'),
    body: () => ({ enabled: false }),
    expect: [409, 409, 409, 403, 403, 401],
    state: readProvider,
  },
  {
    name: 'DELETE /tenants/acme/providers/:p',
    method: 'DELETE',
    path: async () => `/tenants/acme/providers/${await freshProvider('acme')}`,
    expect: [204, 204, 204, 403, 403, 401],
    state: readProvider,
  },
  {
    name: 'DELETE /tenants/acme/providers/dev (config)',
    method: 'DELETE',
    path: fixed('/tenants/acme/providers/dev'),
    expect: [409, 409, 409, 403, 403, 401],
    state: readProvider,
  },
  {
    name: 'POST /tenants/acme/providers/:p/test',
    method: 'POST',
    path: async () => `/tenants/acme/providers/${await freshProvider('acme')}/test`,
    expect: [200, 200, 200, 403, 403, 401],
  },
  {
    name: 'POST /tenants/acme/providers/dev/test (config)',
    method: 'POST',
    path: fixed('/tenants/acme/providers/dev/test'),
    expect: [200, 200, 200, 403, 403, 401],
  },
  // A provider without private_key_jwt has no signing keys: 404 no_client_keys once authorized.
  {
    name: 'GET /tenants/acme/providers/:p/keys (dev: no private_key_jwt)',
    method: 'GET',
    path: fixed('/tenants/acme/providers/dev/keys'),
    expect: [404, 404, 404, 403, 403, 401],
  },
  {
    name: 'POST /tenants/acme/providers/:p/keys/rotate (dev: no private_key_jwt)',
    method: 'POST',
    path: fixed('/tenants/acme/providers/dev/keys/rotate'),
    expect: [404, 404, 404, 403, 403, 401],
  },
  {
    name: 'DELETE /tenants/acme/providers/:p/keys/:kid (dev: no private_key_jwt)',
    method: 'DELETE',
    path: fixed(`/tenants/acme/providers/dev/keys/${'k'.repeat(43)}`),
    expect: [404, 404, 404, 403, 403, 401],
  },
  {
    name: 'POST /tenants/acme/provider-checks',
    method: 'POST',
    path: fixed('/tenants/acme/provider-checks'),
    body: () => devIdpProvider(stack, `k${++counter}`, '', secret()),
    expect: [200, 200, 200, 403, 403, 401],
    state: () => readBack('/tenants/acme/providers'),
  },
  {
    name: 'GET /tenants/globex/provider-uris/:p',
    method: 'GET',
    path: fixed('/tenants/globex/provider-uris/not-yet'),
    expect: [200, 403, 403, 200, 403, 401],
  },
  {
    name: 'GET /provider-profiles',
    method: 'GET',
    path: fixed('/provider-profiles'),
    expect: [200, 200, 200, 200, 403, 401],
  },
  {
    name: 'DELETE /tenants/acme/providers/:p/users/:sub/sessions',
    method: 'DELETE',
    path: fixed('/tenants/acme/providers/dev/users/nobody-signed-in/sessions'),
    expect: [200, 200, 200, 403, 403, 401],
  },
  {
    name: 'DELETE /tenants/:dynamic/sessions',
    method: 'DELETE',
    path: async () => `/tenants/${await freshTenant()}/sessions`,
    expect: [200, 403, 403, 403, 403, 401],
  },
  {
    name: 'GET /tenants/acme/provider-uris/:provider',
    method: 'GET',
    path: fixed('/tenants/acme/provider-uris/not-yet-created'),
    expect: [200, 200, 200, 403, 403, 401],
  },
  {
    name: 'GET /tenants/acme/sessions',
    method: 'GET',
    path: fixed('/tenants/acme/sessions'),
    expect: [200, 200, 200, 403, 403, 401],
  },
  {
    name: 'DELETE /tenants/acme/sessions/:handle',
    method: 'DELETE',
    path: fixed('/tenants/acme/sessions/AAAAAAAAAAAAAAAAAAAAAA'),
    expect: [404, 404, 404, 403, 403, 401],
  },
  {
    name: 'GET /tenants/acme/audit',
    method: 'GET',
    path: fixed('/tenants/acme/audit?limit=5'),
    expect: [200, 200, 200, 403, 403, 401],
  },
  {
    name: 'GET /tenants/globex/audit',
    method: 'GET',
    path: fixed('/tenants/globex/audit?action=provider.'),
    expect: [200, 403, 403, 200, 403, 401],
  },
  {
    name: 'GET /tenants/unknown/audit',
    method: 'GET',
    path: fixed('/tenants/unknown/audit'),
    expect: [404, 403, 403, 403, 403, 401],
  },
];

describe('admin API authorization matrix', () => {
  it('covers every endpoint of the router', () => {
    const covered = new Set(
      ROWS.map(
        (row) =>
          `${row.method} ${row.name.split(' ')[1]?.replace(/\/(acme|globex|unknown|:[a-z]+)(?=\/|$)/g, '/:x')}`,
      ),
    );
    for (const route of ADMIN_ROUTES) {
      const key = `${route.method.toUpperCase()} ${route.path.replace(/:[a-zA-Z]+/g, ':x')}`;
      expect(covered, key).toContain(key);
    }
  });

  describe.each(ROWS)('$name', (row) => {
    it.each(WHO.map((who, index) => [who, row.expect[index] ?? 0] as const))(
      '%s → %i',
      async (who, status) => {
        const path = await row.path();
        const before = status >= 400 && row.state ? await row.state(path) : undefined;
        const answer = await adminCall(origin, callers[who], row.method, path, row.body?.());
        expect(answer.status, `${who} ${row.method} ${path}: ${answer.text}`).toBe(status);
        if (status >= 400) {
          expect(answer.contentType).toContain('application/problem+json');
          if (row.state) expect(await row.state(path)).toEqual(before);
        }
      },
    );
  });
});

describe('admin API', () => {
  it('tells the console who is calling', async () => {
    expect((await adminCall(origin, callers.operator, 'GET', '/me')).body).toEqual({
      role: 'operator',
    });
    for (const who of ['adminAKey', 'adminACookie'] as const) {
      expect((await adminCall(origin, callers[who], 'GET', '/me')).body).toEqual({
        role: 'tenant-admin',
        tenant: 'acme',
      });
    }
    expect((await adminCall(origin, callers.adminB, 'GET', '/me')).body).toEqual({
      role: 'tenant-admin',
      tenant: 'globex',
    });
    const anonymous = await adminCall(origin, callers.anonymous, 'GET', '/me');
    expect(anonymous.body.code).toBe('unauthenticated');
    expect((await adminCall(origin, callers.endUser, 'GET', '/me')).body.code).toBe('not_admin');
  });

  it('refuses cookie calls without X-CSRF: 1 or from another origin, whatever the method', async () => {
    for (const method of ['GET', 'POST']) {
      const path = method === 'GET' ? '/tenants/acme/providers' : '/tenants/acme/providers';
      const body =
        method === 'POST' ? devIdpProvider(stack, `x${++counter}`, '', secret()) : undefined;
      const missing = await adminCall(origin, callers.adminACookie, method, path, body, {
        'x-csrf': '0',
      });
      expect(missing.status).toBe(403);
      expect(missing.body.code).toBe('csrf_header_required');
      const foreign = await adminCall(origin, callers.adminACookie, method, path, body, {
        origin: 'https://evil.example',
      });
      expect(foreign.status).toBe(403);
      expect(foreign.body.code).toBe('foreign_origin');
      const crossSite = await adminCall(origin, callers.adminACookie, method, path, body, {
        'sec-fetch-site': 'cross-site',
      });
      expect(crossSite.status).toBe(403);
    }
    const list = await operatorCall('GET', '/tenants/acme/providers');
    expect(JSON.stringify(list.body)).not.toMatch(/"x\d+"/);
  });

  it('answers 401 to a bad bearer token and never falls back to the cookie', async () => {
    const revoked = await operatorCall('POST', '/tenants/acme/api-keys');
    await operatorCall('DELETE', `/tenants/acme/api-keys/${String(revoked.body.id)}`);
    const badTokens = [
      `${ADMIN_TOKEN}x`,
      ADMIN_TOKEN.slice(0, -1),
      String(revoked.body.key),
      `${callers.adminAKey.bearer ?? ''}x`,
      'ghk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ];
    for (const token of badTokens) {
      const answer = await adminCall(origin, { name: 'bad', bearer: token }, 'GET', '/me');
      expect(answer.status, token).toBe(401);
      expect(answer.body.code).toBe('invalid_token');
    }
    const alice = callers.adminACookie.jar;
    for (const authorization of [`Basic ${btoa('a:b')}`, 'Bearer', `Bearer ${ADMIN_TOKEN}x`]) {
      const res = await alice?.(`${origin}/admin/api/me`, {
        headers: { authorization, 'x-csrf': '1' },
      });
      expect(res?.status, authorization).toBe(401);
      expect(res?.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect(operatorTokenMatcher(undefined)('anything')).toBe(false);
    expect(operatorTokenMatcher(ADMIN_TOKEN)(ADMIN_TOKEN)).toBe(true);
  });

  it('answers malformed JSON with 400, big bodies with 413, non-JSON with 415 — all problem+json', async () => {
    const path = '/tenants/acme/providers';
    const malformed = await operatorCall('POST', path, '{"id": "x",');
    expect(malformed.status).toBe(400);
    expect(malformed.contentType).toContain('application/problem+json');
    const big = await operatorCall('POST', path, { id: 'big', pad: 'x'.repeat(40 * 1024) });
    expect(big.status).toBe(413);
    expect(big.contentType).toContain('application/problem+json');
    const text = await adminCall(origin, callers.operator, 'POST', path, 'id=x', {
      'content-type': 'text/plain',
    });
    expect(text.status).toBe(415);
    expect(text.body.code).toBe('unsupported_media_type');
    const array = await operatorCall('POST', path, [1, 2]);
    expect(array.status).toBe(422);
  });

  it('answers a malformed path parameter with the fixed "unknown" code of what it names', async () => {
    const answers = await Promise.all(
      [
        ['GET', '/tenants/Not_A_Tenant'],
        ['GET', '/tenants/acme/providers/Not_A_Provider'],
        ['DELETE', '/tenants/acme/api-keys/not-hex'],
        ['DELETE', `/tenants/acme/providers/x/users/${'s'.repeat(256)}/sessions`],
      ].map(([method = '', path = '']) => operatorCall(method, path)),
    );
    expect(answers.map((answer) => [answer.status, answer.body.code])).toEqual([
      [404, 'unknown_tenant'],
      [404, 'unknown_provider'],
      [404, 'unknown_api_key'],
      [404, 'unknown_sub'],
    ]);
  });

  it('reports every invalid or unknown field at once', async () => {
    const answer = await operatorCall('POST', '/tenants/acme/providers', {
      id: 'Bad Id',
      issuer: 'https://user:pw@idp.example/?x=1',
      clientId: '',
      tokenEndpointAuthMethod: 'none',
      idTokenSignedResponseAlg: 'HS256',
      scopes: ['profile'],
      authorizationParams: { redirect_uri: 'https://evil.example' },
      endSessionParams: { post_logout_redirect_uri: 'https://evil.example' },
      isAdmin: true,
    });
    expect(answer.status).toBe(422);
    expect(answer.contentType).toContain('application/problem+json');
    expect(answer.body.code).toBe('validation_failed');
    const errors = answer.body.errors as Array<{ path: string; message: string }>;
    expect(errors.map((e) => e.path).sort()).toEqual([
      'authorizationParams.redirect_uri',
      'clientId',
      'endSessionParams.post_logout_redirect_uri',
      'id',
      'idTokenSignedResponseAlg',
      'isAdmin',
      'issuer',
      'scopes',
      'tokenEndpointAuthMethod',
    ]);
    expect(errors.find((e) => e.path === 'tokenEndpointAuthMethod')?.message).toBe(
      'a BFF is a confidential client: use client_secret_basic, client_secret_post or private_key_jwt',
    );
    expect(errors.find((e) => e.path === 'idTokenSignedResponseAlg')?.message).toMatch(/HMAC/);
    expect(errors.find((e) => e.path === 'authorizationParams.redirect_uri')?.message).toBe(
      'is set by Gatehouse itself',
    );
    expect(errors.find((e) => e.path === 'isAdmin')?.message).toBe('Unknown field.');

    const tenant = await operatorCall('POST', '/tenants', {
      id: 'ok-id',
      name: 'x',
      adminRule: { claim: 'email', value: 'boss@x.test' },
    });
    expect(tenant.status).toBe(422);
    expect((tenant.body.errors as Array<{ path: string }>)[0]?.path).toBe('adminRule.claim');
  });

  it('answers with the redirect and back-channel URIs and never the secret', async () => {
    const clientSecret = secret();
    const created = await adminCall(
      origin,
      callers.adminACookie,
      'POST',
      '/tenants/acme/providers',
      devIdpProvider(stack, 'shape', '', clientSecret, { scopes: ['openid', 'email'] }),
    );
    expect(created.status, created.text).toBe(201);
    expect(created.body).toEqual({
      provider: {
        id: 'shape',
        tenant: 'acme',
        displayName: 'Provider shape',
        issuer: stack.idp.issuer(''),
        clientId: 'gatehouse-acme',
        hasClientSecret: true,
        tokenEndpointAuthMethod: 'client_secret_basic',
        pkce: 'required',
        par: 'auto',
        dpop: false,
        logout: 'end-session',
        scopes: ['openid', 'email'],
        authorizationParams: { prompt: 'consent' },
        endSessionParams: {},
        profile: 'generic',
        enabled: true,
        source: 'dynamic',
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
        updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      },
      uris: {
        redirectUri: `${origin}/bff/callback/acme/shape`,
        postLogoutRedirectUri: `${origin}/bff/signed-out`,
        backchannelLogoutUri: `${origin}/bff/backchannel-logout/acme/shape`,
        jwksUri: `${origin}/bff/jwks/acme/shape`,
      },
      redirectUri: `${origin}/bff/callback/acme/shape`,
      backchannelLogoutUri: `${origin}/bff/backchannel-logout/acme/shape`,
    });
    const again = await operatorCall(
      'POST',
      '/tenants/acme/providers',
      devIdpProvider(stack, 'shape', '', secret()),
    );
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('provider_exists');

    const tested = await operatorCall('POST', '/tenants/acme/providers/shape/test');
    expect(tested.status).toBe(200);
    expect(tested.body).toMatchObject({
      ok: true,
      discovery: { issuer: stack.idp.issuer(''), backchannelLogoutSupported: true },
    });
    const config = await operatorCall('GET', '/tenants/acme/providers/dev');
    expect(config.body).toMatchObject({
      provider: { source: 'config', hasClientSecret: true, createdAt: null },
    });
    expect(config.text).not.toContain('dev-only-acme-secret');
  });

  it('runs the whole tenant lifecycle; deleting a tenant takes its providers and keys along', async () => {
    const created = await operatorCall('POST', '/tenants', {
      id: 'initech',
      name: 'Initech',
      emailDomains: ['Initech.test'],
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      tenant: {
        id: 'initech',
        name: 'Initech',
        emailDomains: ['initech.test'],
        hosts: [],
        adminRule: { claim: 'roles', value: 'gatehouse-admin' },
        source: 'dynamic',
      },
    });
    expect((await operatorCall('POST', '/tenants', { id: 'initech', name: 'Again' })).status).toBe(
      409,
    );
    const taken = await operatorCall('POST', '/tenants', {
      id: 'copycat',
      name: 'Copycat',
      emailDomains: ['acme.test'],
    });
    expect(taken.status).toBe(409);
    expect(taken.body.code).toBe('email_domain_taken');

    const key = await operatorCall('POST', '/tenants/initech/api-keys', { label: 'ci' });
    expect(key.status).toBe(201);
    expect(key.body.key).toMatch(/^ghk_/);
    const keys = await operatorCall('GET', '/tenants/initech/api-keys');
    expect(keys.body).toEqual({
      apiKeys: [{ id: key.body.id, label: 'ci', createdAt: key.body.createdAt }],
    });
    expect(keys.text).not.toContain(String(key.body.key).slice(-43));

    const initechAdmin: Caller = { name: 'initech admin', bearer: String(key.body.key) };
    const provider = await adminCall(
      origin,
      initechAdmin,
      'POST',
      '/tenants/initech/providers',
      devIdpProvider(stack, 'main', '', secret()),
    );
    expect(provider.status).toBe(201);
    const renamed = await operatorCall('PATCH', '/tenants/initech', { name: 'Initech Inc.' });
    expect(renamed.body).toMatchObject({ tenant: { name: 'Initech Inc.' } });
    expect(
      (await adminCall(origin, initechAdmin, 'PATCH', '/tenants/initech', { name: 'x' })).status,
    ).toBe(403);

    expect((await operatorCall('DELETE', '/tenants/initech')).status).toBe(204);
    expect((await operatorCall('GET', '/tenants/initech')).status).toBe(404);
    expect((await adminCall(origin, initechAdmin, 'GET', '/me')).status).toBe(401);
    // Created again: nothing of the old one comes back.
    expect(
      (await operatorCall('POST', '/tenants', { id: 'initech', name: 'Initech' })).status,
    ).toBe(201);
    const providers = await operatorCall('GET', '/tenants/initech/providers');
    expect(providers.body).toEqual({ providers: [] });
    expect((await adminCall(origin, initechAdmin, 'GET', '/me')).status).toBe(401);
  });

  it('serves an OpenAPI 3.1 document describing exactly the endpoints it serves', async () => {
    const answer = await adminCall(origin, callers.anonymous, 'GET', '/openapi.json');
    expect(answer.status).toBe(200);
    const document = answer.body as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          { operationId: string; responses: Record<string, unknown>; security: unknown[] }
        >
      >;
      servers: Array<{ url: string }>;
    };
    expect(document.openapi).toBe('3.1.0');
    expect(document.servers[0]?.url).toBe(`${origin}/admin/api`);
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method} ${path}`),
    );
    const served = ADMIN_ROUTES.map(
      (route) => `${route.method} ${route.path.replace(/:([A-Za-z]+)/g, '{$1}')}`,
    );
    expect(documented.sort()).toEqual(served.sort());
    const createProvider = document.paths['/tenants/{tenant}/providers']?.post;
    expect(createProvider?.operationId).toBe('createProvider');
    expect(Object.keys(createProvider?.responses ?? {})).toEqual(
      expect.arrayContaining(['201', '401', '403', '409', '413', '422']),
    );
    expect(document.paths['/tenants']?.get?.security).toEqual([{ operatorToken: [] }]);
  });

  it('never answers a client secret, and Redis holds none in clear', async () => {
    expect(secrets.length).toBeGreaterThan(20);
    const answers = recordedAnswers.join('\n');
    for (const value of [...secrets, 'dev-only-acme-secret', 'dev-only-globex-secret']) {
      expect(answers).not.toContain(value);
    }
    const client = redis.client();
    try {
      const keys = await client.keys('*');
      expect(keys.some((key) => key.includes('{registry}:providers'))).toBe(true);
      const values: string[] = [];
      for (const key of keys) {
        const type = await client.type(key);
        if (type === 'string') values.push((await client.get(key)) ?? '');
        if (type === 'hash') values.push(JSON.stringify(await client.hgetall(key)));
        if (type === 'set') values.push(...(await client.smembers(key)));
        if (type === 'list') values.push(...(await client.lrange(key, 0, -1)));
        if (type === 'zset') values.push(...(await client.zrange(key, '0', '-1')));
      }
      const dump = values.join('\n');
      expect(dump).toContain('sealedClientSecret');
      for (const value of secrets) expect(dump).not.toContain(value);
    } finally {
      client.disconnect();
    }
  });
});
