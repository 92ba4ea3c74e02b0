import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type LoadConfigOptions } from '../src/config/load.ts';
import type { ConfigInput } from '../src/config/schema.ts';
import { RetiredKeyError, Vault } from '../src/session/vault.ts';

const randomSecret = () => randomBytes(32).toString('base64url');
const KEY_A = randomSecret();
const KEY_B = randomSecret();

/** A complete, valid production environment (no file). */
function productionEnv(): Record<string, string> {
  return {
    GATEHOUSE_MODE: 'production',
    PUBLIC_URL: 'https://app.example.com',
    SESSION_SECRET: randomSecret(),
    GATEHOUSE_ENCRYPTION_KEYS: `k1:${KEY_A}`,
    REDIS_URL: 'redis://127.0.0.1:6379',
  };
}

function devInput(overrides: Record<string, unknown> = {}): ConfigInput {
  return {
    mode: 'development',
    publicUrl: 'http://localhost:3000',
    ...overrides,
  };
}

function provider(overrides: Record<string, unknown> = {}) {
  return {
    id: 'idp',
    issuer: 'https://idp.example.com',
    clientId: 'client',
    clientSecret: 'client-secret',
    ...overrides,
  };
}

function tenant(id: string, overrides: Record<string, unknown> = {}) {
  return { id, name: id.toUpperCase(), providers: [provider()], ...overrides };
}

function route(prefix: string, overrides: Record<string, unknown> = {}) {
  return { prefix, upstream: 'http://localhost:4001', tokenMode: 'user', ...overrides };
}

/** The problems of the one ConfigError `loadConfig` must throw. */
function problemsOf(options: LoadConfigOptions): readonly string[] {
  try {
    loadConfig(options);
  } catch (error) {
    if (error instanceof ConfigError) {
      expect(error.message).toContain('Invalid Gatehouse configuration');
      for (const problem of error.problems) expect(error.message).toContain(problem);
      return error.problems;
    }
    throw error;
  }
  throw new Error('loadConfig accepted the configuration');
}

const hasProblem = (problems: readonly string[], pattern: RegExp) =>
  problems.some((problem) => pattern.test(problem));

