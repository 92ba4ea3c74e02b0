import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type LoadConfigOptions } from '../src/config/load.ts';
import type { ConfigInput } from '../src/config/schema.ts';
import type { SessionRecord } from '../src/session/model.ts';
import { DownstreamTokenMinter, gatehouseSubject } from '../src/tokens/downstream-tokens.ts';
import { SigningKeyRing } from '../src/tokens/key-ring.ts';
import type { SigningKeyConfig } from '../src/tokens/signing-key-config.ts';

type Jwk = Record<string, unknown>;

const ecJwk = (namedCurve = 'P-256'): Jwk => ({
  ...generateKeyPairSync('ec', { namedCurve }).privateKey.export({ format: 'jwk' }),
});
const rsaJwk = (modulusLength = 2048): Jwk => ({
  ...generateKeyPairSync('rsa', { modulusLength }).privateKey.export({ format: 'jwk' }),
});
const publicPart = ({ d: _d, ...rest }: Jwk): Jwk => rest;

const secret = () => randomBytes(32).toString('base64url');
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'];

function productionEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    GATEHOUSE_MODE: 'production',
    PUBLIC_URL: 'https://app.example.com',
    SESSION_SECRET: secret(),
    GATEHOUSE_ENCRYPTION_KEYS: `k1:${secret()}`,
    REDIS_URL: 'redis://127.0.0.1:6379',
    ...extra,
  };
}

function devInput(overrides: Partial<ConfigInput> = {}): ConfigInput {
  return { mode: 'development', publicUrl: 'http://localhost:3000', ...overrides };
}

const gatehouseRoute = (overrides: Record<string, unknown> = {}) => ({
  prefix: '/api/orders',
  upstream: 'https://orders.internal.example',
  tokenMode: 'gatehouse' as const,
  audience: 'urn:orders',
  ...overrides,
});

