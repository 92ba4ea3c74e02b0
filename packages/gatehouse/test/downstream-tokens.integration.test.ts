import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { gatehouseInternals } from '@gatehouse/core/testing';
import { loadConfig } from '../src/config/load.ts';
import type { ConfigInput } from '../src/config/schema.ts';
import { createGatehouse } from '../src/gatehouse.ts';
import { createLogger } from '../src/observability/logger.ts';
import { gatehouseSubject } from '../src/tokens/downstream-tokens.ts';

/**
 * The `gatehouse` token mode over real HTTP: the dev IdP signs users in, Gatehouse mints its own
 * short-lived `at+jwt` for the route's audience, and the demo API verifies it against
 * Gatehouse's `/.well-known/jwks.json`.
 */

const csrf = { 'x-csrf': '1' };
const DEMO_AUDIENCE = 'urn:gatehouse:demo-api';
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'];

interface MeAnswer {
  sub: string;
  iss: string;
  aud: string;
  claims: JWTPayload & Record<string, unknown>;
}

/** A clock the tests move forward; everything else in the stack keeps real time. */
function controllableClock() {
  const state = { offsetMs: 0 };
  return { state, now: () => Date.now() + state.offsetMs };
}

async function me(http: CookieFetch, origin: string, prefix = '/api/demo-gh'): Promise<MeAnswer> {
  const res = await http(`${origin}${prefix}/me`, { headers: csrf });
  expect(res.status).toBe(200);
  return (await res.json()) as MeAnswer;
}

async function callDemoApi(stack: Stack, token: string): Promise<Response> {
  return fetch(`${stack.api.origin}/me`, { headers: { authorization: `Bearer ${token}` } });
}

function routeUpstream(input: ConfigInput): string {
  const upstream = input.routes?.[0]?.upstream;
  if (!upstream) throw new Error('the dev config has a demo route');
  return upstream;
}

