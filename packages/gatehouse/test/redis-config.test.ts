import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type LoadConfigOptions } from '../src/config/load.ts';
import type { ConfigInput } from '../src/config/schema.ts';

/** A complete production environment without any Redis setting. */
function productionEnv(redis: Record<string, string>): Record<string, string> {
  return {
    GATEHOUSE_MODE: 'production',
    PUBLIC_URL: 'https://app.example.com',
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    GATEHOUSE_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64url')}`,
    ...redis,
  };
}

const devInput = (redis: Record<string, unknown>): ConfigInput => ({
  mode: 'development',
  publicUrl: 'http://localhost:3000',
  ...redis,
});

function problemsOf(options: LoadConfigOptions): readonly string[] {
  try {
    loadConfig(options);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('Redis topology configuration', () => {
  it('reads a standalone server from REDIS_URL', () => {
    const { config } = loadConfig({
      env: productionEnv({ REDIS_URL: 'rediss://u:p@cache:6380/2' }),
    });
    expect(config.redis).toEqual({ url: 'rediss://u:p@cache:6380/2' });
  });

  it('reads a Sentinel group with its master name and both passwords from the environment', () => {
    const { config } = loadConfig({
      env: productionEnv({
        REDIS_SENTINELS: 's1.internal:26379, s2.internal:26379,[::1]:26380',
        REDIS_SENTINEL_MASTER: 'gatehouse',
        REDIS_SENTINEL_PASSWORD: 'sentinel-pass',
        REDIS_PASSWORD: 'data-pass',
        REDIS_TLS: 'true',
      }),
    });
    expect(config.redis).toEqual({
      sentinels: ['s1.internal:26379', 's2.internal:26379', '[::1]:26380'],
      sentinelMaster: 'gatehouse',
      sentinelPassword: 'sentinel-pass',
      password: 'data-pass',
      tls: true,
    });
  });

  it('reads Cluster seed nodes from the environment', () => {
    const { config } = loadConfig({
      env: productionEnv({ REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7000' }),
    });
    expect(config.redis).toEqual({ clusterNodes: ['10.0.0.1:7000', '10.0.0.2:7000'] });
  });

  it('reads every topology from the config file, and the older redisUrl as redis.url', () => {
    const load = (input: Record<string, unknown>) => loadConfig({ input: devInput(input) }).config;
    expect(load({ redisUrl: 'redis://file:6379' }).redis).toEqual({ url: 'redis://file:6379' });
    expect(load({ redis: { url: 'redis://file:6379' } }).redis).toEqual({
      url: 'redis://file:6379',
    });
    expect(
      load({ redis: { sentinels: ['a:26379'], sentinelMaster: 'm', username: 'gh' } }).redis,
    ).toEqual({ sentinels: ['a:26379'], sentinelMaster: 'm', username: 'gh' });
    expect(load({ redis: { clusterNodes: ['a:7000'], password: 'p' } }).redis).toEqual({
      clusterNodes: ['a:7000'],
      password: 'p',
    });
    expect(load({}).redis).toBeUndefined();
  });

  it('lets a topology in the environment replace the file’s, and credentials override fields', () => {
    const { config } = loadConfig({
      env: { REDIS_CLUSTER_NODES: 'c1:7000', REDIS_PASSWORD: 'env-pass' },
      input: devInput({ redis: { sentinels: ['s:26379'], sentinelMaster: 'm', password: 'p' } }),
    });
    expect(config.redis).toEqual({ clusterNodes: ['c1:7000'], password: 'env-pass' });
    const file = loadConfig({
      env: { REDIS_PASSWORD: 'env-pass' },
      input: devInput({ redis: { clusterNodes: ['c1:7000'], password: 'p' } }),
    });
    expect(file.config.redis).toEqual({ clusterNodes: ['c1:7000'], password: 'env-pass' });
  });

  it('a loaded config is valid input again (tests and tools feed it back)', () => {
    const { config } = loadConfig({
      input: devInput({ redis: { sentinels: ['a:26379'], sentinelMaster: 'm' } }),
    });
    const { secureCookies: _derived, ...plain } = structuredClone(config);
    expect(loadConfig({ input: plain }).config.redis).toEqual(config.redis);
  });

  it('requires a topology in production mode and names all three', () => {
    expect(problemsOf({ env: productionEnv({}) })).toEqual([
      expect.stringMatching(
        /^REDIS_URL: required in production mode \(or REDIS_SENTINELS \+ REDIS_SENTINEL_MASTER, or REDIS_CLUSTER_NODES\)/,
      ),
    ]);
  });

  it.each([
    [
      'two topologies',
      { REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' },
      [/^redis: exactly one topology, not redis\.url and redis\.clusterNodes$/],
    ],
    [
      'Sentinels without a master name',
      { REDIS_SENTINELS: 'a:26379' },
      [/^REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS/],
    ],
    [
      'a master name without Sentinels',
      { REDIS_URL: 'redis://a:6379', REDIS_SENTINEL_MASTER: 'm' },
      [/^redis\.sentinelMaster: only with REDIS_SENTINELS/],
    ],
    [
      'credentials only',
      { REDIS_PASSWORD: 'p' },
      [/^redis: choose one topology: REDIS_URL .* REDIS_CLUSTER_NODES/],
    ],
    [
      'a password beside a standalone URL that has one',
      { REDIS_URL: 'redis://:q@a:6379', REDIS_PASSWORD: 'p' },
      [/^REDIS_PASSWORD: REDIS_URL already carries a password/],
    ],
    [
      'addresses without a port, and a bad port',
      { REDIS_CLUSTER_NODES: 'a,b:70000' },
      [
        /^redis\.clusterNodes\.0: must be host:port$/,
        /^redis\.clusterNodes\.1: port must be 1-65535$/,
      ],
    ],
    ['a URL of another scheme', { REDIS_URL: 'http://a:6379' }, [/^redis\.url: must be a redis/]],
    [
      'a TLS flag that is not a boolean',
      { REDIS_CLUSTER_NODES: 'a:7000', REDIS_TLS: 'yes' },
      [/^REDIS_TLS: must be "true" or "false"$/],
    ],
  ] as const)('refuses %s with a readable problem', (_case, redis, patterns) => {
    const problems = problemsOf({ env: productionEnv(redis) });
    expect(problems).toEqual(patterns.map((pattern): unknown => expect.stringMatching(pattern)));
  });

  it('reports Redis problems together with the rest of the config', () => {
    const problems = problemsOf({
      env: { GATEHOUSE_MODE: 'production', REDIS_SENTINELS: 'a:26379,nope', PORT: 'eighty' },
      input: devInput({ redis: { clusterNodes: ['x:1'] }, logLevel: 'loud' }),
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'SESSION_SECRET: required in production mode',
        expect.stringMatching(/^REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS/),
        expect.stringMatching(/^redis\.sentinels\.1: must be host:port$/),
        expect.stringMatching(/^port: /),
        expect.stringMatching(/^logLevel: /),
      ]),
    );
  });

  it('refuses a file that gives both redisUrl and redis, and unknown redis fields', () => {
    expect(
      problemsOf({
        input: devInput({ redisUrl: 'redis://a:6379', redis: { url: 'redis://b:6379' } }),
      }),
    ).toEqual(['redisUrl: give either redisUrl or redis, not both']);
    expect(problemsOf({ input: devInput({ redis: { url: 'redis://a:6379', db: 2 } }) })).toEqual([
      expect.stringMatching(/^redis: Unrecognized key/),
    ]);
  });
});
