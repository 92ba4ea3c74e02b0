import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, startStack, type RedisServer, type Stack } from '@gatehouse/testkit';
import { DEV_CLIENTS } from '@gatehouse/dev-idp';
import {
  DISCOVERY_UNREACHABLE,
  JWKS_UNREACHABLE,
  PROVIDER_CHECKS,
} from '../src/tenants/provider-checks.ts';
import { ADMIN_TOKEN, adminCall, withAdminToken, type Caller } from './support/admin.ts';
import { trustingDevIdps } from './support/scripted-idp.ts';

/**
 * The checks every provider create/update runs, through the admin API and the guarded fetch:
 * hostile issuer URLs never reach the address they point at (a counting listener proves it) and
 * all read the same; the issuer must match discovery exactly; code flow, PKCE S256, JWKS and the
 * auth method are each reported precisely once the document itself could be fetched.
 */

interface Trap {
  port: number;
  connections: number;
  server: NetServer;
}

async function listenTrap(host: string): Promise<Trap | undefined> {
  const trap: Trap = { port: 0, connections: 0, server: createNetServer() };
  trap.server.on('connection', (socket) => {
    trap.connections++;
    socket.destroy();
  });
  const listening = await new Promise<boolean>((resolve) => {
    trap.server.once('error', () => resolve(false));
    trap.server.listen(0, host, () => resolve(true));
  });
  if (!listening) return undefined;
  trap.port = (trap.server.address() as { port: number }).port;
  return trap;
}

/** A scriptable IdP on loopback, registered as a dev IdP origin: one discovery variant per path. */
interface FakeIdp {
  origin: string;
  server: Server;
  broken: Set<string>;
  tokenRequests: Array<{
    realm: string;
    basic: boolean;
    grantType: string | null;
    code: string | null;
  }>;
}

async function startFakeIdp(trapPort: number): Promise<FakeIdp> {
  const idp: FakeIdp = {
    origin: '',
    server: createHttpServer(),
    broken: new Set(),
    tokenRequests: [],
  };
  const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: '1' }] };
  const discovery = (realm: string): Record<string, unknown> => {
    const issuer = `${idp.origin}/${realm}`;
    const base = {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    };
    const variants: Record<string, Record<string, unknown>> = {
      ok: base,
      nocode: { ...base, response_types_supported: ['id_token', 'token id_token'] },
      nopkce: { ...base, code_challenge_methods_supported: undefined },
      plainpkce: { ...base, code_challenge_methods_supported: ['plain'] },
      es256only: { ...base, id_token_signing_alg_values_supported: ['ES256'] },
      hs256only: { ...base, id_token_signing_alg_values_supported: ['HS256', 'none'] },
      nojwks: { ...base, jwks_uri: undefined },
      emptyjwks: { ...base, jwks_uri: `${idp.origin}/empty-jwks` },
      'jwks-trap-http': { ...base, jwks_uri: `http://127.0.0.1:${trapPort}/jwks` },
      'jwks-trap-https': { ...base, jwks_uri: `https://127.0.0.1:${trapPort}/jwks` },
      'jwks-trap-name': { ...base, jwks_uri: `https://localhost:${trapPort}/jwks` },
      'jwks-404': { ...base, jwks_uri: `${idp.origin}/nothing-here` },
      basiconly: { ...base, token_endpoint_auth_methods_supported: ['client_secret_basic'] },
      nomethods: { ...base, token_endpoint_auth_methods_supported: undefined },
      'bad-authz': { ...base, authorization_endpoint: 'javascript:alert(1)' },
      'other-issuer': { ...base, issuer: 'https://idp.other.example' },
      // Announces both methods but decodes only client_secret_post (as glewlwyd does with
      // RFC 6749's form-encoding of a Basic secret): the credentials check must catch it.
      postonly: base,
      // A token endpoint answering something that says nothing about the credentials.
      'odd-token': base,
      // glewlwyd's answers: 403 invalid_code for a bad code, 403 unauthorized_client for bad
      // credentials (RFC 6749 says 400 invalid_grant and 401 invalid_client).
      'forbidden-client': base,
    };
    return variants[realm] ?? {};
  };
  idp.server.on('request', (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'POST' && /^\/(postonly|odd-token|forbidden-client)\/token$/.test(path)) {
      tokenEndpoint(idp, req, res, path.split('/')[1] ?? '');
      return;
    }
    const realm = /^\/([a-z0-9-]+)\/\.well-known\/openid-configuration$/.exec(path)?.[1];
    const json = (body: unknown) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (realm && idp.broken.has(realm)) res.writeHead(500).end('down');
    else if (realm === 'status500') res.writeHead(500).end('{}');
    else if (realm === 'notjson') res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>');
    else if (realm === 'redirect')
      res
        .writeHead(302, {
          location: `http://127.0.0.1:${trapPort}/.well-known/openid-configuration`,
        })
        .end();
    else if (realm && Object.keys(discovery(realm)).length > 0) json(discovery(realm));
    else if (/^\/[a-z0-9-]+\/jwks$/.test(path)) json(jwks);
    else if (path === '/empty-jwks') json({ keys: [] });
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => idp.server.listen(0, '127.0.0.1', resolve));
  idp.origin = `http://localhost:${(idp.server.address() as { port: number }).port}`;
  return idp;
}

