import { createServer, type AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoApiApp, startDemoApi } from '../src/index.ts';
import type { TrustedIssuer } from '../src/index.ts';
import {
  AUDIENCE,
  nowSeconds,
  signAccessToken,
  startTestIssuer,
  unsignedToken,
} from './jwks-issuer.ts';
import type { TestIssuer } from './jwks-issuer.ts';

let acme: TestIssuer;
let globex: TestIssuer;
let attacker: TestIssuer;
let api: { origin: string; close(): Promise<void> };
const cleanups: (() => Promise<void>)[] = [];

function trusted(issuer: TestIssuer, extra: Partial<TrustedIssuer> = {}): TrustedIssuer {
  return { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: AUDIENCE, ...extra };
}

async function startApi(trustedIssuers: TrustedIssuer[]) {
  const started = await startDemoApi({ trustedIssuers });
  cleanups.push(() => started.close());
  return started;
}

function getMe(origin: string, authorization?: string): Promise<Response> {
  return fetch(`${origin}/me`, { headers: authorization ? { authorization } : {} });
}

beforeAll(async () => {
  [acme, globex, attacker] = await Promise.all([
    startTestIssuer('acme-key'),
    startTestIssuer('globex-key'),
    startTestIssuer('attacker-key'),
  ]);
  cleanups.push(
    () => acme.close(),
    () => globex.close(),
    () => attacker.close(),
  );
  api = await startApi([trusted(acme), trusted(globex)]);
});

afterAll(async () => {
  await Promise.all(cleanups.map((close) => close()));
});

