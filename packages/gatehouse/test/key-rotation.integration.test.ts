// Key rotation without downtime, as the README's procedure runs it: two Gatehouse instances
// sharing one real Redis, rolled one at a time through add → promote → retire of the
// encryption keys, the cookie secrets and the signing keys, with signed-in users calling the
// API on both instances at every step.
import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { pino } from 'pino';
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
import { createGatehouse, loadConfig, type Gatehouse } from '../src/index.ts';

const encryptionKey = (kid: string) => `${kid}:${randomBytes(32).toString('base64url')}`;
const signingKey = (kid: string) => ({
  kid,
  privateJwk: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
    format: 'jwk',
  }),
});

const K1 = encryptionKey('k1');
const K2 = encryptionKey('k2');
const S1 = randomBytes(32).toString('hex');
const S2 = randomBytes(32).toString('hex');
const G1 = signingKey('g1');
const G2 = signingKey('g2');

/** The key settings of one instance: each list current first, as the variables take them. */
interface Keys {
  encryption: string[];
  secrets: string[];
  signing: Array<ReturnType<typeof signingKey>>;
}

const STEPS = {
  before: { encryption: [K1], secrets: [S1], signing: [G1] },
  // 1. Add the new keys second: they decrypt, verify and are published, nothing uses them yet.
  added: { encryption: [K1, K2], secrets: [S1, S2], signing: [G1, G2] },
  // 2. Promote them first: the new keys encrypt, sign cookies and tokens.
  promoted: { encryption: [K2, K1], secrets: [S2, S1], signing: [G2, G1] },
  // 3. Retire the old ones (after the longest session lifetime).
  retired: { encryption: [K2], secrets: [S2], signing: [G2] },
} satisfies Record<string, Keys>;

interface Instance {
  origin: string;
  port: number;
  gatehouse: Gatehouse;
  server: Server;
}

let redis: RedisServer;
let stack: Stack;
let upstream: { origin: string; received: IncomingHttpHeaders[]; server: Server };
const instances: Instance[] = [];

/** One instance on `port` with `keys`, its PUBLIC_URL and its callback registered at the IdP. */
async function startInstance(port: number, keys: Keys): Promise<Instance> {
  const origin = `http://localhost:${port}`;
  const { config } = loadConfig({
    env: {
      GATEHOUSE_MODE: 'development',
      PUBLIC_URL: origin,
      DEV_IDP_ORIGIN: stack.idp.origin,
      // /api/demo (tokenMode user) and /api/demo-gh (Gatehouse-signed) go to the recorder.
      DEMO_API_URL: upstream.origin,
      REDIS_URL: redis.url,
      SESSION_SECRET: keys.secrets.join(','),
      GATEHOUSE_ENCRYPTION_KEYS: keys.encryption.join(','),
      GATEHOUSE_SIGNING_KEYS: JSON.stringify(keys.signing),
    },
  });
  const gatehouse = createGatehouse(config, { logger: pino({ level: 'silent' }) });
  const server = await gatehouse.listen(port, '127.0.0.1');
  return { origin, port, gatehouse, server };
}

async function stopInstance(instance: Instance): Promise<void> {
  instance.server.closeAllConnections();
  await new Promise((resolve) => instance.server.close(resolve));
  await instance.gatehouse.close();
}

/** A rolling restart of one instance: stopped, started again on its port with `keys`. */
async function roll(index: number, keys: Keys): Promise<void> {
  const current = instances[index];
  if (!current) throw new Error(`no instance ${index}`);
  await stopInstance(current);
  instances[index] = await startInstance(current.port, keys);
}

const at = (index: number) => {
  const instance = instances[index];
  if (!instance) throw new Error(`no instance ${index}`);
  return instance.origin;
};

/** An API call through instance `index` with the user's session; the status it got. */
async function apiStatus(http: CookieFetch, index: number): Promise<number> {
  const res = await http(`${at(index)}/api/demo/me`, { headers: { 'x-csrf': '1' } });
  await res.arrayBuffer();
  return res.status;
}