/**
 * `postonly`: invalid_grant (credentials accepted) only for the secret in the form body, a 401
 * `invalid_client` challenge for anything in `Authorization`. `odd-token`: always a 400
 * `unsupported_grant_type`. Records how each request authenticated.
 */
function tokenEndpoint(idp: FakeIdp, req: IncomingMessage, res: ServerResponse, realm: string) {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const basic = req.headers.authorization !== undefined;
    idp.tokenRequests.push({
      realm,
      basic,
      grantType: form.get('grant_type'),
      code: form.get('code'),
    });
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      res
        .writeHead(status, { 'content-type': 'application/json', ...headers })
        .end(JSON.stringify(body));
    if (realm === 'odd-token') return send(400, { error: 'unsupported_grant_type' });
    if (realm === 'forbidden-client') return send(403, { error: 'unauthorized_client' });
    if (basic) {
      return send(401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="fake"' });
    }
    if (form.get('client_id') === 'client' && form.get('client_secret') === 'client-secret-value') {
      return send(400, { error: 'invalid_grant', error_description: 'unknown code' });
    }
    return send(401, { error: 'invalid_client' });
  });
}

let redis: RedisServer;
let stack: Stack;
let trap4: Trap;
let trap6: Trap | undefined;
let fake: FakeIdp;
const operator: Caller = { name: 'operator', bearer: ADMIN_TOKEN };
let counter = 0;

beforeAll(async () => {
  const found = await listenTrap('127.0.0.1');
  if (!found) throw new Error('cannot listen on 127.0.0.1');
  trap4 = found;
  trap6 = await listenTrap('::1');
  fake = await startFakeIdp(trap4.port);
  redis = await startRedisServer();
  stack = await startStack({
    redis,
    configure: (input) => trustingDevIdps(withAdminToken(input), fake.origin),
  });
});
afterAll(async () => {
  await stack?.close();
  await redis?.stop();
  await new Promise((resolve) => fake?.server.close(resolve));
  for (const trap of [trap4, trap6]) await new Promise((resolve) => trap?.server.close(resolve));
});

async function register(issuer: string, extra: Record<string, unknown> = {}) {
  return adminCall(stack.origin, operator, 'POST', '/tenants/globex/providers', {
    id: `h${++counter}`,
    issuer,
    clientId: 'client',
    clientSecret: 'client-secret-value',
    ...extra,
  });
}

/** The checks after discovery: not run when discovery fails. */
const DEPENDENT_CHECKS = PROVIDER_CHECKS.slice(PROVIDER_CHECKS.indexOf('issuer_mismatch'));