function problemsOf(options: LoadConfigOptions): readonly string[] {
  try {
    loadConfig(options);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('loadConfig accepted the configuration');
}

describe('signing keys in the configuration', () => {
  it('development without keys: a per-process ES256 key with a loud warning', () => {
    const a = loadConfig({ env: {} });
    const b = loadConfig({ env: {} });
    expect(a.warnings.join('\n')).toMatch(/GATEHOUSE_SIGNING_KEYS is not set/);
    expect(a.config.signingKeys).toHaveLength(1);
    const [key] = a.config.signingKeys;
    expect(key?.privateJwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(typeof key?.privateJwk.d).toBe('string');
    expect(key?.kid).not.toBe(b.config.signingKeys[0]?.kid);
    expect(key?.privateJwk.d).not.toBe(b.config.signingKeys[0]?.privateJwk.d);
  });

  it('reads GATEHOUSE_SIGNING_KEYS as JSON and needs no warning then', () => {
    const jwk = rsaJwk();
    const keys = [
      { kid: 'k2', privateJwk: ecJwk() },
      { kid: 'k1', privateJwk: jwk, retiredAt: '2030-01-01T00:00:00Z' },
    ];
    const { config, warnings } = loadConfig({
      env: productionEnv({ GATEHOUSE_SIGNING_KEYS: JSON.stringify(keys) }),
      input: {
        mode: 'production',
        publicUrl: 'https://app.example.com',
        routes: [gatehouseRoute()],
      },
    });
    expect(warnings).toEqual([]);
    expect(config.signingKeys.map((k) => [k.kid, k.retiredAt])).toEqual([
      ['k2', undefined],
      ['k1', '2030-01-01T00:00:00Z'],
    ]);
    expect(Object.isFrozen(config.signingKeys[1]?.privateJwk)).toBe(true);
  });

  it('refuses GATEHOUSE_SIGNING_KEYS that is not a JSON array, without echoing it', () => {
    const leaked = '{"kid":"k1","privateJwk":{"d":"TOP-SECRET-VALUE"';
    const problems = problemsOf({ env: { GATEHOUSE_SIGNING_KEYS: leaked } });
    expect(problems.some((p) => p.startsWith('GATEHOUSE_SIGNING_KEYS: must be a JSON array'))).toBe(
      true,
    );
    expect(problems.join('\n')).not.toContain('TOP-SECRET-VALUE');
  });

  it('production: keys are required once a route uses tokenMode "gatehouse"', () => {
    const problems = problemsOf({
      env: productionEnv(),
      input: {
        mode: 'production',
        publicUrl: 'https://app.example.com',
        routes: [gatehouseRoute()],
      },
    });
    expect(problems).toContain(
      'GATEHOUSE_SIGNING_KEYS: required in production mode when a route uses tokenMode "gatehouse"',
    );
    // …and only then: without such a route nothing is generated and nothing is published.
    const { config } = loadConfig({ env: productionEnv() });
    expect(config.signingKeys).toEqual([]);
  });

  it('reports every key problem at once and never echoes private key material', () => {
    const dupe = ecJwk();
    const rsaShort = rsaJwk(1024);
    const signingKeys: Array<{ kid: string; privateJwk: Jwk; retiredAt?: string }> = [
      { kid: 'public-only', privateJwk: publicPart(ecJwk()) },
      { kid: 'dupe', privateJwk: dupe },
      { kid: 'dupe', privateJwk: ecJwk() },
      { kid: 'hmac', privateJwk: { kty: 'oct', k: secret(), alg: 'HS256' } },
      { kid: 'p384', privateJwk: ecJwk('P-384') },
      { kid: 'okp', privateJwk: { kty: 'OKP', crv: 'Ed25519', x: 'AA', d: 'AA' } },
      { kid: 'wrong-alg', privateJwk: { ...ecJwk(), alg: 'RS256' } },
      { kid: 'enc-use', privateJwk: { ...ecJwk(), use: 'enc' } },
      { kid: 'rsa-short', privateJwk: rsaShort },
      { kid: 'garbage', privateJwk: { kty: 'EC', crv: 'P-256', d: 'not-a-key' } },
      { kid: 'bad date', privateJwk: ecJwk(), retiredAt: 'yesterday' },
    ];
    const problems = problemsOf({ input: devInput({ signingKeys }) });
    // The kid and date shapes fail the schema first; the rest is checked once those are fixed.
    expect(problems).toContain('signingKeys.10.kid: must be 1-64 characters of A-Z a-z 0-9 . _ -');
    expect(problems).toContain('signingKeys.10.retiredAt: must be an ISO 8601 date-time');

    signingKeys.pop();
    const all = problemsOf({ input: devInput({ signingKeys }) });
    const expected: Array<[string, RegExp]> = [
      ['signingKeys.public-only.privateJwk', /is a public key/],
      ['signingKeys.dupe', /duplicate kid/],
      ['signingKeys.hmac.privateJwk', /key type not allowed/],
      ['signingKeys.p384.privateJwk', /key type not allowed/],
      ['signingKeys.okp.privateJwk', /key type not allowed/],
      ['signingKeys.wrong-alg.privateJwk', /alg not allowed/],
      ['signingKeys.enc-use.privateJwk', /use must be "sig"/],
      ['signingKeys.rsa-short.privateJwk', /RSA key too short/],
      ['signingKeys.garbage.privateJwk', /not a valid private JWK/],
    ];
    for (const [where, pattern] of expected) {
      expect(
        all.some((p) => p.startsWith(`${where}: `) && pattern.test(p)),
        where,
      ).toBe(true);
    }
    // The first of the two keys named dupe is sound: the only problem under that name is the kid.
    expect(all.filter((p) => p.startsWith('signingKeys.dupe'))).toEqual([
      'signingKeys.dupe: duplicate kid',
    ]);
    const text = all.join('\n');
    for (const jwk of [dupe, rsaShort]) {
      for (const member of PRIVATE_MEMBERS) {
        if (typeof jwk[member] === 'string') expect(text).not.toContain(jwk[member]);
      }
    }
  });

  it('needs one key that is never retired', () => {
    const problems = problemsOf({
      input: devInput({
        signingKeys: [{ kid: 'k1', privateJwk: ecJwk(), retiredAt: '2030-01-01T00:00:00Z' }],
      }),
    });
    expect(problems).toContain(
      'signingKeys: at least one key must have no retiredAt (it signs after rotation)',
    );
  });
});

describe('gatehouse routes in the configuration', () => {
  it('accepts an audience and a lifetime up to 300 s', () => {
    const { config } = loadConfig({
      input: devInput({ routes: [gatehouseRoute({ tokenLifetimeSeconds: 300 })] }),
    });
    expect(config.routes[0]).toMatchObject({ tokenMode: 'gatehouse', audience: 'urn:orders' });
  });

  it('refuses a token lifetime above 5 minutes', () => {
    const problems = problemsOf({
      input: devInput({ routes: [gatehouseRoute({ tokenLifetimeSeconds: 301 })] }),
    });
    expect(problems).toContain(
      'routes./api/orders.tokenLifetimeSeconds: must be at most 300 seconds (5 minutes)',
    );
  });

  it('requires an audience for "gatehouse" and refuses the token options elsewhere', () => {
    const problems = problemsOf({
      input: devInput({
        routes: [
          gatehouseRoute({ audience: undefined }),
          gatehouseRoute({
            prefix: '/api/users',
            tokenMode: 'user',
            tokenLifetimeSeconds: 60,
          }),
        ],
      }),
    });
    expect(problems).toEqual([
      'routes./api/orders.audience: required for tokenMode "gatehouse"',
      'routes./api/users.audience: only allowed with tokenMode "gatehouse"',
      'routes./api/users.tokenLifetimeSeconds: only allowed with tokenMode "gatehouse"',
    ]);
  });
});

function ringOf(keys: SigningKeyConfig[], clock: () => number): SigningKeyRing {
  return new SigningKeyRing(keys, clock);
}

describe('SigningKeyRing', () => {
  const T0 = Date.parse('2030-01-01T00:00:00Z');

  it('publishes public members only, with kid, alg and use', () => {
    const ring = ringOf(
      [
        { kid: 'ec', privateJwk: ecJwk() },
        { kid: 'rsa', privateJwk: rsaJwk() },
      ],
      () => T0,
    );
    const { keys } = ring.jwks();
    expect(keys.map((k) => Object.keys(k).sort())).toEqual([
      ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'],
      ['alg', 'e', 'kid', 'kty', 'n', 'use'],
    ]);
    expect(keys.map((k) => [k.kid, k.alg, k.use])).toEqual([
      ['ec', 'ES256', 'sig'],
      ['rsa', 'RS256', 'sig'],
    ]);
  });

  it('keeps a retired key published for the maximum token lifetime, then drops it', () => {
    let now = T0;
    const ring = ringOf(
      [
        { kid: 'k2', privateJwk: ecJwk() },
        { kid: 'k1', privateJwk: ecJwk(), retiredAt: new Date(T0).toISOString() },
      ],
      () => now,
    );
    expect(ring.signingKey().kid).toBe('k2');
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual(['k2', 'k1']);
    now = T0 + 299_999;
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual(['k2', 'k1']);
    now = T0 + 300_000;
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual(['k2']);
  });

  it('a scheduled rotation publishes the next key before it signs', () => {
    let now = T0 - 60_000;
    const ring = ringOf(
      [
        { kid: 'k1', privateJwk: ecJwk(), retiredAt: new Date(T0).toISOString() },
        { kid: 'k2', privateJwk: ecJwk() },
      ],
      () => now,
    );
    expect(ring.signingKey().kid).toBe('k1');
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual(['k1', 'k2']);
    now = T0;
    expect(ring.signingKey().kid).toBe('k2');
  });
});

function sessionRecord(overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    v: 2,
    tenant: 'acme',
    provider: 'dev',
    issuer: 'https://idp.acme.example',
    user: 'alice-digest',
    claims: JSON.stringify({ sub: 'alice', email: 'alice@acme.test', roles: ['gatehouse-admin'] }),
    tokens: 'sealed',
    accessTokenExpiresAtMs: 0,
    createdAtMs: 0,
    lastSeenAtMs: 0,
    absoluteExpiresAtMs: 0,
    handle: 'h',
    device: 'd',
    ...overrides,
  };
}

describe('DownstreamTokenMinter', () => {
  const T0 = Date.parse('2030-01-01T00:00:00Z');

  function setup(options: { maxCachedTokens?: number } = {}) {
    const clock = { now: T0 };
    const ring = ringOf([{ kid: 'k1', privateJwk: rsaJwk() }], () => clock.now);
    const minter = new DownstreamTokenMinter({
      keys: ring,
      issuer: 'https://app.example.com',
      clock: () => clock.now,
      // The fixtures' claims are plain JSON (the vault's sealing has its own tests).
      openClaims: (session) =>
        Promise.resolve(JSON.parse(session.claims) as Record<string, unknown>),
      ...options,
    });
    const verify = (token: string) =>
      jwtVerify(token, createLocalJWKSet(ring.jwks()), {
        issuer: 'https://app.example.com',
        currentDate: new Date(clock.now),
        typ: 'at+jwt',
        algorithms: ['RS256'],
      });
    return { clock, minter, verify };
  }

  it('mints an RS256 at+jwt with the identity claims and the route lifetime', async () => {
    const { minter, verify } = setup();
    const token = await minter.tokenFor({
      sessionId: 's1',
      session: sessionRecord(),
      audience: 'urn:orders',
      lifetimeSeconds: 60,
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', kid: 'k1', typ: 'at+jwt' });
    const { payload } = await verify(token);
    expect(payload).toMatchObject({
      iss: 'https://app.example.com',
      aud: 'urn:orders',
      sub: gatehouseSubject({ tenant: 'acme', issuer: 'https://idp.acme.example', sub: 'alice' }),
      idp_sub: 'alice',
      tenant: 'acme',
      provider: 'dev',
      idp_iss: 'https://idp.acme.example',
      email: 'alice@acme.test',
      roles: ['gatehouse-admin'],
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(60);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('leaves out email and roles the session does not have, and odd-shaped roles', async () => {
    const { minter, verify } = setup();
    const token = await minter.tokenFor({
      sessionId: 's1',
      session: sessionRecord({ claims: JSON.stringify({ sub: 'alice', roles: ['ok', 42] }) }),
      audience: 'urn:orders',
    });
    const { payload } = await verify(token);
    expect(payload).not.toHaveProperty('email');
    expect(payload).not.toHaveProperty('roles');
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);
  });

  it('reuses a token per (session, audience) until a minute before expiry', async () => {
    const { clock, minter } = setup();
    const request = { sessionId: 's1', session: sessionRecord(), audience: 'urn:orders' };
    const first = await minter.tokenFor(request);
    expect(await minter.tokenFor(request)).toBe(first);
    expect(await minter.tokenFor({ ...request, audience: 'urn:other' })).not.toBe(first);
    expect(await minter.tokenFor({ ...request, sessionId: 's2' })).not.toBe(first);
    clock.now = T0 + 239_000;
    expect(await minter.tokenFor(request)).toBe(first);
    clock.now = T0 + 240_000;
    expect(await minter.tokenFor(request)).not.toBe(first);
  });

  it('never hands one identity a token cached for another under the same session id', async () => {
    const { minter, verify } = setup();
    const base = { sessionId: 's1', audience: 'urn:orders' };
    await minter.tokenFor({ ...base, session: sessionRecord() });
    const other = await minter.tokenFor({
      ...base,
      session: sessionRecord({
        user: 'mallory-digest',
        claims: JSON.stringify({ sub: 'mallory' }),
        issuer: 'https://idp.evil.example',
      }),
    });
    expect((await verify(other)).payload).toMatchObject({
      idp_sub: 'mallory',
      idp_iss: 'https://idp.evil.example',
    });
  });

  it('keeps the cache bounded, evicting the least recently used', async () => {
    const { minter } = setup({ maxCachedTokens: 2 });
    const forSession = (sessionId: string) =>
      minter.tokenFor({ sessionId, session: sessionRecord(), audience: 'urn:orders' });
    const a = await forSession('a');
    const b = await forSession('b');
    expect(await forSession('a')).toBe(a); // a is now the most recent
    await forSession('c'); // evicts b
    expect(minter.size).toBe(2);
    expect(await forSession('a')).toBe(a);
    expect(await forSession('b')).not.toBe(b);
  });
});