/** The Gatehouse-signed token instance `index` sends upstream for this user. */
async function signedToken(http: CookieFetch, index: number): Promise<string> {
  const res = await http(`${at(index)}/api/demo-gh/me`, { headers: { 'x-csrf': '1' } });
  expect(res.status).toBe(200);
  const authorization = upstream.received.at(-1)?.authorization ?? '';
  return authorization.replace(/^Bearer /, '');
}

async function jwks(index: number): Promise<JSONWebKeySet> {
  return (await (await fetch(`${at(index)}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
}

/**
 * The user's session cookie (`name=s:<id>.<signature>`, express-session's format) signed with
 * `secret` instead, as cookie-signature signs it: HMAC-SHA256, base64 without padding.
 */
async function cookieSignedWith(http: CookieFetch, secret: string): Promise<string> {
  const cookies = await http.jar.getCookies(at(0));
  const session = cookies.find((cookie) => decodeURIComponent(cookie.value).startsWith('s:'));
  if (!session) throw new Error('no session cookie');
  const sid = decodeURIComponent(session.value).slice(2).split('.')[0] ?? '';
  const signature = createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '');
  return `${session.key}=${encodeURIComponent(`s:${sid}.${signature}`)}`;
}

async function statusWithCookie(cookie: string, index: number): Promise<number> {
  const res = await fetch(`${at(index)}/api/demo/me`, { headers: { cookie, 'x-csrf': '1' } });
  await res.arrayBuffer();
  return res.status;
}

/** The `kid` each stored session's tokens are sealed under (read from Redis). */
async function sealingKeyIds(): Promise<string[]> {
  const client = redis.client();
  try {
    const kids: string[] = [];
    for (const key of await client.keys('gh:sess:*')) {
      const raw = await client.get(key);
      const tokens = raw ? (JSON.parse(raw) as { gh?: { tokens?: string } }).gh?.tokens : undefined;
      if (tokens) kids.push(String(decodeProtectedHeader(tokens).kid));
    }
    return kids;
  } finally {
    client.disconnect();
  }
}

/** Signs a user in through instance `index` (whose callback the IdP knows). */
async function signedInUser(login: string, index: number): Promise<CookieFetch> {
  const http = createCookieFetch();
  await signIn(http, at(index), { login, password: login });
  return http;
}

beforeAll(async () => {
  redis = await startRedisServer();
  const received: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    received.push(req.headers);
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  upstream = {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    server,
  };
  // The stack brings the dev IdP with the callbacks of two instances; its own Gatehouses are
  // replaced by ours, on the same ports, which take their keys from this test.
  stack = await startStack({ redis, instances: 2 });
  for (const running of stack.gatehouses) {
    running.server.closeAllConnections();
    await new Promise((resolve) => running.server.close(resolve));
    await running.gatehouse.close();
  }
  for (const running of stack.gatehouses) {
    const port = Number(new URL(running.origin).port);
    instances.push(await startInstance(port, STEPS.before));
  }
}, 60_000);

afterAll(async () => {
  for (const instance of instances) await stopInstance(instance).catch(() => undefined);
  await stack?.api.close();
  await stack?.idp.close();
  await new Promise((resolve) => upstream?.server.close(resolve));
  await redis?.stop();
});

describe('key rotation across two instances sharing Redis', () => {
  it('keeps sessions valid through add, promote and retire, and refuses retired data cleanly', async () => {
    // Before: alice signs in; her tokens are sealed under k1, her cookie signed with S1.
    const alice = await signedInUser('alice', 0);
    expect([await apiStatus(alice, 0), await apiStatus(alice, 1)]).toEqual([200, 200]);
    // alice on a second device, also sealed under k1: after the retirement below, this one's
    // first call is the SPA's own `/bff/user` (claims, not tokens).
    const aliceOnPhone = await signedInUser('alice', 0);

    // 1. Add: roll each instance with the new keys second. Mixed fleets are fine at every
    //    point, since nothing is written with a new key yet.
    await roll(1, STEPS.added);
    expect([await apiStatus(alice, 0), await apiStatus(alice, 1)]).toEqual([200, 200]);
    await roll(0, STEPS.added);
    expect([await apiStatus(alice, 0), await apiStatus(alice, 1)]).toEqual([200, 200]);
    // Both publish the new signing key before any instance signs with it.
    for (const index of [0, 1]) {
      expect((await jwks(index)).keys.map((key) => key.kid).sort()).toEqual(['g1', 'g2']);
      const token = await signedToken(alice, index);
      expect(decodeProtectedHeader(token).kid).toBe('g1');
    }

    // 2. Promote, one instance at a time. Instance 1 now writes with the new keys while
    //    instance 0 still runs the "added" lists: what either writes, both read.
    await roll(1, STEPS.promoted);
    expect([await apiStatus(alice, 0), await apiStatus(alice, 1)]).toEqual([200, 200]);
    // bob signs in on the promoted instance: tokens sealed under k2, cookie signed with S2.
    const bob = await signedInUser('bob', 1);
    expect((await sealingKeyIds()).sort()).toEqual(['k1', 'k1', 'k2']); // alice's two, bob's
    expect([await apiStatus(bob, 1), await apiStatus(bob, 0)]).toEqual([200, 200]);
    // A token signed with g2 by instance 1 verifies against instance 0's JWKS too.
    const fromPromoted = await signedToken(bob, 1);
    expect(decodeProtectedHeader(fromPromoted).kid).toBe('g2');
    await expect(jwtVerify(fromPromoted, createLocalJWKSet(await jwks(0)))).resolves.toBeDefined();
    await roll(0, STEPS.promoted);
    for (const user of [alice, bob]) {
      expect([await apiStatus(user, 0), await apiStatus(user, 1)]).toEqual([200, 200]);
    }
    expect(decodeProtectedHeader(await signedToken(alice, 0)).kid).toBe('g2');

    // 3a. Retire the old encryption key (after the longest session lifetime): alice's tokens,
    //     still sealed under k1, are gone for good. She is asked to sign in again (401
    //     session_expired), never answered with a 500; bob, sealed under k2, carries on.
    const retiredEncryption = { ...STEPS.promoted, encryption: [K2] };
    await roll(1, retiredEncryption);
    await roll(0, retiredEncryption);
    const refused = await alice(`${at(0)}/api/demo/me`, { headers: { 'x-csrf': '1' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('gatehouse-problem')).toBe('session_expired');
    expect(((await refused.json()) as { code?: string }).code).toBe('session_expired');
    // Her session has ended: the other instance does not know her either.
    expect((await alice(`${at(1)}/bff/user`)).status).toBe(401);
    // Her other session's claims are sealed under k1 too: `/bff/user` ends it alike (401
    // session_expired, never a 500), and so does the sessions page.
    const user = await aliceOnPhone(`${at(0)}/bff/user`);
    expect(user.status).toBe(401);
    expect(((await user.json()) as { code?: string }).code).toBe('session_expired');
    expect((await aliceOnPhone(`${at(1)}/bff/sessions`)).status).toBe(401);
    for (const index of [0, 1]) expect(await apiStatus(bob, index)).toBe(200);

    // 3b. Retire the old cookie secret and signing key: bob carries on; his cookie signed with
    //     the retired secret is not a session any more (401, sign in again).
    // bob's session cookie as the old secret signs it: still accepted before the retirement.
    const resignedWithS1 = await cookieSignedWith(bob, S1);
    expect(await statusWithCookie(resignedWithS1, 0)).toBe(200);
    await roll(1, STEPS.retired);
    await roll(0, STEPS.retired);
    expect(await statusWithCookie(resignedWithS1, 0)).toBe(401);
    expect(await statusWithCookie(resignedWithS1, 1)).toBe(401);
    for (const index of [0, 1]) {
      expect(await apiStatus(bob, index)).toBe(200);
      expect((await jwks(index)).keys.map((key) => key.kid)).toEqual(['g2']);
    }
    // Signing in again works on the retired lists, with the new keys.
    const aliceAgain = await signedInUser('alice', 0);
    expect([await apiStatus(aliceAgain, 0), await apiStatus(aliceAgain, 1)]).toEqual([200, 200]);
    expect((await sealingKeyIds()).sort()).toEqual(['k2', 'k2']);
  }, 120_000);
});
