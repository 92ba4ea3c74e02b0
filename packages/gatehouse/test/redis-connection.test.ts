import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startRedisServer, type RedisServer } from '@gatehouse/testkit';
import type { RedisConfig } from '../src/config/schema.ts';
import { createGatehouse, createLogger, loadConfig } from '../src/index.ts';
import {
  closeRedis,
  createRedisClient,
  describeRedis,
  logRedisConnection,
  type RedisClient,
} from '../src/session/redis-connection.ts';
import { jsonLines } from './support/json-lines.ts';

/**
 * A topology that cannot be reached at start-up is one readable log line (not an error per
 * reconnect attempt), and commands meanwhile fail fast instead of hanging a request.
 */
interface LogLine {
  level: number;
  msg: string;
  redis?: string;
  reason?: string;
}

function capture(): { logger: ReturnType<typeof createLogger>; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = jsonLines(lines);
  return { logger: createLogger('info', sink), lines };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const WARN = 40;
const ERROR = 50;

let client: RedisClient | undefined;
let server: RedisServer | undefined;
afterEach(async () => {
  if (client) await closeRedis(client);
  client = undefined;
  await server?.stop();
  server = undefined;
});

describe('a Redis that cannot be reached at start-up', () => {
  it.each([
    ['standalone', (port: number): RedisConfig => ({ url: `redis://127.0.0.1:${port}` })],
    [
      'Sentinel',
      (port: number): RedisConfig => ({
        sentinels: [`127.0.0.1:${port}`, `127.0.0.1:${port + 1}`],
        sentinelMaster: 'gatehouse',
        password: 'never-logged',
      }),
    ],
    ['Cluster', (port: number): RedisConfig => ({ clusterNodes: [`127.0.0.1:${port}`] })],
  ] as const)('%s: one readable error line, and commands fail fast', async (_name, configFor) => {
    const port = await freePort(); // nothing listens there
    const config = configFor(port);
    const { logger, lines } = capture();
    client = createRedisClient(config);
    logRedisConnection(client, logger, describeRedis(config));

    // Many reconnect attempts (≤ 500 ms apart) happen meanwhile.
    await sleep(2500);
    const errors = lines.filter((line) => line.level >= ERROR);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.msg).toBe('cannot reach Redis; retrying');
    expect(errors[0]?.redis).toContain(`127.0.0.1:${port}`);
    expect(errors[0]?.reason).toEqual(expect.any(String));
    expect(JSON.stringify(lines)).not.toContain('never-logged');

    const started = Date.now();
    await expect(client.get('anything')).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(8000); // bounded by the 2 s command timeout
  });

  it('says once that it is connected when the server comes up, and once when it is lost', async () => {
    const port = await freePort();
    const config = { url: `redis://127.0.0.1:${port}` };
    const { logger, lines } = capture();
    client = createRedisClient(config);
    logRedisConnection(client, logger, describeRedis(config));
    await sleep(700);
    server = await startRedisServer({ port });
    await expect
      .poll(() => lines.map((line) => line.msg), { timeout: 5000 })
      .toContain('Redis connected');
    expect(await client.ping()).toBe('PONG');
    await server.stop();
    server = undefined;
    await sleep(1500);
    expect(lines.map((line) => line.msg)).toEqual([
      'cannot reach Redis; retrying',
      'Redis connected',
      'Redis connection lost; reconnecting',
    ]);
  });
});

describe('a Gatehouse whose Redis cannot be reached at start-up', () => {
  it('logs one line for it, whatever else is connecting (the registry subscriber)', async () => {
    const port = await freePort();
    const { config } = loadConfig({
      env: {
        GATEHOUSE_MODE: 'development',
        REDIS_SENTINELS: `127.0.0.1:${port}`,
        REDIS_SENTINEL_MASTER: 'gatehouse',
      },
    });
    const { logger, lines } = capture();
    const gatehouse = createGatehouse(config, { logger });
    try {
      await sleep(2500);
      expect(lines.filter((line) => line.level >= WARN).map((line) => line.msg)).toEqual([
        'cannot reach Redis; retrying',
      ]);
    } finally {
      await gatehouse.close();
    }
  });
});