describe('gatehouse token mode (memory stores)', () => {
  const clock = controllableClock();
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      deps: { clock: clock.now },
      configure: (input) => ({
        ...input,
        routes: [
          ...(input.routes ?? []),
          // Same API, another audience: its tokens must not be accepted there.
          {
            prefix: '/api/other-gh',
            upstream: routeUpstream(input),
            tokenMode: 'gatehouse',
            audience: 'urn:gatehouse:other-api',
            tokenLifetimeSeconds: 60,
          },
        ],
      }),
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('serves only the public parts of the signing keys, cacheable for 5 minutes', async () => {
    const res = await fetch(`${stack.origin}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.headers.get('set-cookie')).toBeNull();
    const { keys } = (await res.json()) as { keys: Array<Record<string, unknown>> };
    const configured = gatehouseInternals(stack.gatehouses[0]!.gatehouse).config.signingKeys;
    expect(keys.map((k) => k.kid)).toEqual(configured.map((k) => k.kid));
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      for (const member of PRIVATE_MEMBERS) expect(key).not.toHaveProperty(member);
    }
    const body = JSON.stringify(keys);
    for (const key of configured) expect(body).not.toContain(String(key.privateJwk.d));
  });

  it('refuses a gatehouse-mode call without a session (401, nothing forwarded)', async () => {
    const res = await fetch(`${stack.origin}/api/demo-gh/me`, { headers: csrf });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(((await res.json()) as { code: string }).code).toBe('unauthenticated');
  });

  it('reaches the demo API with a Gatehouse-signed token it verifies', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    const answer = await me(http, stack.origin);
    expect(answer.iss).toBe(stack.origin);
    expect(answer.aud).toBe(DEMO_AUDIENCE);
    expect(answer.sub).toBe(
      gatehouseSubject({ tenant: 'acme', issuer: stack.idp.issuer(''), sub: 'alice' }),
    );
    expect(answer.claims).toMatchObject({
      tenant: 'acme',
      provider: 'dev',
      idp_iss: stack.idp.issuer(''),
      idp_sub: 'alice',
      email: 'alice@acme.test',
      roles: ['gatehouse-admin'],
    });
    expect(typeof answer.claims.jti).toBe('string');
    expect((answer.claims.exp ?? 0) - (answer.claims.iat ?? 0)).toBe(300);

    // The user mode on the same API still carries the IdP's own token.
    const viaIdp = await me(http, stack.origin, '/api/demo');
    expect(viaIdp.iss).toBe(stack.idp.issuer(''));
  });

  it('carries the other tenant and its issuer for a globex user', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'dave', password: 'dave' }, { tenant: 'globex' });
    const answer = await me(http, stack.origin);
    expect(answer.claims.idp_sub).toBe('dave');
    expect(answer.sub).toBe(
      gatehouseSubject({ tenant: 'globex', issuer: stack.idp.issuer('/globex'), sub: 'dave' }),
    );
    expect(answer.claims).toMatchObject({ tenant: 'globex', idp_iss: stack.idp.issuer('/globex') });
    expect(answer.claims.roles).toEqual([]);
    expect(answer.claims.email).toBe('dave@globex.test');
  });

  it('gives the same IdP sub in two tenants two different subjects (no cross-tenant identity)', () => {
    const shared = { issuer: 'https://idp.example', sub: 'alice' };
    expect(gatehouseSubject({ ...shared, tenant: 'acme' })).not.toBe(
      gatehouseSubject({ ...shared, tenant: 'evil' }),
    );
    expect(gatehouseSubject({ ...shared, tenant: 'acme' })).not.toBe(
      gatehouseSubject({ tenant: 'acme', issuer: 'https://other-idp.example', sub: 'alice' }),
    );
    expect(gatehouseSubject({ ...shared, tenant: 'acme' })).toBe(
      gatehouseSubject({ ...shared, tenant: 'acme' }),
    );
  });

  it('reuses one token per session until near expiry, then mints a new one', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
    const first = await me(http, stack.origin);
    const second = await me(http, stack.origin);
    expect(second.claims.jti).toBe(first.claims.jti);

    const otherSession = createCookieFetch();
    await signIn(otherSession, stack.origin, { login: 'bob', password: 'bob' });
    expect((await me(otherSession, stack.origin)).claims.jti).not.toBe(first.claims.jti);

    try {
      clock.state.offsetMs = 230_000; // 70 s left: still reused
      expect((await me(http, stack.origin)).claims.jti).toBe(first.claims.jti);
      clock.state.offsetMs = 250_000; // 50 s left: renewed
      const renewed = await me(http, stack.origin);
      expect(renewed.claims.jti).not.toBe(first.claims.jti);
      expect(renewed.claims.iat).toBeGreaterThan(first.claims.iat ?? Infinity);
    } finally {
      clock.state.offsetMs = 0;
    }
  });

  it('is refused by the demo API on a route with another audience', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    const res = await http(`${stack.origin}/api/other-gh/me`, { headers: csrf });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      error: 'invalid_token',
      error_description: 'aud claim check failed',
    });
  });

  describe('hostile tokens at the demo API', () => {
    const signingKey = () => {
      const key = gatehouseInternals(stack.gatehouses[0]!.gatehouse).config.signingKeys[0];
      if (!key) throw new Error('no signing key');
      return key;
    };
    const claims = () => ({
      iss: stack.origin,
      aud: DEMO_AUDIENCE,
      sub: 'alice',
      tenant: 'acme',
      exp: Math.floor(Date.now() / 1000) + 120,
    });
    const sign = async (
      privateJwk: Record<string, unknown>,
      header: { alg: string; kid: string; typ: string },
      payload: Record<string, unknown> = claims(),
    ) =>
      new SignJWT(payload).setProtectedHeader(header).sign(await importJWK(privateJwk, header.alg));
    const foreignKey = () => ({
      ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
    });

    async function expectRefused(token: string, description: string): Promise<void> {
      const res = await callDemoApi(stack, token);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error_description: string }).error_description).toBe(
        description,
      );
    }

    it('accepts a correctly signed token (control case for the refusals below)', async () => {
      const { kid, privateJwk } = signingKey();
      const res = await callDemoApi(
        stack,
        await sign(privateJwk, { alg: 'ES256', kid, typ: 'at+jwt' }),
      );
      expect(res.status).toBe(200);
    });

    it('refuses a token signed by an unknown key', async () => {
      await expectRefused(
        await sign(foreignKey(), { alg: 'ES256', kid: 'not-ours', typ: 'at+jwt' }),
        'no matching signing key',
      );
    });

    it("refuses a token signed by another key under Gatehouse's kid", async () => {
      await expectRefused(
        await sign(foreignKey(), { alg: 'ES256', kid: signingKey().kid, typ: 'at+jwt' }),
        'signature verification failed',
      );
    });

    it('refuses a token without typ at+jwt and one for another audience', async () => {
      const { kid, privateJwk } = signingKey();
      await expectRefused(
        await sign(privateJwk, { alg: 'ES256', kid, typ: 'JWT' }),
        'typ claim check failed',
      );
      await expectRefused(
        await sign(
          privateJwk,
          { alg: 'ES256', kid, typ: 'at+jwt' },
          { ...claims(), aud: 'urn:gatehouse:other-api' },
        ),
        'aud claim check failed',
      );
    });

    it('refuses an unsigned (alg none) token', async () => {
      const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
      const unsigned = `${encode({ alg: 'none', typ: 'at+jwt' })}.${encode(claims())}.`;
      const res = await callDemoApi(stack, unsigned);
      expect(res.status).toBe(401);
    });
  });

  // Last: it moves the clock past the idle timeout.
  it('stops minting once the session has ended (401 session_expired)', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    await me(http, stack.origin);
    const idleMs =
      gatehouseInternals(stack.gatehouses[0]!.gatehouse).config.session.idleTimeoutSeconds * 1000;
    clock.state.offsetMs = idleMs + 1000;
    try {
      const res = await http(`${stack.origin}/api/demo-gh/me`, { headers: csrf });
      expect(res.status).toBe(401);
    } finally {
      clock.state.offsetMs = 0;
    }
  });
});

/** A tiny upstream that answers with the Authorization header it was sent (what a route forwards). */
async function startTokenCapture(): Promise<{ origin: string; server: Server }> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ authorization: req.headers.authorization ?? null }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://localhost:${(server.address() as AddressInfo).port}`, server };
}

async function capturedToken(http: CookieFetch, origin: string): Promise<string> {
  const res = await http(`${origin}/api/capture/token`, { headers: csrf });
  expect(res.status).toBe(200);
  const { authorization } = (await res.json()) as { authorization: string | null };
  const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  if (!token) throw new Error('no bearer token forwarded');
  return token;
}

async function publishedKids(origin: string): Promise<string[]> {
  const { keys } = (await (await fetch(`${origin}/.well-known/jwks.json`)).json()) as {
    keys: Array<{ kid: string }>;
  };
  return keys.map((k) => k.kid);
}

describe('gatehouse token mode (Redis): budget and key rotation across a restart', () => {
  const clock = controllableClock();
  const k1 = { kid: 'k1', privateJwk: ecPrivateJwk() };
  const k2 = { kid: 'k2', privateJwk: rsaPrivateJwk() };
  let redis: RedisServer;
  let capture: { origin: string; server: Server };
  let stack: Stack;

  beforeAll(async () => {
    redis = await startRedisServer();
    capture = await startTokenCapture();
    stack = await startStack({
      redis,
      deps: { clock: clock.now },
      configure: (input) => ({
        ...input,
        signingKeys: [k1],
        routes: [
          ...(input.routes ?? []),
          {
            prefix: '/api/capture',
            upstream: capture.origin,
            tokenMode: 'gatehouse',
            audience: DEMO_AUDIENCE,
          },
        ],
      }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    capture?.server.closeAllConnections();
    await new Promise((resolve) => capture?.server.close(resolve));
    await redis?.stop();
  });

  it('rotates: k2 signs, retired k1 stays published until its tokens expired, then drops out', async () => {
    // Until the restart the demo API sees no Gatehouse token (the capture upstream takes it), so
    // its first JWKS fetch comes after k2 is published: jose re-fetches a JWKS for an unknown
    // kid at most every 30 s, which is why operators should publish a key before it signs.
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    const oldToken = await capturedToken(http, stack.origin);
    expect(decodeProtectedHeader(oldToken)).toMatchObject({ kid: 'k1', alg: 'ES256' });
    expect(await publishedKids(stack.origin)).toEqual(['k1']);

    const retiredAt = new Date(clock.now()).toISOString();
    await restartFirstInstance(stack, clock.now, (config) => ({
      ...config,
      signingKeys: [k2, { ...k1, retiredAt }],
    }));

    // The session lives in Redis, so it survives the restart.
    const newToken = await capturedToken(http, stack.origin);
    expect(decodeProtectedHeader(newToken)).toMatchObject({ kid: 'k2', alg: 'RS256' });
    expect(await publishedKids(stack.origin)).toEqual(['k2', 'k1']);
    const viaRoute = await me(http, stack.origin);
    expect(viaRoute.claims.iss).toBe(stack.origin);

    // A token k1 signed before the rotation still verifies at the demo API.
    const old = await callDemoApi(stack, oldToken);
    expect(old.status).toBe(200);
    expect(((await old.json()) as MeAnswer).claims.jti).toBe(decodeJwt(oldToken).jti);

    try {
      clock.state.offsetMs = 299_000;
      expect(await publishedKids(stack.origin)).toEqual(['k2', 'k1']);
      clock.state.offsetMs = 301_000;
      expect(await publishedKids(stack.origin)).toEqual(['k2']);
      const later = await capturedToken(http, stack.origin);
      expect(decodeProtectedHeader(later).kid).toBe('k2');
    } finally {
      clock.state.offsetMs = 0;
    }
  });

  it('costs one Redis read and no write per gatehouse-mode request at steady state', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
    const warm = await me(http, stack.origin); // warm: pools, the demo API's JWKS cache
    await redis.resetStats();
    const rounds = 10;
    for (let i = 0; i < rounds; i += 1) {
      expect((await me(http, stack.origin)).claims.jti).toBe(warm.claims.jti);
    }
    expect(await redis.commandCounts()).toEqual({ get: rounds });
  });
});

function ecPrivateJwk(): Record<string, unknown> {
  return {
    ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
  };
}

function rsaPrivateJwk(): Record<string, unknown> {
  return {
    ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  };
}

/**
 * A deploy with a changed config: the first instance stops and a new one starts on the same
 * port (and Redis), so the stack's origin, sessions and the demo API's trust stay the same.
 */
async function restartFirstInstance(
  stack: Stack,
  clock: () => number,
  change: (config: ConfigInput) => ConfigInput,
): Promise<void> {
  const running = stack.gatehouses[0];
  if (!running) throw new Error('no instance');
  const { port } = running.server.address() as AddressInfo;
  running.server.closeAllConnections();
  await new Promise((resolve) => running.server.close(resolve));
  await running.gatehouse.close();

  const { secureCookies: _derived, ...plain } = structuredClone(
    gatehouseInternals(running.gatehouse).config,
  );
  const { config } = loadConfig({ input: change(plain) });
  const gatehouse = createGatehouse(config, { clock, logger: createLogger('silent') });
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = gatehouse.app.listen(port, '127.0.0.1', () => resolve(listening));
    listening.once('error', reject);
  });
  stack.gatehouses[0] = {
    origin: running.origin,
    publicOrigin: running.publicOrigin,
    gatehouse,
    server,
  };
}
