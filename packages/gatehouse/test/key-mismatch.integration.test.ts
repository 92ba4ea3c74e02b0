// Two instances on one real Redis with the same encryption kid but other bytes (a typo, a
// regenerated secret). The second one's key check finds the mismatch (the server process exits
// 2 on it: apps/server/test/key-check.test.ts); an instance that runs anyway — the library does
// not exit — must not end the sessions it cannot open, which are fine for the rest of the fleet:
// 503 `encryption_key_mismatch`, counted, the session kept and still working where the key is
// right. A value damaged under the fleet's own key is no mismatch: it ends its session (401).
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import {
  createCookieFetch,
  freePort,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { createGatehouse, loadConfig } from '../src/index.ts';
import { startBesideStack, type BesideInstance } from './support/beside-stack.ts';
import { damaged } from './support/damaged.ts';

let redis: RedisServer;
let stack: Stack;
/** The instance whose `test1` key has other bytes than the stack's. */
let other: BesideInstance;

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startStack({ redis });
  other = await startBesideStack(stack, redis, {
    GATEHOUSE_ENCRYPTION_KEYS: `test1:${randomBytes(32).toString('base64url')}`,
    // Counted (the registry exists); nothing listens.
    METRICS_PORT: String(await freePort()),
  });
}, 60_000);

afterAll(async () => {
  await other?.close();
  await stack?.close();
  await redis?.stop();
});

const csrf = { 'x-csrf': '1' };

async function sessionKeys(): Promise<string[]> {
  const client = redis.client();
  try {
    return (await client.keys('gh:sess:*')).sort();
  } finally {
    client.disconnect();
  }
}

async function mismatchCount(): Promise<number> {
  const snapshot = await other.gatehouse.metricsSnapshot();
  const family = snapshot.find(
    (metric) => metric.name === 'gatehouse_encryption_key_mismatches_total',
  );
  return (family?.values ?? [])
    .filter((value) => value.labels.kid === 'test1')
    .reduce((sum, value) => sum + value.value, 0);
}

async function signedIn(): Promise<CookieFetch> {
  const http = createCookieFetch();
  await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
  return http;
}

describe('the same encryption kid with other bytes on a second instance', () => {
  it('is found by its key check: not ready', async () => {
    expect(await other.gatehouse.checkKeys()).toBe('mismatch');
    await other.gatehouse.warmedUp();
    const ready = await fetch(`${other.origin}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', reason: 'key mismatch' });
    expect((await fetch(`${stack.origin}/readyz`)).status).toBe(200);
  });

  it('answers 503 encryption_key_mismatch, keeps the session, which works where the key is right', async () => {
    const http = await signedIn();
    const sessions = await sessionKeys();
    expect(sessions).toHaveLength(1);
    const before = await mismatchCount();

    // Claims (/bff/user), the IdP's tokens (a user-mode route), a Gatehouse-signed token.
    for (const [path, headers] of [
      ['/bff/user', {}],
      ['/api/demo/me', csrf],
      ['/api/demo-gh/me', csrf],
    ] as const) {
      const res = await http(`${other.origin}${path}`, { headers });
      expect(res.status, path).toBe(503);
      expect(res.headers.get('content-type'), path).toMatch(/^application\/problem\+json/);
      expect(res.headers.get('retry-after'), path).toBe('5');
      expect(((await res.json()) as { code?: string }).code, path).toBe('encryption_key_mismatch');
    }
    expect(await mismatchCount()).toBe(before + 3);

    // Nothing was ended or deleted: the session is still there, and works on the instance with
    // the fleet's key.
    expect(await sessionKeys()).toEqual(sessions);
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
    expect((await http(`${stack.origin}/api/demo/me`, { headers: csrf })).status).toBe(200);

    // A value damaged under the fleet's own key is no mismatch: the stack's instance, whose
    // fingerprint is the fleet's, finds the value lost for good and ends the session (401, the
    // user signs in again), never a 500.
    await damageClaims();
    const damaged = await http(`${stack.origin}/bff/user`);
    expect(damaged.status).toBe(401);
    expect(((await damaged.json()) as { code?: string }).code).toBe('session_expired');
    expect(await sessionKeys()).toEqual([]);
  });
});

describe('a login transaction damaged in the store', () => {
  it('is refused as spent (400 login_transaction_invalid), never a 500', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login?tenant=acme`);
    expect(start.status).toBe(302);
    const location = start.headers.get('location') ?? '';
    const state = new URL(location).searchParams.get('state') ?? '';
    const callbackUrl = await completeDevIdpLogin(http, location, {
      login: 'alice',
      password: 'alice',
    });
    const client = redis.client();
    try {
      const sealed = (await client.get(`gh:tx:${state}`)) ?? '';
      await client.set(`gh:tx:${state}`, damaged(sealed), 'KEEPTTL');
    } finally {
      client.disconnect();
    }
    const res = await http(callbackUrl, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code?: string }).code).toBe('login_transaction_invalid');
    expect(res.headers.get('set-cookie') ?? '').not.toMatch(/gatehouse/);
  });
});

describe('the keys development mode makes up', () => {
  it('are left out of the key check: no fingerprint of theirs is stored', async () => {
    // No key configured: this process's encryption and signing keys are made up, under kids
    // no other process will ever use (a watched dev server would add two at every restart).
    const { config } = loadConfig({
      env: {
        GATEHOUSE_MODE: 'development',
        PUBLIC_URL: 'http://localhost:1',
        DEV_IDP_ORIGIN: stack.idp.origin,
        DEMO_API_URL: stack.api.origin,
        REDIS_URL: redis.url,
        RATE_LIMITS: 'off',
      },
    });
    const [encryption] = config.encryptionKeys;
    const [signing] = config.signingKeys;
    expect(encryption?.kid).toMatch(/^dev-/);
    expect(signing?.kid).toMatch(/^dev-/);
    const gatehouse = createGatehouse(config, { logger: pino({ level: 'silent' }) });
    try {
      expect(await gatehouse.checkKeys()).toBe('passed');
    } finally {
      await gatehouse.close();
    }
    const client = redis.client();
    try {
      const stored = await client.keys('gh:keycheck:*');
      // The configured key of the stack's instances is checked; the made-up ones are not.
      expect(stored).toContain('gh:keycheck:encryption:test1');
      expect(stored).not.toContain(`gh:keycheck:encryption:${encryption?.kid}`);
      expect(stored).not.toContain(`gh:keycheck:signing:${signing?.kid}`);
    } finally {
      client.disconnect();
    }
  });
});

/** Alters the ciphertext of every stored session's sealed claims (the record is JSON). */
async function damageClaims(): Promise<void> {
  const client = redis.client();
  try {
    for (const key of await client.keys('gh:sess:*')) {
      const record = JSON.parse((await client.get(key)) ?? '{}') as { gh?: { claims?: string } };
      const claims = record.gh?.claims;
      if (!claims) continue;
      record.gh = { ...record.gh, claims: damaged(claims) };
      await client.set(key, JSON.stringify(record), 'KEEPTTL');
    }
  } finally {
    client.disconnect();
  }
}