describe('loadConfig: development defaults', () => {
  it('loads the embedded dev stack with no environment at all, with random secrets and warnings', () => {
    const { config, warnings } = loadConfig({ env: {} });
    expect(config.mode).toBe('development');
    expect(config.publicUrl).toBe('http://localhost:3000');
    expect(config.secureCookies).toBe(false);
    expect(config.devIdpOrigins).toEqual(['http://localhost:4000']);
    expect(config.defaultTenant).toBe('acme');
    expect(config.tenants.map((t) => t.id)).toEqual(['acme', 'globex']);
    expect(config.tenants[1]?.providers[0]?.issuer).toBe('http://localhost:4000/globex');
    expect(config.routes.map((r) => [r.prefix, r.upstream, r.tokenMode])).toEqual([
      ['/api/demo', 'http://localhost:4001', 'user'],
      ['/api/demo-gh', 'http://localhost:4001', 'gatehouse'],
    ]);
    expect(config.routes[1]?.audience).toBe('urn:gatehouse:demo-api');
    expect(config.routes[0]?.methods).toEqual(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
    expect(config.routes[0]?.timeoutMs).toBe(10_000);
    expect(config.routes[0]?.allowSetCookie).toBe(false);
    expect(config.session.secrets).toHaveLength(1);
    expect(config.session.secrets[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(config.session.idleTimeoutSeconds).toBeLessThanOrEqual(
      config.session.absoluteTimeoutSeconds,
    );
    expect(config.encryptionKeys).toHaveLength(1);
    expect(config.encryptionKeys[0]?.kid).toMatch(/^dev-[A-Za-z0-9_-]{8}$/);
    expect(config.encryptionKeys[0]?.key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(warnings).toHaveLength(3);
    expect(warnings.join('\n')).toMatch(/SESSION_SECRET/);
    expect(warnings.join('\n')).toMatch(/GATEHOUSE_ENCRYPTION_KEYS/);
    expect(warnings.join('\n')).toMatch(/GATEHOUSE_SIGNING_KEYS/);
  });

  it('draws fresh secrets per load, never a constant', () => {
    const a = loadConfig({ env: {} }).config;
    const b = loadConfig().config;
    expect(a.session.secrets[0]).not.toBe(b.session.secrets[0]);
    expect(a.encryptionKeys[0]?.key).not.toBe(b.encryptionKeys[0]?.key);
  });

  it('gives each process its random key a kid of its own: what an earlier one sealed reads as retired', async () => {
    // A Redis that outlives a development process keeps what it sealed; under one shared kid the
    // next process's other key would fail to open it on every call (a 500), under a kid of its
    // own the value is known as sealed with a key no longer here, which ends the session (401).
    const earlier = new Vault(loadConfig({ env: {} }).config.encryptionKeys);
    const later = new Vault(loadConfig({ env: {} }).config.encryptionKeys);
    const sealed = await earlier.seal({ accessToken: 'at' });
    await expect(later.open(sealed)).rejects.toBeInstanceOf(RetiredKeyError);
  });

  it('aims the defaults at DEV_IDP_ORIGIN, DEMO_API_URL and PUBLIC_URL', () => {
    const { config } = loadConfig({
      env: {
        DEV_IDP_ORIGIN: 'http://127.0.0.1:5000',
        DEMO_API_URL: 'http://127.0.0.1:5001',
        PUBLIC_URL: 'http://127.0.0.1:5002',
      },
    });
    expect(config.devIdpOrigins).toEqual(['http://127.0.0.1:5000']);
    expect(config.tenants[0]?.providers[0]?.issuer).toBe('http://127.0.0.1:5000');
    expect(config.routes[0]?.upstream).toBe('http://127.0.0.1:5001');
    expect(config.publicUrl).toBe('http://127.0.0.1:5002');
  });

  it('warns about nothing once secrets and keys are configured', () => {
    const secret = randomSecret();
    const { config, warnings } = loadConfig({
      env: {
        SESSION_SECRET: secret,
        GATEHOUSE_ENCRYPTION_KEYS: `k1:${KEY_A}`,
        GATEHOUSE_SIGNING_KEYS: JSON.stringify([
          {
            kid: 's1',
            privateJwk: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
              format: 'jwk',
            }),
          },
        ]),
      },
    });
    expect(warnings).toEqual([]);
    expect(config.session.secrets).toEqual([secret]);
    expect(config.encryptionKeys).toEqual([{ kid: 'k1', key: KEY_A }]);
  });

  it('refuses a dev IdP origin that is not loopback even in the defaults', () => {
    const problems = problemsOf({ env: { DEV_IDP_ORIGIN: 'http://idp.example.com:4000' } });
    expect(hasProblem(problems, /^devIdpOrigins: "http:\/\/idp\.example\.com:4000"/)).toBe(true);
    expect(hasProblem(problems, /issuer: must be https/)).toBe(true);
  });
});

describe('loadConfig: production', () => {
  it('loads a complete production environment without warnings', () => {
    const env = productionEnv();
    const { config, warnings } = loadConfig({ env });
    expect(warnings).toEqual([]);
    expect(config.mode).toBe('production');
    expect(config.secureCookies).toBe(true);
    expect(config.session.secrets).toEqual([env.SESSION_SECRET]);
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379' });
    expect(config.tenants).toEqual([]);
    expect(config.devIdpOrigins).toEqual([]);
  });

  it('follows NODE_ENV=production when nothing else names the mode', () => {
    const { GATEHOUSE_MODE: _mode, ...env } = productionEnv();
    expect(loadConfig({ env: { ...env, NODE_ENV: 'production' } }).config.mode).toBe('production');
    expect(
      hasProblem(problemsOf({ env: { NODE_ENV: 'production' } }), /^SESSION_SECRET: required/),
    ).toBe(true);
  });

  it('never falls back to development defaults or random secrets', () => {
    const problems = problemsOf({ env: { GATEHOUSE_MODE: 'production' } });
    expect(problems).toEqual(
      expect.arrayContaining([
        'SESSION_SECRET: required in production mode',
        'GATEHOUSE_ENCRYPTION_KEYS: required in production mode',
        expect.stringMatching(/^REDIS_URL: required in production mode/),
        expect.stringMatching(/^publicUrl: /),
      ]),
    );
  });

  it('reports every missing and unsafe setting in one throw', () => {
    const problems = problemsOf({
      env: { GATEHOUSE_MODE: 'production', PUBLIC_URL: 'http://app.example.com' },
      input: devInput({
        devIdpOrigins: ['http://localhost:4000'],
        tenants: [
          tenant('acme', { providers: [provider({ issuer: 'http://localhost:4000' })] }),
          tenant('globex', { providers: [provider({ issuer: 'http://idp.globex.example' })] }),
        ],
      }),
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'SESSION_SECRET: required in production mode',
        'GATEHOUSE_ENCRYPTION_KEYS: required in production mode',
        expect.stringMatching(/^REDIS_URL: required in production mode/),
        'publicUrl: production mode requires an https PUBLIC_URL',
        'devIdpOrigins: not allowed in production mode',
        expect.stringMatching(/^tenants\.acme\.providers\.idp\.issuer: must be https/),
        expect.stringMatching(/^tenants\.globex\.providers\.idp\.issuer: must be https/),
      ]),
    );
    expect(problems).toHaveLength(7);
  });

  it('reports a placeholder secret together with everything else', () => {
    const problems = problemsOf({
      env: {
        GATEHOUSE_MODE: 'production',
        PUBLIC_URL: 'http://app.example.com',
        SESSION_SECRET: 'change-me-change-me-change-me-change-me',
      },
      input: devInput({
        devIdpOrigins: ['http://localhost:4000'],
        tenants: [tenant('acme', { providers: [provider({ issuer: 'http://idp.example.com' })] })],
      }),
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'SESSION_SECRET: looks like a placeholder; use 32+ random characters',
        'GATEHOUSE_ENCRYPTION_KEYS: required in production mode',
        expect.stringMatching(/^REDIS_URL: required/),
        'publicUrl: production mode requires an https PUBLIC_URL',
        'devIdpOrigins: not allowed in production mode',
        expect.stringMatching(/^tenants\.acme\.providers\.idp\.issuer: must be https/),
      ]),
    );
    expect(hasProblem(problems, /^SESSION_SECRET: required/)).toBe(false);
  });

  it.each([
    'change-me-change-me-change-me-change-me',
    'changeme-0123456789-0123456789-0123456789',
    'dev-only-acme-secret-dev-only-acme-secret',
    'dev_session_0123456789abcdefghijklmnopq',
    'my-super-secret-session-key-1234567890',
    'Password1Password1Password1Password1',
    'please-put-a-placeholder-here-0123456789',
    'example-example-example-example-example',
    'a'.repeat(64),
    'abababababababababababababababab',
    '01230123012301230123012301230123',
  ])('refuses the placeholder-looking secret %j in production', (secret) => {
    const problems = problemsOf({ env: { ...productionEnv(), SESSION_SECRET: secret } });
    expect(problems).toEqual([
      'SESSION_SECRET: looks like a placeholder; use 32+ random characters',
    ]);
  });

  it('checks every rotation secret, not just the first', () => {
    const problems = problemsOf({
      env: {
        ...productionEnv(),
        SESSION_SECRET: `${randomSecret()}, change-me-change-me-change-me-00`,
      },
    });
    expect(problems).toEqual([
      'SESSION_SECRET: looks like a placeholder; use 32+ random characters',
    ]);
  });

  // Regression: any secret containing "dev" was refused, so about one random base64url secret
  // in a thousand could not be used.
  it('accepts random secrets that merely contain "dev" or are hex', () => {
    for (const secret of [
      'Qk8devZp3L0xWm2Nc7Rt5Yh9Bv4Jg1Sa6Ud',
      'xYdEvq0192837465AbCdEfGhIjKlMnOpQrS',
      randomBytes(24).toString('hex'),
    ]) {
      expect(
        loadConfig({ env: { ...productionEnv(), SESSION_SECRET: secret } }).config.session.secrets,
      ).toEqual([secret]);
    }
  });

  it('refuses an http tenant issuer in production even on loopback', () => {
    const problems = problemsOf({
      env: productionEnv(),
      input: devInput({
        tenants: [tenant('acme', { providers: [provider({ issuer: 'http://127.0.0.1:4000' })] })],
      }),
    });
    expect(problems).toEqual([
      'tenants.acme.providers.idp.issuer: must be https (http only for a configured dev IdP origin in development mode)',
    ]);
  });
});

