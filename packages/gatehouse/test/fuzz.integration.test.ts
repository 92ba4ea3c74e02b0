import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { ADMIN_ROUTES } from '../src/admin/routes.ts';
import { ADMIN_TOKEN, withAdminToken } from './support/admin.ts';

interface RawAnswer {
  /** 0 when the connection closed without an answer (the parser refused the bytes). */
  status: number;
  head: string;
  body: string;
}

/** Every request must be answered (or the connection closed) within this bound. */
const ANSWER_WITHIN_MS = 10_000;

/**
 * Sends raw bytes on a fresh connection and reads until the server closes it (every request
 * here asks for `Connection: close` or is HTTP/1.0). Bytes fetch would refuse to send — no
 * Host, control characters, broken escapes — go out as they are.
 */
function rawRequest(port: number, request: Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${ANSWER_WITHIN_MS} ms`));
    }, ANSWER_WITHIN_MS);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      // Interim answers (100 Continue) come before the real one.
      const text = Buffer.concat(chunks)
        .toString('latin1')
        .replace(/^(?:HTTP\/1\.[01] 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, head, body: split === -1 ? '' : text.slice(split + 4) });
    });
    socket.write(request);
  });
}

/** What a stack trace or an internal path looks like in a body. */
const STACK = /\n\s+at [^\n]*[:(]|node:internal|\.ts:\d+:\d+|node_modules|Error: /;

const TENANT_PATHS: Record<string, string> = {
  tenant: 'acme',
  provider: 'dev',
  keyId: '0123456789abcdef',
  sub: 'alice',
};

/** Every route family: BFF, proxy, admin (from its own table), JWKS, health, static, SPA. */
const PATHS = [
  '/bff/login',
  '/bff/user',
  '/bff/logout',
  '/bff/sessions',
  '/bff/sessions/end-others',
  '/bff/sessions/abc',
  '/bff/tenants/acme',
  '/bff/tenants/nope',
  '/bff/callback/acme/dev',
  '/bff/callback/nope/nope',
  '/bff/backchannel-logout/acme/dev',
  '/bff/backchannel-logout/nope/x',
  '/api/demo/me',
  '/api/demo/notes',
  '/api/demo-gh/me',
  '/api/nope',
  '/admin/api',
  '/admin/api/openapi.json',
  ...ADMIN_ROUTES.map(
    (route) =>
      `/admin/api${route.path.replace(/:(\w+)/g, (_m, name: string) => TENANT_PATHS[name] ?? name)}`,
  ),
  '/.well-known/jwks.json',
  '/healthz',
  '/readyz',
  '/',
  '/index.html',
  '/assets/app.js',
  '/assets/missing.js',
  '/t/acme',
  '/deep/spa/route',
];

const METHODS = [
  'GET',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PROPFIND',
  'PURGE',
  'SEARCH',
  'QUERY',
  'CONNECT',
  'get',
  'G\u0000T',
  'MKCOL',
];

/** Suffixes that break decoding, normalisation and parsing. */
const PATH_TAILS = [
  '',
  '/',
  '%',
  '%zz',
  '%E0%A4%A',
  '%c0%ae%c0%ae/',
  '%00',
  '%2F..%2F',
  '/..',
  '/./x',
  '//x',
  '/%2e%2e/%2e%2e/etc/passwd',
  '\\..\\',
  ';a=b',
  '/\u00e9t\u00e9',
  '/\u0001\u001f',
  `/${'a'.repeat(5000)}`,
  '#frag',
  '*',
];

const QUERY_PARAMS = [
  'returnTo=%2F',
  'returnTo=/',
  'returnTo=//evil.example',
  'returnTo=https://evil.example/',
  'returnTo=%',
  'returnTo=%ZZ',
  'returnTo[]=a',
  'returnTo[a]=b',
  'returnTo=a&returnTo=b',
  'tenant=acme',
  'tenant=acme&tenant=globex',
  'tenant[]=acme',
  'tenant=nope',
  'tenant=%00',
  'provider=dev',
  'provider=nope',
  'provider[x]=y',
  'email=carol%40globex.test',
  'email=',
  'email=@@@',
  'email[]=a@b',
  'login_hint=%FF%FE',
  'slide=false',
  'slide=false&slide=true',
  'code=x&state=y',
  'code=x&code=y&state=y&state=z',
  'iss=http://evil.example',
  'error=access_denied&state=x',
  'a&&&b==c',
  '=',
  '%',
  '%%%',
  `x=${'y'.repeat(3000)}`,
  Array.from({ length: 500 }, (_, i) => `p${i}=${i}`).join('&'),
];

const deepJson = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const deepObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

const BODIES: Array<{ type: string | undefined; body: string }> = [
  { type: undefined, body: '' },
  { type: 'application/json', body: '{}' },
  { type: 'application/json', body: '{"name":"x","id":"t1","emailDomains":["a.test"]}' },
  { type: 'application/json', body: '{' },
  { type: 'application/json', body: 'null' },
  { type: 'application/json', body: '"string"' },
  { type: 'application/json', body: '[1,2,3]' },
  { type: 'application/json', body: '{"__proto__":{"polluted":true},"constructor":{}}' },
  { type: 'application/json', body: deepJson(5000) },
  { type: 'application/json', body: deepObject(3000) },
  { type: 'application/json', body: JSON.stringify({ big: 'x'.repeat(200_000) }) },
  { type: 'application/json; charset=utf-16', body: '{}' },
  { type: 'application/json; charset=nope', body: '{}' },
  { type: 'application/x-www-form-urlencoded', body: 'logout_token=abc' },
  { type: 'application/x-www-form-urlencoded', body: 'logout_token=a&logout_token=b' },
  { type: 'application/x-www-form-urlencoded', body: 'logout_token[]=a' },
  { type: 'application/x-www-form-urlencoded', body: 'logout_token=%' },
  {
    type: 'application/x-www-form-urlencoded',
    body: Array.from({ length: 2000 }, (_, i) => `k${i}=v`).join('&'),
  },
  {
    type: 'application/x-www-form-urlencoded',
    body: `logout_token=${'eyJ'.repeat(10_000)}`,
  },
  { type: 'text/plain', body: 'hello' },
  { type: 'multipart/form-data; boundary=x', body: '--x\r\nbroken' },
  { type: 'application/octet-stream', body: '\u0000\u0001\u00ff'.repeat(100) },
];

const manyCookies = (count: number) =>
  Array.from({ length: count }, (_, i) => `c${i}=${i}`).join('; ');

/** Mostly the ordinary value, now and then one of the odd ones. */
const mostly = <T>(usual: T, ...odd: T[]) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(usual) },
    { weight: 1, arbitrary: fc.constantFrom(...odd) },
  );

/**
 * Generated requests against every route, sent as raw bytes: odd methods and versions, HTTP/1.0
 * without Host, broken percent-encoding, control bytes, repeated and array parameters, huge and
 * deeply nested JSON, thousands of cookies, odd headers, admin-shaped bodies with odd values.
 * Whatever arrives: no 500 (nor any 5xx — every dependency is up), an answer or a closed
 * connection within a bound, no stack in a body, and the process keeps serving.
 */
describe('malformed input (fuzz)', () => {
  let redis: RedisServer;
  let stack: Stack;
  let staticDir: string;
  let port: number;
  let sessionCookie: string;

  beforeAll(async () => {
    staticDir = await mkdtemp(join(tmpdir(), 'gatehouse-fuzz-static-'));
    await mkdir(join(staticDir, 'assets'));
    await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>app</title>');
    await writeFile(join(staticDir, 'assets', 'app.js'), 'console.log(1)');
    redis = await startRedisServer();
    stack = await startStack({ redis, staticDir, configure: withAdminToken });
    port = Number(new URL(stack.origin).port);
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    sessionCookie = `gatehouse=${(await http.cookie(stack.origin, 'gatehouse')) ?? ''}`;
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
    if (staticDir) await rm(staticDir, { recursive: true, force: true });
  });

  /** Header lines beyond the request line; each generated independently. */
  const headerLines = fc.record(
    {
      host: mostly(
        'localhost',
        '',
        '[::1',
        'a b',
        'evil.example:99999',
        'x'.repeat(2000),
        'localhost, other',
      ),
      cookie: mostly(
        '',
        'gatehouse=s%3Anope.sig',
        'gatehouse=%',
        'gatehouse=s:',
        manyCookies(1500),
        `${manyCookies(300)}; gatehouse=a; gatehouse=b`,
        'gatehouse-login=x; gatehouse-login=y',
        '\u0001=\u0002',
      ),
      session: mostly(true, false),
      csrf: mostly('1', '0', '', '1, 1'),
      origin: fc.constantFrom('null', 'https://evil.example', '%', 'http://localhost', ''),
      fetchSite: mostly('same-origin', 'cross-site', 'none', '\u00ff'),
      accept: fc.constantFrom('text/html', 'application/json', '*/*', ';;;', 'text/html;q=x'),
      authorization: fc.constantFrom(
        `Bearer ${ADMIN_TOKEN}`,
        `Bearer ${ADMIN_TOKEN}`,
        'Bearer ghk_0123456789abcdef_' + 'A'.repeat(43),
        'Bearer ',
        'Basic %%%',
        'Bearer ' + 'x'.repeat(4000),
        'Negotiate',
      ),
      requestId: fc.constantFrom('ok-id', '../../etc', '\u00e9', 'x'.repeat(200)),
      forwarded: fc.constantFrom('for=1.2.3.4', 'https', '::::'),
      contentEncoding: fc.constantFrom('gzip', 'br', 'identity', 'nope'),
      range: fc.constantFrom('bytes=0-0', 'bytes=x', 'bytes=5-1,0-'),
      ifNoneMatch: fc.constantFrom('*', '"x"', 'W/'),
      extra: fc.constantFrom(
        'X-Odd:\tvalue',
        'X-Empty:',
        'x-dup: 1\r\nx-dup: 2',
        'Expect: 100-continue',
      ),
    },
    { requiredKeys: [] },
  );

  /** Admin-shaped JSON: the right member names with odd values, so validation gets exercised. */
  const adminJson = fc
    .record(
      {
        id: fc.oneof(fc.constantFrom('t1', 'acme', 'dev', 'x'.repeat(100), 'A B'), fc.string()),
        name: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        emailDomains: fc.oneof(
          fc.array(fc.constantFrom('a.test', '', 'UPPER.TEST', '..')),
          fc.string(),
        ),
        hosts: fc.array(fc.constantFrom('h.test', 'localhost', '[::1]', 'a b')),
        adminRule: fc.oneof(
          fc.record({ claim: fc.constantFrom('roles', 'groups', 'sub', 'x'), value: fc.string() }),
          fc.constant('roles'),
        ),
        session: fc.record(
          {
            idleTimeoutSeconds: fc.oneof(fc.integer(), fc.double()),
            absoluteTimeoutSeconds: fc.integer(),
          },
          { requiredKeys: [] },
        ),
        issuer: fc.constantFrom(
          'http://127.0.0.1:1',
          'https://127.0.0.1/',
          'https://[::1]/x',
          'https://%zz/',
          'ftp://idp.test',
          'https://idp.invalid/',
          '',
        ),
        clientId: fc.oneof(fc.string(), fc.constant(1)),
        clientSecret: fc.oneof(fc.string(), fc.constant(null)),
        tokenEndpointAuthMethod: fc.constantFrom(
          'client_secret_basic',
          'none',
          'private_key_jwt',
          'nope',
        ),
        scopes: fc.array(fc.string()),
        authorizationParams: fc.dictionary(fc.string(), fc.string()),
        enabled: fc.oneof(fc.boolean(), fc.constant('yes')),
        label: fc.string(),
      },
      { requiredKeys: [] },
    )
    .map((value) => ({ type: 'application/json', body: JSON.stringify(value) }));

  const bodies = fc.oneof(
    fc.constantFrom(...BODIES),
    adminJson,
    fc.jsonValue().map((value) => ({ type: 'application/json', body: JSON.stringify(value) })),
  );

  const requests = fc.record({
    method: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('GET', 'POST', 'DELETE', 'PATCH') },
      { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
    ),
    path: fc.constantFrom(...PATHS),
    tail: mostly('', ...PATH_TAILS),
    query: fc.option(fc.constantFrom(...QUERY_PARAMS), { nil: undefined }),
    version: fc.oneof(
      { weight: 4, arbitrary: fc.constant('HTTP/1.1') },
      { weight: 2, arbitrary: fc.constant('HTTP/1.0') },
      { weight: 1, arbitrary: fc.constantFrom('HTTP/2.0', 'HTTP/1.1 x', 'HTTP/0.9', 'HTTP/1.10') },
    ),
    headers: headerLines,
    body: fc.option(bodies, { nil: undefined }),
  });

  type FuzzRequest = typeof requests extends fc.Arbitrary<infer T> ? T : never;

  function encode(request: FuzzRequest): Buffer {
    const target = `${request.path}${request.tail}${request.query ? `?${request.query}` : ''}`;
    const h = request.headers;
    const lines = [`${request.method} ${target} ${request.version}`];
    if (h.host !== undefined && request.version !== 'HTTP/1.0') lines.push(`Host: ${h.host}`);
    else if (h.host !== undefined && h.host !== 'localhost') lines.push(`Host: ${h.host}`);
    // The signed-in session stays usable for the whole run: never sent where it could be ended.
    const ends = /logout|end-others|sessions\/abc|\/sessions$/.test(request.path);
    const session = h.session && !ends ? sessionCookie : '';
    const cookies = [h.cookie, session].filter(Boolean).join('; ');
    if (cookies) lines.push(`Cookie: ${cookies}`);
    if (h.csrf !== undefined) lines.push(`X-CSRF: ${h.csrf}`);
    if (h.origin !== undefined) lines.push(`Origin: ${h.origin}`);
    if (h.fetchSite !== undefined) lines.push(`Sec-Fetch-Site: ${h.fetchSite}`);
    if (h.accept !== undefined) lines.push(`Accept: ${h.accept}`);
    if (h.authorization !== undefined) lines.push(`Authorization: ${h.authorization}`);
    if (h.requestId !== undefined) lines.push(`X-Request-Id: ${h.requestId}`);
    if (h.forwarded !== undefined) lines.push(`X-Forwarded-Proto: ${h.forwarded}`);
    if (h.contentEncoding !== undefined) lines.push(`Content-Encoding: ${h.contentEncoding}`);
    if (h.range !== undefined) lines.push(`Range: ${h.range}`);
    if (h.ifNoneMatch !== undefined) lines.push(`If-None-Match: ${h.ifNoneMatch}`);
    if (h.extra !== undefined) lines.push(h.extra);
    const body = Buffer.from(request.body?.body ?? '', 'latin1');
    if (request.body?.type) lines.push(`Content-Type: ${request.body.type}`);
    if (request.body) lines.push(`Content-Length: ${body.length}`);
    lines.push('Connection: close');
    return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
  }

  it('answers a login over HTTP/1.0 without a Host header like any other login', async () => {
    const answer = await rawRequest(
      port,
      Buffer.from('GET /bff/login?returnTo=%2F HTTP/1.0\r\nAccept: application/json\r\n\r\n'),
    );
    expect(answer.status).toBe(302);
    expect(answer.head).toMatch(/\r\nlocation: http:\/\/localhost:\d+\/auth\?/i);
  });

  it('never answers 500, never hangs and never shows a stack, whatever arrives', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requests, async (request) => {
        const answer = await rawRequest(port, encode(request));
        seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
        const where = `${request.method} ${request.path}${request.tail} → ${answer.status}`;
        expect(answer.status, where).not.toBe(500);
        // Redis, the IdP and the demo API are all up: no outage answer either.
        expect(answer.status < 500, where).toBe(true);
        expect(answer.status === 0 || answer.status >= 200, where).toBe(true);
        expect(STACK.test(answer.body), `${where}: ${answer.body.slice(0, 300)}`).toBe(false);
      }),
      // A fixed seed keeps CI reproducible; FUZZ_SEED / FUZZ_RUNS explore further by hand.
      {
        seed: Number(process.env.FUZZ_SEED ?? 20261129),
        numRuns: Number(process.env.FUZZ_RUNS ?? 400),
        endOnFailure: true,
      },
    );
    // The generator reaches past the HTTP parser into the application.
    expect(
      [...seen.keys()].filter((status) => status >= 200 && status < 500).length,
    ).toBeGreaterThan(5);

    // Still serving, with its store.
    expect((await fetch(`${stack.origin}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.origin}/readyz`)).status).toBe(200);
  }, 60_000);

  it('never answers 500 or shows a stack while Redis is down either', async () => {
    await redis.kill();
    try {
      // Each request that needs the store waits for a reconnect attempt: batches in parallel.
      await fc.assert(
        fc.asyncProperty(fc.array(requests, { minLength: 20, maxLength: 20 }), async (batch) => {
          const answers = await Promise.all(
            batch.map((request) => rawRequest(port, encode(request))),
          );
          for (const [index, answer] of answers.entries()) {
            const request = batch[index]!;
            const where = `${request.method} ${request.path}${request.tail} → ${answer.status}`;
            expect(answer.status, where).not.toBe(500);
            expect(STACK.test(answer.body), `${where}: ${answer.body.slice(0, 300)}`).toBe(false);
          }
        }),
        {
          seed: Number(process.env.FUZZ_SEED ?? 20261129) + 1,
          numRuns: Math.ceil(Number(process.env.FUZZ_RUNS ?? 400) / 40),
          endOnFailure: true,
        },
      );
    } finally {
      await redis.restart();
    }
    await expect.poll(async () => (await fetch(`${stack.origin}/readyz`)).status).toBe(200);
  }, 60_000);
});