describe('valid access tokens', () => {
  it('answers /me with the verified claims', async () => {
    const token = await acme.sign({ sub: 'alice', scope: 'notes:read', tenant: 'acme' });
    const res = await getMe(api.origin, `Bearer ${token}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ sub: 'alice', iss: acme.issuer, aud: AUDIENCE });
    expect(body.claims).toMatchObject({ scope: 'notes:read', tenant: 'acme', sub: 'alice' });
  });

  it('accepts a lower-case scheme name and an audience array containing ours', async () => {
    const token = await globex.sign({ aud: ['urn:other', AUDIENCE] });
    expect((await getMe(api.origin, `bearer ${token}`)).status).toBe(200);
  });

  it('accepts a token expired by less than the clock tolerance', async () => {
    const token = await acme.sign({ exp: nowSeconds() - 2 });
    expect((await getMe(api.origin, `Bearer ${token}`)).status).toBe(200);
  });
});

describe('hostile or broken tokens get 401 with a Bearer challenge, never a 500', () => {
  it('answers a request without Authorization with a bare challenge', async () => {
    const res = await getMe(api.origin);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="demo-api", DPoP realm="demo-api", algs="ES256 ES384 ES512 PS256 PS384 PS512 EdDSA"',
    );
    expect(await res.json()).toEqual({ error: 'missing_token' });
  });

  type Case = [name: string, authorization: () => Promise<string>, description?: string];
  const now = nowSeconds;
  const cases: Case[] = [
    ['Basic scheme', () => Promise.resolve('Basic x'), 'bearer token required'],
    ['Bearer without a token', () => Promise.resolve('Bearer'), 'bearer token required'],
    ['garbage', () => Promise.resolve('Bearer not-a-jwt'), 'malformed token'],
    ['three dots', () => Promise.resolve('Bearer ...'), 'malformed token'],
    ['a token with spaces', () => Promise.resolve('Bearer a b c'), 'bearer token required'],
    [
      'alg none',
      () =>
        Promise.resolve(
          `Bearer ${unsignedToken(
            { alg: 'none', typ: 'at+jwt' },
            { iss: acme.issuer, sub: 'alice', aud: AUDIENCE, exp: now() + 300 },
          )}`,
        ),
      'algorithm not allowed',
    ],
    [
      'HS256 signed with the public key as the secret',
      async () => {
        const secret = new TextEncoder().encode(await exportSPKI(acme.publicKey));
        return `Bearer ${await signAccessToken(secret, { iss: acme.issuer }, { alg: 'HS256', kid: acme.kid })}`;
      },
      'algorithm not allowed',
    ],
    [
      'an unknown kid',
      async () => `Bearer ${await acme.sign({}, { kid: 'nope' })}`,
      'no matching signing key',
    ],
    [
      'a key that is not in the JWKS (signed by another key, right kid)',
      async () =>
        `Bearer ${await signAccessToken(attacker.privateKey, { iss: acme.issuer }, { kid: acme.kid })}`,
      'signature verification failed',
    ],
    [
      'jku and jwk headers pointing at the attacker key',
      async () => {
        const jwk = await exportJWK(attacker.publicKey);
        const header = { kid: attacker.kid, jku: attacker.jwksUri, jwk };
        return `Bearer ${await signAccessToken(attacker.privateKey, { iss: acme.issuer }, header)}`;
      },
      'no matching signing key',
    ],
    [
      'expired beyond the leeway',
      async () => `Bearer ${await acme.sign({ exp: now() - 60 })}`,
      'token expired',
    ],
    [
      'nbf in the future',
      async () => `Bearer ${await acme.sign({ nbf: now() + 60 })}`,
      'nbf claim check failed',
    ],
    [
      'wrong audience',
      async () => `Bearer ${await acme.sign({ aud: 'urn:other' })}`,
      'aud claim check failed',
    ],
    [
      'iss of one trusted issuer, signed with the other one’s key',
      async () => `Bearer ${await globex.sign({ iss: acme.issuer }, { kid: acme.kid })}`,
      'signature verification failed',
    ],
    [
      'iss with a trailing slash',
      async () => `Bearer ${await acme.sign({ iss: `${acme.issuer}/` })}`,
      'untrusted issuer',
    ],
    ['an unlisted issuer', () => attacker.sign().then((t) => `Bearer ${t}`), 'untrusted issuer'],
    [
      'typ JWT (an ID token)',
      async () => `Bearer ${await acme.sign({}, { typ: 'JWT' })}`,
      'typ claim check failed',
    ],
    [
      'no typ at all',
      async () => `Bearer ${await acme.sign({}, { typ: undefined })}`,
      'typ claim check failed',
    ],
    [
      'missing sub',
      async () => `Bearer ${await acme.sign({ sub: undefined })}`,
      'sub claim check failed',
    ],
    [
      'missing exp',
      async () => `Bearer ${await acme.sign({ exp: undefined })}`,
      'exp claim check failed',
    ],
    [
      'a non-string sub',
      async () => `Bearer ${await acme.sign({ sub: 42 as unknown as string })}`,
      'sub claim check failed',
    ],
    [
      'a huge but validly signed token',
      async () => `Bearer ${await acme.sign({ padding: 'x'.repeat(10_000) })}`,
      'token too large',
    ],
    [
      'a huge garbage token',
      () => Promise.resolve(`Bearer ${'a'.repeat(12_000)}`),
      'token too large',
    ],
  ];

  it.each(cases)('%s', async (_name, authorization, description) => {
    const res = await getMe(api.origin, await authorization());
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer realm="demo-api"/);
    const body = (await res.json()) as { error: string };
    expect(challenge).toContain('error="invalid_token"');
    expect(body.error).toBe('invalid_token');
    if (description !== undefined) {
      expect(challenge).toContain(`error_description="${description}"`);
    }
  });

  it('never fetches keys from a jku in the token header', () => {
    expect(attacker.jwksHits()).toBe(0);
  });
});

describe('JWKS handling', () => {
  it('fetches the JWKS once for many requests, concurrent and sequential', async () => {
    const issuer = await startTestIssuer('fresh-key');
    cleanups.push(() => issuer.close());
    const { origin } = await startApi([trusted(issuer)]);
    const token = await issuer.sign();
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => getMe(origin, `Bearer ${token}`)),
    );
    for (let i = 0; i < 10; i += 1)
      expect((await getMe(origin, `Bearer ${token}`)).status).toBe(200);
    expect(concurrent.map((res) => res.status)).toEqual(Array(10).fill(200));
    expect(issuer.jwksHits()).toBe(1);
  });

  it('answers 401 while the issuer is down and recovers once it is up (keys loaded lazily)', async () => {
    // The issuer's port is held (connections reset: the issuer is down) until the issuer takes
    // it, so that no other socket can be given the port in between.
    const { port, release } = await holdPort();
    const { origin } = await startApi([
      {
        issuer: `http://localhost:${port}`,
        jwksUri: `http://localhost:${port}/jwks`,
        audience: AUDIENCE,
      },
    ]);
    const { privateKey } = await generateKeyPair('RS256');
    const early = await signAccessToken(
      privateKey,
      { iss: `http://localhost:${port}` },
      { kid: 'k' },
    );
    const down = await getMe(origin, `Bearer ${early}`);
    expect(down.status).toBe(401);
    expect(down.headers.get('www-authenticate')).toContain('signing keys unavailable');

    await release();
    const issuer = await startTestIssuer('late-key', port);
    cleanups.push(() => issuer.close());
    expect((await getMe(origin, `Bearer ${await issuer.sign()}`)).status).toBe(200);
  });
});

describe('options', () => {
  it.each([
    [{ algorithms: ['none'] }, /algorithms must not contain none or HS/],
    [{ algorithms: ['RS256', 'HS256'] }, /algorithms must not contain none or HS/],
    [{ algorithms: [] }, /algorithms must be a non-empty array/],
    [{ jwksUri: 'file:///etc/passwd' }, /jwksUri must be an http\(s\) URL/],
    [{ audience: [] }, /audience must be/],
  ])('refuses %j', (override, message) => {
    const issuer: TrustedIssuer = {
      issuer: 'http://localhost:1',
      jwksUri: 'http://localhost:1/jwks',
      audience: AUDIENCE,
    };
    expect(() => createDemoApiApp({ trustedIssuers: [{ ...issuer, ...override }] })).toThrow(
      message,
    );
  });

  it('refuses an empty allow-list and reports every problem at once', () => {
    expect(() => createDemoApiApp({ trustedIssuers: [] })).toThrow(/non-empty array/);
    const bad = { issuer: '', jwksUri: 'nope', audience: '' } as TrustedIssuer;
    expect(() => createDemoApiApp({ trustedIssuers: [bad] })).toThrow(/issuer.*jwksUri.*audience/);
  });
});

/** A port on 127.0.0.1 where every connection is reset, until `release` frees it. */
function holdPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const server = createServer((socket) => socket.resetAndDestroy());
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ port, release: () => new Promise((done) => server.close(() => done())) });
    });
  });
}