describe('loadConfig: sources and precedence', () => {
  it('lets environment variables win over the file', () => {
    const secret = randomSecret();
    const { config } = loadConfig({
      env: {
        PORT: '8080',
        HOST: '0.0.0.0',
        PUBLIC_URL: 'https://override.example.com',
        REDIS_URL: 'rediss://cache.example.com:6380',
        LOG_LEVEL: 'warn',
        TRUST_PROXY: 'loopback',
        GATEHOUSE_STATIC_DIR: '/srv/web',
        SESSION_SECRET: `${secret}, ${'z'.repeat(8)}${randomSecret()}`,
        GATEHOUSE_ENCRYPTION_KEYS: `new:${KEY_B}, old:${KEY_A}`,
      },
      input: devInput({
        port: 3000,
        host: '127.0.0.1',
        publicUrl: 'http://file.example.com',
        redisUrl: 'redis://file:6379',
        logLevel: 'debug',
        trustProxy: false,
        staticDir: '/file/web',
        session: {
          secrets: [randomSecret()],
          idleTimeoutSeconds: 600,
          absoluteTimeoutSeconds: 7200,
        },
        encryptionKeys: [{ kid: 'file', key: KEY_A }],
      }),
    });
    expect(config.port).toBe(8080);
    expect(config.host).toBe('0.0.0.0');
    expect(config.publicUrl).toBe('https://override.example.com');
    expect(config.secureCookies).toBe(true);
    expect(config.redis).toEqual({ url: 'rediss://cache.example.com:6380' });
    expect(config.logLevel).toBe('warn');
    expect(config.trustProxy).toBe('loopback');
    expect(config.staticDir).toBe('/srv/web');
    // Secrets come from the environment, the timeouts stay the file's.
    expect(config.session.secrets).toHaveLength(2);
    expect(config.session.secrets[0]).toBe(secret);
    expect(config.session.idleTimeoutSeconds).toBe(600);
    expect(config.session.absoluteTimeoutSeconds).toBe(7200);
    expect(config.encryptionKeys).toEqual([
      { kid: 'new', key: KEY_B },
      { kid: 'old', key: KEY_A },
    ]);
  });

  it('lets GATEHOUSE_MODE override the file’s mode', () => {
    const problems = problemsOf({ env: { GATEHOUSE_MODE: 'production' }, input: devInput() });
    expect(hasProblem(problems, /^SESSION_SECRET: required in production mode/)).toBe(true);
    expect(hasProblem(problems, /^publicUrl: production mode requires an https/)).toBe(true);
    expect(hasProblem(problems, /^mode: /)).toBe(false);
    expect(hasProblem(problemsOf({ env: { GATEHOUSE_MODE: 'staging' } }), /^mode: /)).toBe(true);
  });

  it.each([
    ['true', true],
    ['false', false],
    ['', false],
    ['0', 0],
    ['2', 2],
    ['10.0.0.0/8, 127.0.0.1', '10.0.0.0/8, 127.0.0.1'],
  ] as const)('parses TRUST_PROXY=%j as %j', (value, expected) => {
    expect(loadConfig({ env: { TRUST_PROXY: value }, input: devInput() }).config.trustProxy).toBe(
      expected,
    );
  });

  it.each(['yes', 'on', '10.0.0.0/33', '10.0.0.1, nowhere', '-1', 'loopback,'])(
    'refuses TRUST_PROXY=%j before start-up',
    (value) => {
      const problems = problemsOf({ env: { TRUST_PROXY: value }, input: devInput() });
      expect(problems).toEqual([
        'trustProxy: must be true, false, a hop count, or a comma list of IP addresses, CIDR subnets or the names loopback, linklocal, uniquelocal',
      ]);
    },
  );

  it.each([
    'loopback',
    'loopback, linklocal, uniquelocal',
    '10.0.0.0/8,::1',
    '192.168.0.0/255.255.0.0',
    '3',
  ])('accepts TRUST_PROXY=%j, and express takes the same value at start-up', (value) => {
    const { config } = loadConfig({ env: { TRUST_PROXY: value }, input: devInput() });
    const app = express();
    expect(() => app.set('trust proxy', config.trustProxy)).not.toThrow();
    expect(typeof app.get('trust proxy fn')).toBe('function');
  });

  it('says in a sentence that production needs PUBLIC_URL', () => {
    const { PUBLIC_URL: _missing, ...env } = productionEnv();
    expect(problemsOf({ env })).toContain(
      'publicUrl: is required: set PUBLIC_URL to the origin users reach Gatehouse at, e.g. https://app.example.com',
    );
  });

  it('reports the problems of every phase in one error', () => {
    const problems = problemsOf({
      env: { ...productionEnv(), TRUST_PROXY: 'yes', SESSION_SECRET: 'changeme' },
      input: {
        mode: 'production',
        port: 'eighty',
        tenants: [
          tenant('acme', { providers: [provider({ issuer: 'http://idp.example.com' })] }),
          tenant('acme', { name: '' }),
        ],
        routes: [route('/api/a'), route('/api/a', { tokenMode: 'gatehouse' })],
      } as unknown as ConfigInput,
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        // before the schema
        'SESSION_SECRET: looks like a placeholder; use 32+ random characters',
        'GATEHOUSE_SIGNING_KEYS: required in production mode when a route uses tokenMode "gatehouse"',
        // the schema
        'trustProxy: must be true, false, a hop count, or a comma list of IP addresses, CIDR subnets or the names loopback, linklocal, uniquelocal',
        expect.stringMatching(/^port: /),
        expect.stringMatching(/^session\.secrets\.0: must be at least 32 characters/),
        expect.stringMatching(/^tenants\.acme\.name: /),
        // after the schema, on the valid parts
        'tenants.acme.providers.idp.issuer: must be https (http only for a configured dev IdP origin in development mode)',
        'routes: duplicate prefix "/api/a"',
        'routes./api/a.audience: required for tokenMode "gatehouse"',
      ]),
    );
  });

  it('names every problem of every phase in one path style, tenants and providers by id', () => {
    const missing = join(tmpdir(), 'gatehouse-no-such-secret');
    const problems = problemsOf({
      env: { RATE_LIMIT_LOGIN_START: 'lots', GATEHOUSE_ENCRYPTION_KEYS: 'no-colon' },
      input: devInput({
        tenants: [
          // Invalid, so left out of the later checks: the entries after it keep their names.
          { id: 'Bad Id', name: 'Bad' },
          tenant('acme', {
            hosts: ['app.example.com', 'not a host'],
            providers: [
              provider({ id: 'okta', issuer: 'http://idp.example.com' }),
              provider({ id: 'vault', clientSecret: { file: missing } }),
            ],
          }),
          tenant('globex', { hosts: ['app.example.com'] }),
        ],
        routes: [route('/api/a', { timeoutMs: 5 }), route('/api/b', { tokenMode: 'gatehouse' })],
        signingKeys: [{ kid: 'k1', privateJwk: { kty: 'oct', k: 'AAAA', alg: 'HS256' } }],
      }),
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        // environment variables, by name
        'RATE_LIMIT_LOGIN_START: expected "<points>/<seconds>" (e.g. 60/60) or "off"',
        'GATEHOUSE_ENCRYPTION_KEYS.0: expected "<kid>:<base64url key>"',
        // a secret file, before the schema
        `tenants.acme.providers.vault.clientSecret (${missing}): cannot be read (ENOENT)`,
        // the schema: an entry without a valid id by its position, the others by id
        'tenants.0.id: must be a lowercase slug (a-z, 0-9, -)',
        'tenants.acme.hosts.1: must be a host name such as app.example.com',
        expect.stringMatching(/^routes\.\/api\/a\.timeoutMs: /),
        // the checks on the valid parts, in the same run and the same style
        'tenants.acme.providers.okta.issuer: must be https (http only for a configured dev IdP origin in development mode)',
        'tenants.acme.providers.vault.clientSecret: required for client_secret_basic',
        'tenants.globex.hosts: "app.example.com" also belongs to "acme"',
        'routes./api/b.audience: required for tokenMode "gatehouse"',
        expect.stringMatching(/^signingKeys\.k1\.privateJwk: key type not allowed/),
      ]),
    );
    // No other path style is left: no bracketed index, no position where an id is known.
    for (const problem of problems) {
      expect(problem).not.toMatch(/\[\d+\]|^tenants\.[12]\b|^routes\.\d/);
    }
  });

  it('refuses a PORT that is not a port', () => {
    for (const port of ['abc', '-1', '70000', '3000.5', '0x50']) {
      expect(
        hasProblem(problemsOf({ env: { PORT: port }, input: devInput() }), /^port: /),
        port,
      ).toBe(true);
    }
    expect(loadConfig({ env: { PORT: '' }, input: devInput({ port: 4444 }) }).config.port).toBe(
      4444,
    );
  });

  it('reads the shutdown grace period from SHUTDOWN_GRACE_SECONDS or the file (default 10 s)', () => {
    expect(loadConfig({ input: devInput() }).config.shutdownGraceSeconds).toBe(10);
    expect(
      loadConfig({ input: devInput({ shutdownGraceSeconds: 30 }) }).config.shutdownGraceSeconds,
    ).toBe(30);
    expect(
      loadConfig({
        env: { SHUTDOWN_GRACE_SECONDS: '0' },
        input: devInput({ shutdownGraceSeconds: 30 }),
      }).config.shutdownGraceSeconds,
    ).toBe(0);
    for (const grace of ['abc', '-1', '2.5', '3601']) {
      expect(
        hasProblem(
          problemsOf({ env: { SHUTDOWN_GRACE_SECONDS: grace }, input: devInput() }),
          /^shutdownGraceSeconds: /,
        ),
        grace,
      ).toBe(true);
    }
  });

  it('reads the proxied access-log sample rate from ACCESS_LOG_SAMPLE_RATE (default 0.01)', () => {
    expect(loadConfig({ input: devInput() }).config.accessLogSampleRate).toBe(0.01);
    for (const [text, rate] of [
      ['0', 0],
      ['1', 1],
      ['0.25', 0.25],
      ['.5', 0.5],
    ] as const) {
      expect(
        loadConfig({ env: { ACCESS_LOG_SAMPLE_RATE: text }, input: devInput() }).config
          .accessLogSampleRate,
      ).toBe(rate);
    }
    for (const rate of ['abc', '-0.1', '1.5', '1e-2']) {
      expect(
        hasProblem(
          problemsOf({ env: { ACCESS_LOG_SAMPLE_RATE: rate }, input: devInput() }),
          /^accessLogSampleRate: /,
        ),
        rate,
      ).toBe(true);
    }
  });

  it('reads GATEHOUSE_WORKERS (default 1) and refuses several workers without shared state', () => {
    expect(loadConfig({ input: devInput() }).config.workers).toBe(1);
    expect(
      loadConfig({ env: { ...productionEnv(), GATEHOUSE_WORKERS: 'auto' } }).config.workers,
    ).toBe('auto');
    expect(loadConfig({ env: { ...productionEnv(), GATEHOUSE_WORKERS: '4' } }).config.workers).toBe(
      4,
    );
    for (const workers of ['0', 'many', '-2', '1.5']) {
      expect(
        hasProblem(
          problemsOf({ env: { GATEHOUSE_WORKERS: workers }, input: devInput() }),
          /^workers: /,
        ),
        workers,
      ).toBe(true);
    }
    // Development without Redis or secrets: each worker would have its own sessions and keys.
    const problems = problemsOf({ env: { GATEHOUSE_WORKERS: '2' }, input: devInput() });
    for (const needed of [
      /needs Redis/,
      /needs SESSION_SECRET/,
      /needs GATEHOUSE_ENCRYPTION_KEYS/,
    ]) {
      expect(hasProblem(problems, needed)).toBe(true);
    }
    // The embedded dev stack's routes include a Gatehouse-signed one (/api/demo-gh): each worker
    // would sign with a random key of its own.
    expect(
      hasProblem(
        problemsOf({ env: { GATEHOUSE_WORKERS: '2' } }),
        /needs GATEHOUSE_SIGNING_KEYS \(the same in every worker\) when a route uses tokenMode "gatehouse"/,
      ),
    ).toBe(true);
    // Without such a route, workers need no signing key.
    const withoutSigned = problemsOf({
      env: { GATEHOUSE_WORKERS: '2' },
      input: devInput({
        routes: [{ prefix: '/api/demo', upstream: 'http://localhost:4001', tokenMode: 'user' }],
      }),
    });
    expect(hasProblem(withoutSigned, /GATEHOUSE_SIGNING_KEYS/)).toBe(false);
  });

  describe('GATEHOUSE_CONFIG', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-test-'));
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    function writeConfig(name: string, text: string): string {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    }

    it('reads the named JSON file', () => {
      const path = writeConfig(
        'good.json',
        JSON.stringify({
          mode: 'development',
          publicUrl: 'http://localhost:3100',
          port: 3100,
          tenants: [tenant('acme', { emailDomains: ['ACME.example'] })],
          defaultTenant: 'acme',
        }),
      );
      const { config } = loadConfig({ env: { GATEHOUSE_CONFIG: path } });
      expect(config.port).toBe(3100);
      expect(config.publicUrl).toBe('http://localhost:3100');
      expect(config.tenants[0]?.emailDomains).toEqual(['acme.example']);
      expect(config.tenants[0]?.providers[0]?.scopes).toEqual([
        'openid',
        'profile',
        'email',
        'offline_access',
      ]);
      // A file replaces the development defaults entirely.
      expect(config.routes).toEqual([]);
      expect(config.devIdpOrigins).toEqual([]);
    });

    it('refuses a tenant restriction on routes that also serve anonymous calls', () => {
      const route = (tokenMode: string) => ({
        prefix: `/api/${tokenMode}`,
        upstream: 'http://localhost:4001',
        tokenMode,
        tenants: ['acme'],
      });
      const problems = problemsOf({
        input: devInput({
          tenants: [tenant('acme')],
          routes: [route('none'), route('optional'), route('user')],
        }),
      });
      expect(problems).toEqual([
        'routes./api/none.tenants: only for tokenMode "user" or "gatehouse"',
        'routes./api/optional.tenants: only for tokenMode "user" or "gatehouse"',
      ]);
    });

    it('refuses a development config file started with NODE_ENV=production unless GATEHOUSE_MODE decides', () => {
      const path = writeConfig('dev-mode.json', JSON.stringify(devInput()));
      expect(problemsOf({ env: { GATEHOUSE_CONFIG: path, NODE_ENV: 'production' } })).toEqual([
        'mode: the config file says "development" but NODE_ENV=production; set GATEHOUSE_MODE to choose',
      ]);
      const chosen = loadConfig({
        env: { GATEHOUSE_CONFIG: path, NODE_ENV: 'production', GATEHOUSE_MODE: 'development' },
      });
      expect(chosen.config.mode).toBe('development');
    });

    it('treats a config file that names no mode as production (its checks run)', () => {
      const { mode: _mode, ...withoutMode } = devInput({ publicUrl: 'http://app.example.com' });
      const path = writeConfig('no-mode.json', JSON.stringify(withoutMode));
      const problems = problemsOf({ env: { GATEHOUSE_CONFIG: path } });
      expect(problems).toContain('publicUrl: production mode requires an https PUBLIC_URL');
      expect(problems).toContain('SESSION_SECRET: required in production mode');
      expect(
        loadConfig({ env: { GATEHOUSE_CONFIG: path, NODE_ENV: 'development' } }).config.mode,
      ).toBe('development');
    });

    it('lets the environment override the file', () => {
      const path = writeConfig('port.json', JSON.stringify(devInput({ port: 3100 })));
      expect(loadConfig({ env: { GATEHOUSE_CONFIG: path, PORT: '3200' } }).config.port).toBe(3200);
    });

    it('reports invalid JSON as a ConfigError naming the file', () => {
      const path = writeConfig('broken.json', '{ "mode": "development", ');
      const problems = problemsOf({ env: { GATEHOUSE_CONFIG: path } });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(`GATEHOUSE_CONFIG (${path})`);
    });

    it('reports the line and column of a JSON syntax error without quoting the file', () => {
      const secret = 'client-secret-do-not-echo';
      const text = `{\n  "mode": "development",\n  "clientSecret": "${secret}",\n}\n`;
      const path = writeConfig('trailing-comma.json', text);
      const problems = problemsOf({ env: { GATEHOUSE_CONFIG: path } });
      expect(problems).toEqual([
        `GATEHOUSE_CONFIG (${path}): is not valid JSON: PropertyNameExpected at line 4, column 1`,
      ]);
      expect(problems.join('\n')).not.toContain(secret);

      const bareWord = writeConfig('bare-word.json', '{\n  "mode": "development",\n  "x": yes\n}');
      expect(problemsOf({ env: { GATEHOUSE_CONFIG: bareWord } })[0]).toMatch(
        /: is not valid JSON: \w+ at line 3, column 8$/,
      );
    });

    it('reports a missing file as a ConfigError', () => {
      const path = join(dir, 'does-not-exist.json');
      expect(problemsOf({ env: { GATEHOUSE_CONFIG: path } })[0]).toContain(
        `GATEHOUSE_CONFIG (${path})`,
      );
    });

    // Regression: a file holding `null` silently loaded the development defaults.
    it.each(['null', '[]', '"text"', '42', 'true'])(
      'refuses a file holding %s instead of an object',
      (text) => {
        const path = writeConfig('not-object.json', text);
        expect(problemsOf({ env: { GATEHOUSE_CONFIG: path } })).toEqual([
          `GATEHOUSE_CONFIG (${path}): must contain a JSON object`,
        ]);
      },
    );

    it('prefers the in-memory input over the file', () => {
      const { config } = loadConfig({
        env: { GATEHOUSE_CONFIG: join(dir, 'ignored.json') },
        input: devInput({ port: 3300 }),
        readFile: () => {
          throw new Error('the file must not be read when input is given');
        },
      });
      expect(config.port).toBe(3300);
    });

    it('reads through an injected readFile', () => {
      const seen: string[] = [];
      const { config } = loadConfig({
        env: { GATEHOUSE_CONFIG: '/virtual/gatehouse.json' },
        readFile: (path) => {
          seen.push(path);
          return JSON.stringify(devInput({ port: 3400 }));
        },
      });
      expect(seen).toEqual(['/virtual/gatehouse.json']);
      expect(config.port).toBe(3400);
    });
  });
});

