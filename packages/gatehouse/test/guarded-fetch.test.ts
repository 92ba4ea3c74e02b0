import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, isIP, type Server as NetServer } from 'node:net';
import { gzipSync } from 'node:zlib';
import * as jose from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPublicUnicastAddress } from '../src/tenants/address-policy.ts';
import {
  OUTBOUND_PUBLIC_MESSAGE,
  OutboundRequestBlocked,
  createGuardedFetch,
  type GuardedFetch,
  type OutboundBlockReason,
} from '../src/tenants/guarded-fetch.ts';

/** A TCP listener that only counts: any connection it sees is a guard failure. */
interface Trap {
  port: number;
  connections: number;
  close(): Promise<void>;
}

async function listenTrap(host: string, port: number): Promise<Trap | undefined> {
  const server = createNetServer((socket) => {
    trap.connections++;
    socket.destroy();
  });
  const trap: Trap = { port: 0, connections: 0, close: () => closeNet(server) };
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => resolve(true));
  });
  if (!listening) return undefined;
  trap.port = (server.address() as { port: number }).port;
  return trap;
}

function closeNet(server: NetServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

type Records = Record<string, () => string[]>;

/**
 * A stand-in resolver with `dns.lookup`'s signature: answers from `records`, sends `localhost`
 * (with or without the root dot) to the system resolver (/etc/hosts), and fails everything else so no test touches real DNS.
 */
function fakeLookup(records: Records): typeof dnsLookup {
  const lookup = (
    hostname: string,
    options: { all?: boolean },
    callback: (error: Error | null, addresses: LookupAddress[] | string, family?: number) => void,
  ): void => {
    const answer = records[hostname];
    if (hostname === 'localhost' || hostname === 'localhost.') {
      dnsLookup('localhost', { all: true }, (error, addresses) => callback(error, addresses));
      return;
    }
    if (answer === undefined) {
      callback(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
      return;
    }
    const addresses = answer().map((address) => ({ address, family: isIP(address) }));
    if (options.all === true) callback(null, addresses);
    else callback(null, addresses[0]?.address ?? '', addresses[0]?.family);
  };
  return lookup as unknown as typeof dnsLookup;
}

function resolveAll(lookup: typeof dnsLookup, hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    lookup(hostname, { all: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    );
  });
}

/** The guard's error, whether thrown directly or wrapped by openid-client as `cause`. */
async function rejection(promise: Promise<unknown>): Promise<OutboundRequestBlocked> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  const blocked =
    error instanceof OutboundRequestBlocked ? error : error instanceof Error ? error.cause : error;
  expect(blocked).toBeInstanceOf(OutboundRequestBlocked);
  const guardError = blocked as OutboundRequestBlocked;
  expect(guardError.message).toBe(OUTBOUND_PUBLIC_MESSAGE);
  expect(guardError.code).toBe('outbound_blocked');
  return guardError;
}

function discover(url: string, guardedFetch: GuardedFetch): Promise<client.Configuration> {
  return client.discovery(new URL(url), 'id', 'secret', undefined, {
    [client.customFetch]: guardedFetch,
    execute: [client.allowInsecureRequests],
  });
}

const DEV_LIMIT = 64 * 1024;
const DEV_TIMEOUT_MS = 400;

/** A tiny dev IdP on 127.0.0.1 with some misbehaving routes. */
interface DevIdp {
  origin: string;
  port: number;
  connections: number;
  server: Server;
}

function idpRoutes(idp: DevIdp, trapPort: number, jwks: { keys: jose.JWK[] }) {
  const discovery = JSON.stringify({
    issuer: idp.origin,
    authorization_endpoint: `${idp.origin}/authorize`,
    token_endpoint: `${idp.origin}/token`,
    jwks_uri: `${idp.origin}/jwks`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
  });
  const json = (res: ServerResponse, body: string) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    '/.well-known/openid-configuration': (_req, res) => json(res, discovery),
    '/jwks': (_req, res) => json(res, JSON.stringify(jwks)),
    '/redirect/.well-known/openid-configuration': (_req, res) =>
      res
        .writeHead(302, {
          location: `http://localhost:${trapPort}/.well-known/openid-configuration`,
        })
        .end(),
    '/redirect-self': (_req, res) =>
      res.writeHead(307, { location: '/.well-known/openid-configuration' }).end(),
    '/big/.well-known/openid-configuration': (_req, res) =>
      json(res, JSON.stringify({ issuer: idp.origin, pad: 'x'.repeat(DEV_LIMIT * 2) })),
    '/big-chunked/.well-known/openid-configuration': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < 80; i++) res.write('x'.repeat(1024));
      res.end();
    },
    '/gzip-bomb': (_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
        .end(gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x20))),
    '/gzip/.well-known/openid-configuration': (_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
        .end(gzipSync(discovery)),
    '/exact-limit': (_req, res) => json(res, 'x'.repeat(DEV_LIMIT)),
    '/over-limit-by-one': (_req, res) => json(res, 'x'.repeat(DEV_LIMIT + 1)),
    '/slow/.well-known/openid-configuration': () => undefined, // never answers
    '/slow-body': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{'); // and never finishes
    },
    '/echo': (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () =>
        json(res, JSON.stringify({ method: req.method, body, auth: req.headers.authorization })),
      );
    },
    '/no-content': (_req, res) => res.writeHead(204).end(),
  };
  return (req: IncomingMessage, res: ServerResponse) => {
    const route = routes[new URL(req.url ?? '/', idp.origin).pathname];
    if (route) route(req, res);
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  };
}

