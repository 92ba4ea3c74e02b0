// The start-up key check of the real server process: instances sharing one real Redis must
// mean the same bytes by each encryption and signing kid. One whose bytes differ exits 2 before
// listening, naming the kid and never a key; the same bytes start side by side; with Redis down
// at start the server listens but is not ready, and is once Redis answers (or exits 2 then, if
// its key differs). With workers, a mismatch stops the group with exit code 2, never a restart
// loop.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  freePort,
  startRedisServer,
  spawnServerProcess,
  startServerProcess,
  type RedisServer,
  type ServerProcess,
} from '@gatehouse/testkit';
import { generateKeys } from '../src/keys.ts';

const encryptionKey = () => randomBytes(32).toString('base64url');
/** A fresh ES256 signing key list, under `kid` when given (the same kid, other bytes). */
const signingKeys = (kid?: string) => {
  const [key] = JSON.parse(generateKeys().GATEHOUSE_SIGNING_KEYS) as [{ kid: string }];
  return JSON.stringify([{ ...key, ...(kid ? { kid } : {}) }]);
};
const kidOf = (signing: string) => (JSON.parse(signing) as [{ kid: string }])[0].kid;

/** The environment of one instance on `port` with these keys (kid `k1`) and Redis. */
const instance = (
  port: number,
  redisUrl: string,
  keys: { encryption: string; signing: string },
): Record<string, string> => ({
  GATEHOUSE_MODE: 'development',
  PUBLIC_URL: `http://127.0.0.1:${port}`,
  REDIS_URL: redisUrl,
  SESSION_SECRET: 'test-session-secret-0123456789abcdef',
  GATEHOUSE_ENCRYPTION_KEYS: `k1:${keys.encryption}`,
  GATEHOUSE_SIGNING_KEYS: keys.signing,
  LOG_LEVEL: 'info',
  PROVIDER_WARM_UP_SECONDS: '0',
});

const readiness = (port: number) =>
  fetch(`http://127.0.0.1:${port}/readyz`).then(
    (res) => res.status,
    () => 0,
  );

interface Line {
  msg?: string;
  kid?: string;
  use?: string;
  level?: number;
}
const jsonLines = (output: string): Line[] =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Line);

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('the key check of apps/server on one Redis', () => {
  let redis: RedisServer | undefined;
  const theRedis = async () => (redis ??= await startRedisServer());
  afterAll(async () => {
    await redis?.stop();
  });

  async function running(keys: { encryption: string; signing: string }): Promise<ServerProcess> {
    const port = await freePort();
    const server = await startServerProcess(port, instance(port, (await theRedis()).url, keys));
    cleanups.push(() => server.stop('SIGKILL'));
    return server;
  }

  it('starts a second instance with the same bytes under the same kids', async () => {
    const keys = { encryption: encryptionKey(), signing: signingKeys() };
    await running(keys);
    const second = await running(keys);
    expect(await readiness(second.port)).toBe(200);
    // One fingerprint per kid in Redis, neither the key nor anything it contains.
    const client = (await theRedis()).client();
    try {
      const encryption = await client.get('gh:keycheck:encryption:k1');
      const signing = await client.get(`gh:keycheck:signing:${kidOf(keys.signing)}`);
      expect(encryption).toMatch(/^v1\.[\w-]{43}$/);
      expect(signing).toMatch(/^v1\.[\w-]{43}$/);
      expect(encryption).not.toContain(keys.encryption);
      expect(await client.pttl('gh:keycheck:encryption:k1')).toBeGreaterThan(300 * 86_400_000);
    } finally {
      client.disconnect();
    }
  }, 60_000);

  it.each([
    [
      'encryption',
      (keys: { encryption: string; signing: string }) => ({ ...keys, encryption: encryptionKey() }),
    ],
    [
      'signing',
      (keys: { encryption: string; signing: string }) => ({
        ...keys,
        signing: signingKeys(kidOf(keys.signing)),
      }),
    ],
  ] as const)(
    'exits 2 before listening when its %s key has other bytes under the fleet’s kid',
    async (use, change) => {
      const fleet = { encryption: encryptionKey(), signing: signingKeys() };
      // Its own Redis: each case's fleet claims its kids first.
      const own = await startRedisServer();
      cleanups.push(() => own.stop());
      const firstPort = await freePort();
      const first = await startServerProcess(firstPort, instance(firstPort, own.url, fleet));
      cleanups.push(() => first.stop('SIGKILL'));

      const port = await freePort();
      const odd = change(fleet);
      const second = spawnServerProcess(port, instance(port, own.url, odd));
      cleanups.push(() => second.stop('SIGKILL'));
      expect(await second.exited).toEqual({ code: 2, signal: null });

      const lines = jsonLines(second.output());
      const kid = use === 'encryption' ? 'k1' : kidOf(fleet.signing);
      expect(lines).toContainEqual(expect.objectContaining({ use, kid, level: 50 }));
      expect(lines.find((line) => line.use === use)?.msg).toContain(`"${kid}"`);
      expect(lines.some((line) => line.msg === 'gatehouse listening')).toBe(false);
      // No key material of either instance in what it wrote.
      const output = second.output();
      for (const secret of [fleet.encryption, odd.encryption]) expect(output).not.toContain(secret);
      for (const jwk of [fleet.signing, odd.signing]) {
        const { d } = (JSON.parse(jwk) as [{ privateJwk: { d: string } }])[0].privateJwk;
        expect(output).not.toContain(d);
      }
      // The fleet's instance is unaffected.
      expect(await readiness(firstPort)).toBe(200);
    },
    60_000,
  );
});