/** The failed checks of a `…/test` or `…/provider-checks` answer, without their `ok`. */
function failedChecks(body: Record<string, unknown>) {
  return (body.checks as Array<{ ok: boolean; name: string; message: string; field: unknown }>)
    .filter((check) => !check.ok)
    .map(({ name, message, field }) => ({ name, message, field }));
}

async function redisConnectionsReceived(): Promise<number> {
  const client = redis.client();
  try {
    const stats = await client.info('stats');
    return Number(/total_connections_received:(\d+)/.exec(stats)?.[1]);
  } finally {
    client.disconnect();
  }
}

describe('provider checks', () => {
  it('refuses hostile issuers without a single connection to the forbidden address', async () => {
    const t = trap4.port;
    const t6 = trap6?.port ?? t;
    const notHttps = [
      `http://127.0.0.1:${t}`,
      `http://localhost:${t}`,
      `http://[::1]:${t6}`,
      `http://0x7f000001:${t}`,
      `http://localhost:${redis.port}`,
      `gopher://127.0.0.1:${redis.port}/_FLUSHALL`,
      `ftp://127.0.0.1:${t}/`,
      'file:///etc/passwd',
      'javascript:alert(1)',
      'data:application/json,{}',
      `ws://127.0.0.1:${t}`,
    ];
    const unreachable = [
      `https://127.0.0.1:${t}`,
      `https://localhost:${t}`,
      `https://localhost.:${t}`,
      `https://[::1]:${t6}`,
      `https://[::ffff:127.0.0.1]:${t}`,
      `https://[::ffff:7f00:1]:${t}`,
      `https://[64:ff9b::7f00:1]:${t}`,
      `https://2130706433:${t}`,
      `https://0x7f.0.0.1:${t}`,
      `https://0177.0.0.1:${t}`,
      `https://127.1:${t}`,
      `https://0.0.0.0:${t}`,
      `https://[::]:${t}`,
      `https://127.0.0.1:${redis.port}`,
      'https://169.254.169.254/latest/meta-data',
      'https://10.0.0.1',
      'https://[fd00::1]',
      'https://100.64.0.1',
      `${fake.origin}/redirect`,
      `${fake.origin}/status500`,
      `${fake.origin}/notjson`,
      `${fake.origin}/missing`,
    ];
    const invalid = [
      `https://user:pw@127.0.0.1:${t}`,
      `https://127.0.0.1:${t}/?next=x`,
      `https://127.0.0.1:${t}/#x`,
      'not a url',
      `//127.0.0.1:${t}`,
    ];
    const redisBefore = await redisConnectionsReceived();

    for (const issuer of notHttps) {
      const answer = await register(issuer);
      expect(answer.status, issuer).toBe(422);
      expect(answer.body, issuer).toMatchObject({
        code: 'provider_check_failed',
        check: 'issuer_scheme',
      });
    }
    for (const issuer of unreachable) {
      const answer = await register(issuer);
      expect(answer.status, issuer).toBe(422);
      // One and the same answer: nothing tells a refused address from a closed port or a 500.
      expect(answer.body, issuer).toMatchObject({
        code: 'provider_check_failed',
        check: 'discovery_failed',
        detail: DISCOVERY_UNREACHABLE,
      });
    }
    for (const issuer of invalid) {
      const answer = await register(issuer);
      expect(answer.status, issuer).toBe(422);
      expect(answer.body.code, issuer).toBe('validation_failed');
    }
    // Saved disabled, a hostile https issuer is not contacted; enabling it runs the checks.
    const disabled = await register(`https://127.0.0.1:${t}`, { id: 'sleeper', enabled: false });
    expect(disabled.status).toBe(201);
    const enable = await adminCall(
      stack.origin,
      operator,
      'PATCH',
      '/tenants/globex/providers/sleeper',
      {
        enabled: true,
      },
    );
    expect(enable.body).toMatchObject({ check: 'discovery_failed', detail: DISCOVERY_UNREACHABLE });
    const test = await adminCall(
      stack.origin,
      operator,
      'POST',
      '/tenants/globex/providers/sleeper/test',
    );
    expect(test.status).toBe(200);
    expect(test.body).toMatchObject({ ok: false, discovery: null });
    expect(failedChecks(test.body).map(({ name, message }) => [name, message])).toEqual([
      ['discovery_failed', DISCOVERY_UNREACHABLE],
      ...DEPENDENT_CHECKS.map((name) => [
        name,
        'Not checked: the discovery document could not be used.',
      ]),
    ]);
    expect((await register(`http://127.0.0.1:${t}`, { enabled: false })).body.check).toBe(
      'issuer_scheme',
    );

    expect(trap4.connections).toBe(0);
    expect(trap6?.connections ?? 0).toBe(0);
    expect(await redisConnectionsReceived()).toBe(redisBefore + 1); // our own INFO client only
  });

  it('refuses a JWKS it may not or cannot fetch, with the same generic answer', async () => {
    for (const realm of ['jwks-trap-http', 'jwks-trap-https', 'jwks-trap-name', 'jwks-404']) {
      const answer = await register(`${fake.origin}/${realm}`);
      expect(answer.status, realm).toBe(422);
      expect(answer.body, realm).toMatchObject({
        check: 'jwks_unavailable',
        detail: JWKS_UNREACHABLE,
      });
    }
    expect(trap4.connections).toBe(0);
  });

  it('requires the issuer to be exactly the one discovery names', async () => {
    const globex = stack.idp.issuer('/globex');
    const variants = [
      `${globex}/`,
      globex.replace('localhost', 'LOCALHOST'),
      `${fake.origin}/other-issuer`,
    ];
    for (const issuer of variants) {
      const answer = await register(issuer, { clientId: 'gatehouse-globex' });
      expect(answer.status, issuer).toBe(422);
      expect(answer.body.check, issuer).toBe('issuer_mismatch');
    }
    const slash = await register(`${globex}/`);
    expect(slash.body.detail).toBe(
      `The discovery document names the issuer "${globex}"; register exactly that value.`,
    );
    // Another realm of the same IdP is another issuer: its own discovery, its own name.
    const exact = await register(globex, {
      clientId: DEV_CLIENTS.globex.clientId,
      clientSecret: DEV_CLIENTS.globex.clientSecret,
    });
    expect(exact.status, exact.text).toBe(201);
  });

  it('names the precise check that failed once discovery could be read', async () => {
    const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
      ['nocode', {}, 'code_flow_unsupported', /response_types_supported/],
      ['nopkce', {}, 'pkce_unsupported', /S256/],
      ['plainpkce', {}, 'pkce_unsupported', /S256/],
      // Listing methods without S256 is a refusal even when PKCE is assumed.
      ['plainpkce', { pkce: 'assume-supported' }, 'pkce_unsupported', /it lists: plain/],
      [
        'es256only',
        { idTokenSignedResponseAlg: 'RS256' },
        'id_token_alg_unsupported',
        /RS256.*ES256/,
      ],
      ['hs256only', {}, 'id_token_alg_unsupported', /no asymmetric algorithm.*HS256/],
      ['ok', { idTokenSignedResponseAlg: 'PS256' }, 'id_token_alg_unsupported', /PS256.*RS256/],
      ['nojwks', {}, 'jwks_unavailable', /no valid jwks_uri/],
      ['emptyjwks', {}, 'jwks_unavailable', /no keys/],
      ['bad-authz', {}, 'discovery_failed', /authorization_endpoint/],
      [
        'basiconly',
        { tokenEndpointAuthMethod: 'client_secret_post' },
        'auth_method_unsupported',
        /client_secret_post/,
      ],
      [
        'basiconly',
        { tokenEndpointAuthMethod: 'private_key_jwt', clientSecret: undefined },
        'auth_method_unsupported',
        /private_key_jwt/,
      ],
      // Absent metadata means client_secret_basic only (OpenID Connect Discovery).
      [
        'nomethods',
        { tokenEndpointAuthMethod: 'client_secret_post' },
        'auth_method_unsupported',
        /client_secret_basic/,
      ],
    ];
    for (const [realm, extra, check, detail] of cases) {
      const answer = await register(`${fake.origin}/${realm}`, extra);
      expect(answer.status, realm).toBe(422);
      expect(answer.body.check, realm).toBe(check);
      expect(String(answer.body.detail), realm).toMatch(detail);
    }
    expect((await register(`${fake.origin}/nomethods`)).status).toBe(201);
    expect((await register(`${fake.origin}/basiconly`)).status).toBe(201);
  });

  it('presents the credentials with the configured method: an OP that decodes only one of them is caught', async () => {
    const check = async (realm: string, extra: Record<string, unknown>) => {
      const answer = await adminCall(
        stack.origin,
        operator,
        'POST',
        '/tenants/globex/provider-checks',
        {
          id: `cred${++counter}`,
          issuer: `${fake.origin}/${realm}`,
          clientId: 'client',
          clientSecret: 'client-secret-value',
          ...extra,
        },
      );
      expect(answer.status, answer.text).toBe(200);
      const checks = answer.body.checks as Array<{ name: string; ok: boolean; message: string }>;
      return {
        ok: answer.body.ok,
        credentials: checks.find((c) => c.name === 'credentials_rejected'),
      };
    };
    fake.tokenRequests.length = 0;
    const basic = await check('postonly', { tokenEndpointAuthMethod: 'client_secret_basic' });
    expect(basic.ok).toBe(false);
    expect(basic.credentials).toMatchObject({
      ok: false,
      message: expect.stringMatching(
        /^The provider rejected the client credentials with client_secret_basic \(invalid_client\)/,
      ) as unknown,
    });
    const post = await check('postonly', { tokenEndpointAuthMethod: 'client_secret_post' });
    expect(post.ok).toBe(true);
    expect(post.credentials?.message).toMatch(
      /accepted the client credentials with client_secret_post/,
    );
    const wrong = await check('postonly', {
      tokenEndpointAuthMethod: 'client_secret_post',
      clientSecret: 'another-secret',
    });
    expect(wrong.credentials).toMatchObject({ ok: false });
    // What went over the wire: an authorization_code grant with the dummy code, authenticated
    // as configured.
    expect(fake.tokenRequests).toEqual([
      {
        realm: 'postonly',
        basic: true,
        grantType: 'authorization_code',
        code: expect.any(String) as unknown,
      },
      {
        realm: 'postonly',
        basic: false,
        grantType: 'authorization_code',
        code: expect.any(String) as unknown,
      },
      {
        realm: 'postonly',
        basic: false,
        grantType: 'authorization_code',
        code: expect.any(String) as unknown,
      },
    ]);
    // Registration refuses what the check refuses; the same body with the working method passes.
    const refused = await register(`${fake.origin}/postonly`);
    expect(refused.body).toMatchObject({ check: 'credentials_rejected' });
    const created = await register(`${fake.origin}/postonly`, {
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    expect(created.status, created.text).toBe(201);
    // An answer that says nothing about the credentials is not conclusive, and no failure.
    const odd = await check('odd-token', {});
    expect(odd.ok).toBe(true);
    expect(odd.credentials?.message).toBe(
      'Not conclusive: the token endpoint answered unsupported_grant_type to a dummy authorization code.',
    );
    // unauthorized_client: the client may not use the code flow, or (glewlwyd) wrong
    // credentials; no sign-in can work either way.
    const forbidden = await check('forbidden-client', {});
    expect(forbidden.ok).toBe(false);
    expect(forbidden.credentials).toMatchObject({
      ok: false,
      message: expect.stringMatching(/refused this client .*\(unauthorized_client\)/) as unknown,
    });
  });

  it('assumes PKCE when asked to for an OP that does not announce it (Entra ID, Cognito)', async () => {
    const refused = await register(`${fake.origin}/nopkce`);
    expect(refused.body).toMatchObject({ check: 'pkce_unsupported' });
    expect(String(refused.body.detail)).toMatch(/assume-supported/);
    const assumed = await register(`${fake.origin}/nopkce`, { pkce: 'assume-supported' });
    expect(assumed.status, assumed.text).toBe(201);
    expect(assumed.body).toMatchObject({ provider: { pkce: 'assume-supported' } });
    // The Entra ID and Cognito profiles assume it by themselves.
    for (const profile of ['entra', 'cognito']) {
      const created = await register(`${fake.origin}/nopkce`, { profile });
      expect(created.status, `${profile}: ${created.text}`).toBe(201);
      expect(created.body).toMatchObject({ provider: { profile, pkce: 'assume-supported' } });
    }
  });

  it('chooses the ID token algorithm from discovery: RS256 when listed, else an asymmetric one', async () => {
    const chosen = async (realm: string, extra: Record<string, unknown> = {}) => {
      const answer = await adminCall(
        stack.origin,
        operator,
        'POST',
        '/tenants/globex/provider-checks',
        {
          id: `alg${++counter}`,
          issuer: `${fake.origin}/${realm}`,
          clientId: 'client',
          clientSecret: 'client-secret-value',
          ...extra,
        },
      );
      expect(answer.status, answer.text).toBe(200);
      return (answer.body.discovery as { idTokenSigningAlg: unknown } | null)?.idTokenSigningAlg;
    };
    expect(await chosen('ok')).toBe('RS256');
    expect(await chosen('es256only')).toBe('ES256');
    expect(await chosen('es256only', { idTokenSignedResponseAlg: 'ES256' })).toBe('ES256');
    expect(await chosen('hs256only')).toBeNull();
  });

  it('re-runs the checks on update and on demand, and keeps the stored provider on failure', async () => {
    const created = await register(`${fake.origin}/ok`, { id: 'retest' });
    expect(created.status).toBe(201);
    const path = '/tenants/globex/providers/retest';
    const ok = await adminCall(stack.origin, operator, 'POST', `${path}/test`);
    expect(ok.body).toMatchObject({
      ok: true,
      discovery: { tokenEndpoint: `${fake.origin}/ok/token` },
    });
    expect((ok.body.checks as Array<{ name: string }>).map((check) => check.name)).toEqual([
      ...PROVIDER_CHECKS,
    ]);
    // The fake OP's token endpoint answers 404: not conclusive, and not a failure.
    expect(ok.body.checks).toContainEqual({
      name: 'credentials_rejected',
      ok: true,
      message:
        'Not conclusive: the token endpoint answered HTTP 404 to a dummy authorization code.',
      field: 'clientSecret',
    });
    const moved = await adminCall(stack.origin, operator, 'PATCH', path, {
      issuer: `${fake.origin}/nopkce`,
    });
    expect(moved.body.check).toBe('pkce_unsupported');
    expect((await adminCall(stack.origin, operator, 'GET', path)).body).toMatchObject({
      provider: { issuer: `${fake.origin}/ok` },
    });
    fake.broken.add('ok');
    try {
      const down = await adminCall(stack.origin, operator, 'POST', `${path}/test`);
      expect(down.status).toBe(200);
      expect(down.body.ok).toBe(false);
      expect(failedChecks(down.body)[0]).toEqual({
        name: 'discovery_failed',
        message: DISCOVERY_UNREACHABLE,
        field: 'issuer',
      });
      // An unreachable IdP can still be switched off.
      const off = await adminCall(stack.origin, operator, 'PATCH', path, { enabled: false });
      expect(off.status).toBe(200);
      const on = await adminCall(stack.origin, operator, 'PATCH', path, { enabled: true });
      expect(on.status).toBe(422);
    } finally {
      fake.broken.delete('ok');
    }
  });
});