async function startDevIdp(trapPort: number, jwks: { keys: jose.JWK[] }): Promise<DevIdp> {
  const idp: DevIdp = { origin: '', port: 0, connections: 0, server: createServer() };
  idp.server.on('connection', () => idp.connections++);
  await new Promise<void>((resolve) => idp.server.listen(0, '127.0.0.1', resolve));
  idp.port = (idp.server.address() as { port: number }).port;
  idp.origin = `http://localhost:${idp.port}`;
  idp.server.on('request', idpRoutes(idp, trapPort, jwks));
  return idp;
}

let trap4: Trap;
let trap6: Trap | undefined;
let idp: DevIdp;
let signingKey: jose.GenerateKeyPairResult['privateKey'];
let production: GuardedFetch;
let development: GuardedFetch;

const ATTACKER_DNS: Records = {
  'loopback.attacker.test': () => ['127.0.0.1'],
  'metadata.attacker.test': () => ['169.254.169.254'],
  'mapped.attacker.test': () => ['::ffff:127.0.0.1'],
  'nat64.attacker.test': () => ['64:ff9b::7f00:1'],
  'v6-loopback.attacker.test': () => ['::1'],
  'private.attacker.test': () => ['10.0.0.5'],
  // Round-robin answer mixing a loopback and a public address: the whole answer is refused.
  'mixed.attacker.test': () => ['127.0.0.1', '8.8.8.8'],
};