describe('the key check of apps/server while Redis is down at start', () => {
  it('listens without being ready, and is ready once Redis answers', async () => {
    const redisPort = await freePort();
    const port = await freePort();
    const keys = { encryption: encryptionKey(), signing: signingKeys() };
    const server = spawnServerProcess(port, instance(port, `redis://127.0.0.1:${redisPort}`, keys));
    cleanups.push(() => server.stop('SIGKILL'));
    await expect.poll(() => readiness(port), { timeout: 20_000 }).toBe(503);
    // Still not ready a while later, and still running.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await readiness(port)).toBe(503);

    const redis = await startRedisServer({ port: redisPort });
    cleanups.push(() => redis.stop());
    await expect.poll(() => readiness(port), { timeout: 20_000 }).toBe(200);
    const client = redis.client();
    try {
      expect(await client.exists('gh:keycheck:encryption:k1')).toBe(1);
    } finally {
      client.disconnect();
    }
  }, 60_000);

  it('with two workers, exits 2 once Redis answers with another key’s fingerprint: no restart loop', async () => {
    // The Redis holds the fleet's fingerprint of k1, made from other bytes; it is down when the
    // server starts (killed, its data kept) and comes back with it.
    const redis = await startRedisServer({ appendOnly: true });
    cleanups.push(() => redis.stop());
    const client = redis.client();
    try {
      await client.set('gh:keycheck:encryption:k1', 'v1.another-key', 'PX', 600_000);
    } finally {
      client.disconnect();
    }
    await redis.kill();

    const port = await freePort();
    const keys = { encryption: encryptionKey(), signing: signingKeys() };
    const server = spawnServerProcess(port, {
      ...instance(port, redis.url, keys),
      GATEHOUSE_WORKERS: '2',
    });
    cleanups.push(() => server.stop('SIGKILL'));
    await expect.poll(() => readiness(port), { timeout: 20_000 }).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 1000));

    await redis.restart();
    expect(await server.exited).toEqual({ code: 2, signal: null });
    const lines = jsonLines(server.output());
    expect(lines).toContainEqual(expect.objectContaining({ use: 'encryption', kid: 'k1' }));
    expect(lines.some((line) => line.msg === 'worker died; restarting it')).toBe(false);
  }, 60_000);
});