describe('loadConfig: validation', () => {
  it('refuses duplicate tenant ids, provider ids and email domains', () => {
    const problems = problemsOf({
      input: devInput({
        tenants: [
          tenant('acme', {
            emailDomains: ['acme.example', 'shared.example'],
            providers: [provider(), provider()],
          }),
          tenant('acme'),
          tenant('globex', { emailDomains: ['SHARED.example'] }),
        ],
      }),
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'tenants: duplicate tenant id "acme"',
        'tenants.acme.providers.idp: duplicate provider id',
        'tenants.globex.emailDomains: "shared.example" also belongs to "acme"',
      ]),
    );
  });

  it('allows the same provider id in different tenants', () => {
    const { config } = loadConfig({
      input: devInput({ tenants: [tenant('acme'), tenant('globex')] }),
    });
    expect(config.tenants.map((t) => t.providers[0]?.id)).toEqual(['idp', 'idp']);
  });

  it('refuses an unknown defaultTenant and an unknown route tenant', () => {
    const problems = problemsOf({
      input: devInput({
        tenants: [tenant('acme')],
        defaultTenant: 'initech',
        routes: [route('/api/demo', { tenants: ['acme', 'globex'] })],
      }),
    });
    expect(problems).toEqual([
      'defaultTenant: unknown tenant "initech"',
      'routes./api/demo.tenants: unknown tenant "globex"',
    ]);
  });

  it.each([
    '/api/',
    '/api',
    'api/demo',
    '/api/demo/',
    '/api/Demo',
    '/api/demo/sub',
    '/api/-demo',
    '/api/de mo',
    '/api/de_mo',
    '/apix/demo',
    '/bff/demo',
    '/api/demo?x',
    '/api/../admin',
    '',
  ])('refuses the route prefix %j', (prefix) => {
    const problems = problemsOf({ input: devInput({ routes: [route(prefix)] }) });
    expect(problems).toEqual(['routes.0.prefix: must look like /api/<name>']);
  });

  it('refuses duplicate route prefixes', () => {
    const problems = problemsOf({
      input: devInput({ routes: [route('/api/a'), route('/api/a')] }),
    });
    expect(problems).toEqual(['routes: duplicate prefix "/api/a"']);
  });

  it.each([
    ['http://localhost:4001/?x=1', 'query'],
    ['http://localhost:4001/base#frag', 'fragment'],
    ['http://user@localhost:4001', 'user name'],
    ['http://user:pw@localhost:4001', 'user and password'],
    ['http://:pw@localhost:4001', 'password only'],
  ])('refuses the upstream %s (%s)', (upstream) => {
    const problems = problemsOf({ input: devInput({ routes: [route('/api/a', { upstream })] }) });
    expect(problems).toEqual([
      'routes./api/a.upstream: must not carry a query, fragment or credentials',
    ]);
  });

  it.each([
    'ftp://localhost:4001',
    'file:///etc/passwd',
    'localhost:4001',
    '/relative',
    'javascript:alert(1)',
  ])('refuses the non-http upstream %s', (upstream) => {
    expect(
      hasProblem(
        problemsOf({ input: devInput({ routes: [route('/api/a', { upstream })] }) }),
        /^routes\.\/api\/a\.upstream: /,
      ),
    ).toBe(true);
  });

  it('fills route defaults', () => {
    const { config } = loadConfig({
      input: devInput({ routes: [route('/api/a', { upstream: 'https://api.example.com/v1' })] }),
    });
    expect(config.routes[0]).toEqual({
      prefix: '/api/a',
      upstream: 'https://api.example.com/v1',
      tokenMode: 'user',
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      timeoutMs: 10_000,
      idleTimeoutMs: 300_000,
      allowSetCookie: false,
      websocket: false,
      websocketIdleTimeoutMs: 300_000,
      websocketMaxMessageBytes: 1024 * 1024,
    });
  });

  it('fills the WebSocket defaults and reads their environment variables', () => {
    const defaults = loadConfig({ input: devInput({}) }).config;
    expect(defaults.websocket).toEqual({ sessionCheckIntervalMs: 5000, pingIntervalMs: 30_000 });
    const { config } = loadConfig({
      input: devInput({}),
      env: { WEBSOCKET_SESSION_CHECK_MS: '250', WEBSOCKET_PING_INTERVAL_MS: '2000' },
    });
    expect(config.websocket).toEqual({ sessionCheckIntervalMs: 250, pingIntervalMs: 2000 });
    expect(
      hasProblem(
        problemsOf({ input: devInput({}), env: { WEBSOCKET_SESSION_CHECK_MS: '10' } }),
        /^websocket\.sessionCheckIntervalMs: /,
      ),
    ).toBe(true);
    expect(
      hasProblem(
        problemsOf({
          input: devInput({ routes: [route('/api/a', { websocketMaxMessageBytes: 0 })] }),
        }),
        /^routes\.\/api\/a\.websocketMaxMessageBytes: /,
      ),
    ).toBe(true);
  });

  it('bounds a route’s timeouts', () => {
    const problems = problemsOf({
      input: devInput({
        routes: [
          route('/api/a', { timeoutMs: 50 }),
          route('/api/b', { idleTimeoutMs: 500 }),
          route('/api/c', { idleTimeoutMs: 7_200_000 }),
        ],
      }),
    });
    expect(hasProblem(problems, /^routes\.\/api\/a\.timeoutMs: /)).toBe(true);
    expect(hasProblem(problems, /^routes\.\/api\/b\.idleTimeoutMs: /)).toBe(true);
    expect(hasProblem(problems, /^routes\.\/api\/c\.idleTimeoutMs: /)).toBe(true);
    const { config } = loadConfig({
      input: devInput({ routes: [route('/api/sse', { idleTimeoutMs: 90_000 })] }),
    });
    expect(config.routes[0]?.idleTimeoutMs).toBe(90_000);
  });

  it.each([
    'http://idp.example.com:4000',
    'http://localhost.evil.example:4000',
    'http://127.0.0.1.nip.io:4000',
    'http://10.0.0.1:4000',
    'http://localhost:4000/realm',
    'http://localhost:4000/?x=1',
  ])('refuses the non-loopback or non-bare dev IdP origin %s', (origin) => {
    const problems = problemsOf({ input: devInput({ devIdpOrigins: [origin] }) });
    expect(problems).toEqual([
      `devIdpOrigins: "${origin}" must be a bare loopback origin (http://localhost:4000)`,
    ]);
  });

  it.each([
    'http://localhost:4000',
    'http://localhost:4000/',
    'http://127.0.0.1:4000',
    'http://[::1]:4000',
  ])(
    'accepts the loopback dev IdP origin %s and http issuers under it in development',
    (origin) => {
      const issuer = `${new URL(origin).origin}/realm`;
      const { config } = loadConfig({
        input: devInput({
          devIdpOrigins: [origin],
          tenants: [tenant('acme', { providers: [provider({ issuer })] })],
        }),
      });
      expect(config.tenants[0]?.providers[0]?.issuer).toBe(issuer);
    },
  );

  it('refuses an http issuer that is not under a configured dev IdP origin', () => {
    const problems = problemsOf({
      input: devInput({
        devIdpOrigins: ['http://localhost:4000'],
        tenants: [tenant('acme', { providers: [provider({ issuer: 'http://localhost:4999' })] })],
      }),
    });
    expect(problems).toEqual([
      'tenants.acme.providers.idp.issuer: must be https (http only for a configured dev IdP origin in development mode)',
    ]);
  });

  it('checks client secrets against the token endpoint auth method and requires openid', () => {
    const problems = problemsOf({
      input: devInput({
        tenants: [
          tenant('acme', {
            providers: [
              // A BFF is a confidential client: a public client's `none` is refused.
              provider({ id: 'public', tokenEndpointAuthMethod: 'none' }),
              provider({ id: 'basic', clientSecret: undefined }),
              provider({
                id: 'post',
                tokenEndpointAuthMethod: 'client_secret_post',
                clientSecret: undefined,
              }),
              provider({ id: 'noopenid', scopes: ['profile'] }),
              provider({ id: 'pkjwt', tokenEndpointAuthMethod: 'private_key_jwt' }),
            ],
          }),
        ],
      }),
    });
    expect(problems).toEqual([
      'tenants.acme.providers.public.tokenEndpointAuthMethod: a BFF is a confidential client: use client_secret_basic, client_secret_post or private_key_jwt',
      'tenants.acme.providers.noopenid.scopes: must include "openid"',
      'tenants.acme.providers.basic.clientSecret: required for client_secret_basic',
      'tenants.acme.providers.post.clientSecret: required for client_secret_post',
      'tenants.acme.providers.pkjwt.clientSecret: must be absent for private_key_jwt',
    ]);
  });

  it('gives a provider of the file the model defaults, and refuses hostile settings', () => {
    const { config } = loadConfig({ env: {}, input: devInput({ tenants: [tenant('acme')] }) });
    expect(config.tenants[0]?.providers[0]).toMatchObject({
      tokenEndpointAuthMethod: 'client_secret_basic',
      pkce: 'required',
      par: 'auto',
      dpop: false,
      logout: 'end-session',
      endSessionParams: {},
      profile: 'generic',
    });
    expect(config.tenants[0]?.providers[0]).not.toHaveProperty('idTokenSignedResponseAlg');

    // A profile fills in what the provider leaves out; what it sets wins.
    const profiled = loadConfig({
      env: {},
      input: devInput({
        tenants: [
          tenant('acme', {
            providers: [
              provider({ id: 'google', profile: 'google', logout: 'end-session' }),
              provider({ id: 'entra', profile: 'entra' }),
            ],
          }),
        ],
      }),
    }).config.tenants[0]?.providers;
    expect(profiled?.[0]).toMatchObject({
      profile: 'google',
      scopes: ['openid', 'profile', 'email'],
      authorizationParams: { access_type: 'offline', prompt: 'consent' },
      logout: 'end-session',
    });
    expect(profiled?.[1]).toMatchObject({ profile: 'entra', pkce: 'assume-supported' });

    const problems = problemsOf({
      input: devInput({
        tenants: [
          tenant('acme', {
            providers: [
              provider({ id: 'hmac', idTokenSignedResponseAlg: 'HS256' }),
              provider({ id: 'unsigned', idTokenSignedResponseAlg: 'none' }),
              provider({ id: 'es', idTokenSignedResponseAlg: 'ES256' }),
              provider({ id: 'hint', endSessionParams: { id_token_hint: 'forged' } }),
              provider({ id: 'pkce', pkce: 'off' }),
              provider({ id: 'par', par: 'always' }),
              provider({ id: 'logout', logout: 'front-channel' }),
              provider({ id: 'nonce', authorizationParams: { nonce: 'fixed' } }),
            ],
          }),
        ],
      }),
    });
    expect(problems).toEqual([
      'tenants.acme.providers.hmac.idTokenSignedResponseAlg: HMAC algorithms are refused: ID tokens must be signed with an asymmetric key',
      'tenants.acme.providers.unsigned.idTokenSignedResponseAlg: unsigned ID tokens ("none") are never accepted',
      'tenants.acme.providers.hint.endSessionParams.id_token_hint: is set by Gatehouse itself',
      'tenants.acme.providers.pkce.pkce: must be one of "required", "assume-supported"',
      'tenants.acme.providers.par.par: must be one of "auto", "required", "off"',
      'tenants.acme.providers.logout.logout: must be one of "end-session", "cognito", "none"',
      'tenants.acme.providers.nonce.authorizationParams.nonce: is set by Gatehouse itself',
    ]);
  });

  it.each([
    ['too short', 'k1', randomBytes(31).toString('base64url')],
    ['too long', 'k1', randomBytes(33).toString('base64url')],
    ['standard base64', 'k1', `${'A'.repeat(42)}+`],
    ['padded', 'k1', `${randomSecret()}=`],
    ['empty', 'k1', ''],
  ])('refuses an encryption key that is %s', (_what, kid, key) => {
    const problems = problemsOf({ input: devInput({ encryptionKeys: [{ kid, key }] }) });
    expect(problems).toEqual([
      'encryptionKeys.k1.key: must be 32 bytes, base64url encoded (43 chars)',
    ]);
  });

  it('refuses a bad kid, duplicate kids and an empty key list', () => {
    expect(
      hasProblem(
        problemsOf({ input: devInput({ encryptionKeys: [{ kid: 'a b', key: KEY_A }] }) }),
        /^encryptionKeys\.0\.kid: /,
      ),
    ).toBe(true);
    expect(
      hasProblem(
        problemsOf({ input: devInput({ encryptionKeys: [{ kid: 'x'.repeat(33), key: KEY_A }] }) }),
        /^encryptionKeys\.0\.kid: /,
      ),
    ).toBe(true);
    expect(
      problemsOf({
        input: devInput({
          encryptionKeys: [
            { kid: 'same', key: KEY_A },
            { kid: 'same', key: KEY_B },
          ],
        }),
      }),
    ).toEqual(['encryptionKeys: duplicate kid']);
    expect(
      hasProblem(problemsOf({ input: devInput({ encryptionKeys: [] }) }), /^encryptionKeys: /),
    ).toBe(true);
  });

  it.each([
    ['no colon', 'k1'],
    ['no key', 'k1:'],
    ['no kid', `:${KEY_A}`],
    ['three parts', `k1:${KEY_A}:extra`],
    ['empty entry', `k1:${KEY_A},`],
  ])('refuses GATEHOUSE_ENCRYPTION_KEYS with %s', (_what, value) => {
    const problems = problemsOf({ env: { GATEHOUSE_ENCRYPTION_KEYS: value }, input: devInput() });
    expect(
      hasProblem(problems, /^GATEHOUSE_ENCRYPTION_KEYS\.\d: expected "<kid>:<base64url key>"$/),
    ).toBe(true);
    // The value itself (a secret) is never echoed in the problems.
    for (const problem of problems) expect(problem).not.toContain(KEY_A);
  });

  it('refuses a GATEHOUSE_ENCRYPTION_KEYS key of the wrong length without echoing it', () => {
    const short = randomBytes(16).toString('base64url');
    const problems = problemsOf({
      env: { GATEHOUSE_ENCRYPTION_KEYS: `k1:${short}` },
      input: devInput(),
    });
    expect(problems).toEqual([
      'encryptionKeys.k1.key: must be 32 bytes, base64url encoded (43 chars)',
    ]);
  });

  it('refuses short session secrets', () => {
    const problems = problemsOf({ env: { SESSION_SECRET: 'x'.repeat(31) }, input: devInput() });
    expect(problems).toEqual(['session.secrets.0: must be at least 32 characters']);
  });

  it.each([
    ['the root', { surprise: true }, /^\(root\): Unrecognized key: "surprise"/],
    [
      'session',
      { session: { secrets: [randomSecret()], ttl: 5 } },
      /^session: Unrecognized key: "ttl"/,
    ],
    [
      'a tenant',
      { tenants: [tenant('acme', { domain: 'x' })] },
      /^tenants\.acme: Unrecognized key: "domain"/,
    ],
    [
      'a provider',
      { tenants: [tenant('acme', { providers: [provider({ clientSecrett: 'typo' })] })] },
      /^tenants\.acme\.providers\.idp: Unrecognized key: "clientSecrett"/,
    ],
    [
      'a route',
      { routes: [route('/api/a', { allowSetCookies: true })] },
      /^routes\.\/api\/a: Unrecognized key: "allowSetCookies"/,
    ],
    [
      'an encryption key',
      { encryptionKeys: [{ kid: 'k', key: KEY_A, alg: 'A256GCM' }] },
      /^encryptionKeys\.k: Unrecognized key: "alg"/,
    ],
  ])('refuses unknown keys in %s', (_where, overrides, pattern) => {
    expect(hasProblem(problemsOf({ input: devInput(overrides) }), pattern)).toBe(true);
  });

  it('refuses an absolute timeout shorter than the idle timeout', () => {
    const problems = problemsOf({
      input: devInput({
        session: {
          secrets: [randomSecret()],
          idleTimeoutSeconds: 3600,
          absoluteTimeoutSeconds: 1800,
        },
      }),
    });
    expect(problems).toEqual([
      'session.absoluteTimeoutSeconds: must not be shorter than idleTimeoutSeconds',
    ]);
    const equal = loadConfig({
      input: devInput({
        session: {
          secrets: [randomSecret()],
          idleTimeoutSeconds: 900,
          absoluteTimeoutSeconds: 900,
        },
      }),
    });
    expect(equal.config.session.absoluteTimeoutSeconds).toBe(900);
  });

  it.each([
    'http://localhost:3000/app',
    'http://localhost:3000/?x=1',
    'http://localhost:3000/#x',
    'http://u:p@localhost:3000',
  ])('refuses the public URL %s (origin only)', (publicUrl) => {
    expect(problemsOf({ input: devInput({ publicUrl }) })).toEqual([
      'publicUrl: must be an origin only (scheme, host, port), e.g. https://app.example.com',
    ]);
  });

  // Regression: zod ran the http(s) refinement after a failed URL check, and `new URL` threw a
  // TypeError instead of the ConfigError listing the problem.
  it.each([
    [
      'PUBLIC_URL',
      { env: { PUBLIC_URL: 'app.example.com' }, input: devInput() },
      /^publicUrl: must be an absolute URL$/,
    ],
    [
      'an upstream',
      { input: devInput({ routes: [route('/api/a', { upstream: 'localhost' })] }) },
      /^routes\.\/api\/a\.upstream: must be an absolute URL$/,
    ],
    [
      'an issuer',
      {
        input: devInput({
          tenants: [tenant('acme', { providers: [provider({ issuer: '/idp' })] })],
        }),
      },
      /^tenants\.acme\.providers\.idp\.issuer: must be an absolute URL$/,
    ],
    [
      'a dev IdP origin',
      { input: devInput({ devIdpOrigins: [':4000'] }) },
      /^devIdpOrigins\.0: must be an absolute URL$/,
    ],
  ] as const)(
    'reports a relative URL in %s as a problem, not a crash',
    (_where, options, pattern) => {
      expect(problemsOf(options)).toEqual([expect.stringMatching(pattern)]);
    },
  );

  it('refuses a redis URL of another scheme', () => {
    expect(
      hasProblem(
        problemsOf({ input: devInput({ redisUrl: 'http://127.0.0.1:6379' }) }),
        /^redis\.url: /,
      ),
    ).toBe(true);
  });

  it('collects problems from many checks into one error', () => {
    const problems = problemsOf({
      input: devInput({
        tenants: [tenant('acme'), tenant('acme')],
        defaultTenant: 'nobody',
        routes: [route('/api/a', { upstream: 'http://localhost:4001/?q', tenants: ['ghost'] })],
        devIdpOrigins: ['http://idp.example.com'],
      }),
    });
    expect(problems).toHaveLength(5);
  });
});