beforeAll(async () => {
  const found = await listenTrap('127.0.0.1', 0);
  if (!found) throw new Error('cannot listen on 127.0.0.1');
  trap4 = found;
  // Same port on ::1 when possible, so "localhost" would hit a trap whichever family it picks.
  trap6 = (await listenTrap('::1', trap4.port)) ?? (await listenTrap('::1', 0));
  const keys = await jose.generateKeyPair('ES256', { extractable: true });
  signingKey = keys.privateKey;
  const publicJwk = { ...(await jose.exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' };
  idp = await startDevIdp(trap4.port, { keys: [publicJwk] });
  production = createGuardedFetch({ mode: 'production', lookup: fakeLookup(ATTACKER_DNS) });
  development = createGuardedFetch({
    mode: 'development',
    allowedDevOrigins: [idp.origin],
    timeoutMs: DEV_TIMEOUT_MS,
    maxResponseBytes: DEV_LIMIT,
    lookup: fakeLookup(ATTACKER_DNS),
  });
});

afterAll(async () => {
  await Promise.all([production.close(), development.close()]);
  idp.server.closeAllConnections();
  await new Promise((resolve) => idp.server.close(resolve));
  await Promise.all([trap4.close(), trap6?.close()]);
});

function hostileUrls(): Array<[url: string, reason: OutboundBlockReason]> {
  const p = trap4.port;
  const p6 = trap6?.port ?? p;
  const loopbackHosts = [
    `127.0.0.1:${p}`,
    `localhost:${p}`,
    `localhost.:${p}`,
    `LOCALHOST:${p}`,
    `[::1]:${p6}`,
    `[::]:${p6}`,
    `[::ffff:127.0.0.1]:${p}`,
    `[::ffff:7f00:1]:${p}`,
    `[0:0:0:0:0:ffff:127.0.0.1]:${p}`,
    `[::127.0.0.1]:${p}`,
    `2130706433:${p}`,
    `0x7f000001:${p}`,
    `0177.0.0.1:${p}`,
    `0x7f.1:${p}`,
    `127.1:${p}`,
    `127.000.000.001:${p}`,
    `%31%32%37.0.0.1:${p}`,
    `0:${p}`,
    `0.0.0.0:${p}`,
    `[64:ff9b::7f00:1]:${p}`,
    '169.254.169.254',
    `[::ffff:169.254.169.254]`,
    '[fd00::1]',
    '10.0.0.1',
    '192.168.1.1',
    ...Object.keys(ATTACKER_DNS).map((name) => `${name}:${p}`),
  ];
  return [
    // Production refuses plain http before anything else ...
    ...loopbackHosts.map((host): [string, OutboundBlockReason] => [
      `http://${host}/`,
      'scheme_not_allowed',
    ]),
    // ... and with https the address check is what stops them.
    ...loopbackHosts.map((host): [string, OutboundBlockReason] => [
      `https://${host}/`,
      'address_not_allowed',
    ]),
    [`https://user:pass@localhost:${p}/`, 'userinfo_not_allowed'],
    ['https://user@idp.example.com/', 'userinfo_not_allowed'],
    ['https://:secret@idp.example.com/', 'userinfo_not_allowed'],
    ['http://idp.example.com/', 'scheme_not_allowed'],
  ];
}

describe('guarded fetch in production mode, driven through openid-client discovery', () => {
  it('refuses every hostile URL without opening a single connection', async () => {
    const cases = hostileUrls();
    expect(cases.length).toBeGreaterThan(50);
    for (const [url, reason] of cases) {
      const error = await rejection(discover(url, production));
      expect({ url, reason: error.reason }).toEqual({ url, reason });
      expect(error.message).not.toContain(String(trap4.port));
    }
    expect(trap4.connections).toBe(0);
    expect(trap6?.connections ?? 0).toBe(0);
  });

  it('refuses a DNS rebinding name even though it looked public when it was first checked', async () => {
    let calls = 0;
    const rebinding = fakeLookup({
      'rebind.attacker.test': () => (calls++ === 0 ? ['93.184.215.14'] : ['127.0.0.1']),
    });
    const guardedFetch = createGuardedFetch({ mode: 'production', lookup: rebinding });
    try {
      // What a check-then-connect validator would see when the tenant is registered:
      const atRegistration = await resolveAll(rebinding, 'rebind.attacker.test');
      expect(atRegistration.every(({ address }) => isPublicUnicastAddress(address))).toBe(true);

      const error = await rejection(
        discover(`https://rebind.attacker.test:${trap4.port}`, guardedFetch),
      );
      expect(error.reason).toBe('address_not_allowed');
      expect(error.detail).toContain('127.0.0.1');
      expect(calls).toBe(2); // the guard resolved once more, at connect time, and judged that answer
      expect(trap4.connections).toBe(0);
    } finally {
      await guardedFetch.close();
    }
  });

  it('refuses URLs that are not http(s) and Request objects before any I/O', async () => {
    for (const url of [
      'file:///etc/passwd',
      `ftp://127.0.0.1:${trap4.port}/`,
      'data:,{}',
      'nonsense',
    ]) {
      const error = await rejection(production(url));
      expect(error.reason).toBe(url === 'nonsense' ? 'invalid_url' : 'scheme_not_allowed');
    }
    const request = new Request(`https://127.0.0.1:${trap4.port}/`);
    expect((await rejection(production(request))).reason).toBe('invalid_url');
    expect(trap4.connections).toBe(0);
  });

  it('refuses a loopback JWKS URL given to jose createRemoteJWKSet', async () => {
    for (const url of [
      `https://localhost:${trap4.port}/jwks`,
      `http://127.0.0.1:${trap4.port}/jwks`,
    ]) {
      const jwks = jose.createRemoteJWKSet(new URL(url), { [jose.customFetch]: production });
      const error = await rejection(jwks({ alg: 'ES256', kid: 'k1' }));
      expect(error.reason).toMatch(/^(address|scheme)_not_allowed$/);
    }
    expect(trap4.connections).toBe(0);
  });
});

describe('guarded fetch in development mode', () => {
  it('lets openid-client discover the allowed dev origin over http on loopback', async () => {
    const config = await discover(idp.origin, development);
    expect(config.serverMetadata().issuer).toBe(idp.origin);
    expect(config.serverMetadata().token_endpoint).toBe(`${idp.origin}/token`);
  });

  it('returns a standard Response and forwards method, headers and body', async () => {
    const response = await development(`${idp.origin}/echo`, {
      method: 'POST',
      headers: { authorization: 'Basic abc', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token' }),
    });
    expect(response).toBeInstanceOf(Response);
    expect(response.status).toBe(200);
    expect(response.url).toBe(`${idp.origin}/echo`);
    expect(await response.json()).toEqual({
      method: 'POST',
      body: 'grant_type=refresh_token',
      auth: 'Basic abc',
    });
    const missing = await development(`${idp.origin}/missing`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('not found');
    expect((await development(`${idp.origin}/no-content`)).status).toBe(204);
  });

  it('lets jose fetch a JWKS from the allowed dev origin and verify a token with it', async () => {
    const jwks = jose.createRemoteJWKSet(new URL(`${idp.origin}/jwks`), {
      [jose.customFetch]: development,
    });
    const token = await new jose.SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .sign(signingKey);
    const { payload } = await jose.jwtVerify(token, jwks);
    expect(payload.sub).toBe('alice');
  });

  it('refuses every other local origin, including siblings of the allowed one', async () => {
    const before = idp.connections;
    const siblings: Array<[string, OutboundBlockReason]> = [
      [`http://localhost:${trap4.port}`, 'scheme_not_allowed'], // e.g. Redis on the same host
      [`http://127.0.0.1:${idp.port}`, 'scheme_not_allowed'], // same server, different origin
      [`https://localhost:${idp.port}`, 'address_not_allowed'],
      [`https://localhost:${trap4.port}`, 'address_not_allowed'],
      [`http://user:pass@localhost:${idp.port}`, 'userinfo_not_allowed'],
    ];
    for (const [url, reason] of siblings) {
      expect((await rejection(discover(url, development))).reason).toBe(reason);
    }
    expect(idp.connections).toBe(before);
    expect(trap4.connections).toBe(0);
  });

  it('does not follow a redirect from the allowed origin to another local port', async () => {
    const error = await rejection(discover(`${idp.origin}/redirect`, development));
    expect(error.reason).toBe('redirect_not_followed');
    expect((await rejection(development(`${idp.origin}/redirect-self`))).reason).toBe(
      'redirect_not_followed',
    );
    expect(trap4.connections).toBe(0);
  });

  it('refuses oversize responses, declared, streamed or compressed', async () => {
    for (const url of [`${idp.origin}/big`, `${idp.origin}/big-chunked`]) {
      expect((await rejection(discover(url, development))).reason).toBe('response_too_large');
    }
    expect((await rejection(development(`${idp.origin}/gzip-bomb`))).reason).toBe(
      'response_too_large',
    );
    expect((await rejection(development(`${idp.origin}/over-limit-by-one`))).reason).toBe(
      'response_too_large',
    );
    const exact = await development(`${idp.origin}/exact-limit`);
    expect((await exact.text()).length).toBe(DEV_LIMIT);
  });

  it('decodes a compressed answer the server sends unasked, as fetch would', async () => {
    const response = await development(`${idp.origin}/gzip/.well-known/openid-configuration`);
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(await response.json()).toMatchObject({ token_endpoint: `${idp.origin}/token` });
  });

  it('gives up on a server slower than timeoutMs, before headers or mid-body', async () => {
    const started = Date.now();
    expect((await rejection(discover(`${idp.origin}/slow`, development))).reason).toBe('timeout');
    expect((await rejection(development(`${idp.origin}/slow-body`))).reason).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(DEV_TIMEOUT_MS * 2 + 1000);
  });

  it('reports a caller abort as aborted', async () => {
    const error = await rejection(
      development(`${idp.origin}/slow/.well-known/openid-configuration`, {
        signal: AbortSignal.timeout(50),
      }),
    );
    expect(error.reason).toBe('aborted');
  });

  it('reports a closed port as a generic network error, not as a distinct message', async () => {
    const closed = await listenTrap('127.0.0.1', 0);
    if (!closed) throw new Error('cannot listen on 127.0.0.1');
    await closed.close();
    const guardedFetch = createGuardedFetch({
      mode: 'development',
      allowedDevOrigins: [`http://127.0.0.1:${closed.port}`],
    });
    try {
      const error = await rejection(guardedFetch(`http://127.0.0.1:${closed.port}/`));
      expect(error.reason).toBe('network_error');
      expect(error.detail).toContain('ECONNREFUSED');
    } finally {
      await guardedFetch.close();
    }
  });
});

describe('createGuardedFetch options', () => {
  it('rejects dev origins in production and anything that is not a bare origin', () => {
    expect(() =>
      createGuardedFetch({ mode: 'production', allowedDevOrigins: ['http://localhost:4000'] }),
    ).toThrow(/development mode/);
    for (const origin of [
      'http://localhost:4000/path',
      'http://localhost:4000/?q',
      'http://u:p@localhost:4000',
      'ftp://localhost:21',
      'localhost:4000',
    ]) {
      expect(() =>
        createGuardedFetch({ mode: 'development', allowedDevOrigins: [origin] }),
      ).toThrow(/bare http\(s\) origin/);
    }
  });

  it('rejects non-positive limits and an unknown mode', () => {
    expect(() => createGuardedFetch({ mode: 'production', timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => createGuardedFetch({ mode: 'production', maxResponseBytes: -1 })).toThrow(
      /maxResponseBytes/,
    );
    expect(() => createGuardedFetch({ mode: 'staging' as unknown as 'production' })).toThrow(
      /mode/,
    );
  });
});