describe('loadConfig: result', () => {
  it('reports secureCookies for https public URLs only', () => {
    expect(
      loadConfig({ input: devInput({ publicUrl: 'https://localhost:3443' }) }).config.secureCookies,
    ).toBe(true);
    expect(
      loadConfig({ input: devInput({ publicUrl: 'http://localhost:3000' }) }).config.secureCookies,
    ).toBe(false);
  });

  it('is deeply frozen: every mutation throws in strict mode', () => {
    const { config } = loadConfig({
      input: devInput({
        session: { secrets: [randomSecret()] },
        encryptionKeys: [{ kid: 'k1', key: KEY_A }],
        tenants: [
          tenant('acme', {
            emailDomains: ['acme.example'],
            providers: [provider({ authorizationParams: { prompt: 'login' } })],
          }),
        ],
        routes: [route('/api/a', { tenants: ['acme'] })],
      }),
    });
    const mutable = config as unknown as {
      port: number;
      session: { secrets: string[]; idleTimeoutSeconds: number };
      encryptionKeys: { key: string }[];
      tenants: {
        id: string;
        emailDomains: string[];
        providers: {
          issuer: string;
          scopes: string[];
          authorizationParams: Record<string, string>;
        }[];
      }[];
      routes: { upstream: string; methods: string[]; tenants: string[] }[];
      devIdpOrigins: string[];
    };
    const mutations: (() => void)[] = [
      () => {
        mutable.port = 1;
      },
      () => {
        mutable.session.idleTimeoutSeconds = 1;
      },
      () => mutable.session.secrets.push('x'),
      () => {
        mutable.encryptionKeys[0]!.key = 'x';
      },
      () => mutable.encryptionKeys.pop(),
      () => {
        mutable.tenants[0]!.id = 'evil';
      },
      () => mutable.tenants.push(mutable.tenants[0]!),
      () => mutable.tenants[0]!.emailDomains.push('evil.example'),
      () => {
        mutable.tenants[0]!.providers[0]!.issuer = 'https://evil.example';
      },
      () => mutable.tenants[0]!.providers[0]!.scopes.push('admin'),
      () => {
        mutable.tenants[0]!.providers[0]!.authorizationParams.prompt = 'none';
      },
      () => {
        mutable.routes[0]!.upstream = 'http://evil.example';
      },
      () => mutable.routes[0]!.methods.push('CONNECT'),
      () => mutable.routes[0]!.tenants.push('globex'),
      () => mutable.devIdpOrigins.push('http://localhost:1'),
      () => {
        delete (mutable as { port?: number }).port;
      },
    ];
    for (const mutate of mutations) expect(mutate).toThrow(TypeError);
    expect(config.port).toBe(3000);
    expect(config.tenants[0]?.providers[0]?.scopes).toEqual([
      'openid',
      'profile',
      'email',
      'offline_access',
    ]);
  });

  it('neither freezes nor keeps references to the caller’s input', () => {
    const input = devInput({
      tenants: [
        tenant('acme', { providers: [provider({ authorizationParams: { prompt: 'login' } })] }),
      ],
    });
    const { config } = loadConfig({ input });
    expect(Object.isFrozen(input)).toBe(false);
    expect(Object.isFrozen(input.tenants)).toBe(false);
    (input.tenants as { name: string }[])[0]!.name = 'Changed';
    expect(config.tenants[0]?.name).toBe('ACME');
  });

  it('loads one config after another independently', () => {
    const a = loadConfig({ input: devInput({ routes: [route('/api/a')] }) }).config;
    const b = loadConfig({
      input: devInput({ routes: [route('/api/b', { methods: ['GET'] })] }),
    }).config;
    expect(a.routes.map((r) => r.prefix)).toEqual(['/api/a']);
    expect(b.routes[0]?.methods).toEqual(['GET']);
    expect(a.routes[0]?.methods).toEqual(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
  });
});
