import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type LoadConfigOptions } from '../src/config/load.ts';
import { MAX_SECRET_FILE_BYTES } from '../src/config/secret-files.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-secret-files-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `content` to a fresh file in the temp dir and returns its path. */
function secretFile(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const sessionSecret = () => randomBytes(32).toString('base64url');
const encryptionKeys = () => `k1:${randomBytes(32).toString('base64url')}`;

/** A complete production environment; `secrets` replaces any of its secret variables. */
function productionEnv(secrets: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {
    GATEHOUSE_MODE: 'production',
    PUBLIC_URL: 'https://app.example.com',
    REDIS_URL: 'redis://cache:6379',
    SESSION_SECRET: sessionSecret(),
    GATEHOUSE_ENCRYPTION_KEYS: encryptionKeys(),
  };
  for (const [name, value] of Object.entries(secrets)) {
    if (name.endsWith('_FILE')) delete env[name.slice(0, -'_FILE'.length)];
    env[name] = value;
  }
  return env;
}

function problemsOf(options: LoadConfigOptions): readonly string[] {
  try {
    loadConfig(options);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('secrets from files (<VARIABLE>_FILE)', () => {
  it('reads every secret variable from its file, without the trailing newline', () => {
    const secret = sessionSecret();
    const keys = encryptionKeys();
    const adminToken = randomBytes(32).toString('base64url');
    const redisPassword = randomBytes(16).toString('hex');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signingKeys = [{ kid: 'sig1', privateJwk: privateKey.export({ format: 'jwk' }) }];
    const { config } = loadConfig({
      env: productionEnv({
        SESSION_SECRET_FILE: secretFile('session', `${secret}\n`),
        GATEHOUSE_ENCRYPTION_KEYS_FILE: secretFile('enc', `${keys}\r\n`),
        // A pretty-printed JSON file, as an editor saves it.
        GATEHOUSE_SIGNING_KEYS_FILE: secretFile('sig', `${JSON.stringify(signingKeys, null, 2)}\n`),
        GATEHOUSE_ADMIN_TOKEN_FILE: secretFile('admin', adminToken),
        REDIS_PASSWORD_FILE: secretFile('redis', `${redisPassword}\n\n`),
      }),
    });
    expect(config.session.secrets).toEqual([secret]);
    expect(config.encryptionKeys).toEqual([{ kid: 'k1', key: keys.slice(3) }]);
    expect(config.signingKeys.map((key) => key.kid)).toEqual(['sig1']);
    expect(config.signingKeys[0]?.privateJwk).toEqual(signingKeys[0]?.privateJwk);
    expect(config.adminToken).toBe(adminToken);
    // A standalone server takes its password in the URL: the loader puts it there.
    expect(config.redis).toEqual({ url: `redis://:${redisPassword}@cache:6379` });
  });

  it('reads the data and Sentinel passwords of a Sentinel group from files', () => {
    const { config } = loadConfig({
      env: productionEnv({
        REDIS_URL: '',
        REDIS_SENTINELS: 's1:26379',
        REDIS_SENTINEL_MASTER: 'gatehouse',
        REDIS_PASSWORD_FILE: secretFile('data-pass', 'data-pass\n'),
        REDIS_SENTINEL_PASSWORD_FILE: secretFile('sentinel-pass', 'sentinel-pass\n'),
      }),
    });
    expect(config.redis).toMatchObject({
      password: 'data-pass',
      sentinelPassword: 'sentinel-pass',
    });
  });

  it('follows a symbolic link, as Kubernetes mounts secrets', () => {
    const secret = sessionSecret();
    const target = secretFile('k8s-target', `${secret}\n`);
    const link = join(dir, 'k8s-link');
    symlinkSync(target, link);
    const { config } = loadConfig({ env: productionEnv({ SESSION_SECRET_FILE: link }) });
    expect(config.session.secrets).toEqual([secret]);
  });

  it('refuses both VARIABLE and VARIABLE_FILE', () => {
    const env = productionEnv({});
    env.SESSION_SECRET_FILE = secretFile('both', sessionSecret());
    expect(problemsOf({ env })).toContain(
      'SESSION_SECRET and SESSION_SECRET_FILE: set one of them, not both',
    );
  });

  const hostile: Array<[string, () => string, RegExp]> = [
    ['a missing file', () => join(dir, 'does-not-exist'), /cannot be read \(ENOENT\)$/],
    [
      'a directory',
      () => {
        const path = join(dir, 'a-directory');
        mkdirSync(path, { recursive: true });
        return path;
      },
      /is not a regular file$/,
    ],
    ['an empty file', () => secretFile('empty', ''), /is empty$/],
    ['a file of line breaks only', () => secretFile('newlines', '\n\r\n'), /is empty$/],
    [
      'a huge file',
      () => secretFile('huge', Buffer.alloc(MAX_SECRET_FILE_BYTES + 1, 'a')),
      new RegExp(`is larger than ${MAX_SECRET_FILE_BYTES} bytes$`),
    ],
    ['a character device', () => '/dev/zero', /is not a regular file$/],
  ];
  for (const [what, path, message] of hostile) {
    it(`refuses ${what} with a problem naming the variable`, () => {
      const file = path();
      const problems = problemsOf({
        env: productionEnv({ GATEHOUSE_ENCRYPTION_KEYS_FILE: file }),
      });
      const problem = problems.find((p) => p.startsWith('GATEHOUSE_ENCRYPTION_KEYS_FILE'));
      expect(problem).toBe(`GATEHOUSE_ENCRYPTION_KEYS_FILE (${file}): ${problem?.split('): ')[1]}`);
      expect(problem).toMatch(message);
    });
  }

  it('never prints the content of a file that is not a valid value', () => {
    const content = 'not-a-key-but-a-secret-0123456789abcdef';
    const problems = problemsOf({
      env: productionEnv({ GATEHOUSE_SIGNING_KEYS_FILE: secretFile('bad-json', content) }),
    });
    expect(problems).toContain(
      'GATEHOUSE_SIGNING_KEYS: must be a JSON array of { kid, privateJwk, retiredAt? }',
    );
    expect(problems.join('\n')).not.toContain(content);
    const placeholder = problemsOf({
      env: productionEnv({ GATEHOUSE_ADMIN_TOKEN_FILE: secretFile('short', 'short-token\n') }),
    });
    expect(placeholder).toContain(
      'GATEHOUSE_ADMIN_TOKEN: must be at least 32 characters in production mode',
    );
    expect(placeholder.join('\n')).not.toContain('short-token');
  });

  it('refuses a REDIS_PASSWORD_FILE beside a REDIS_URL that carries a password', () => {
    const problems = problemsOf({
      env: productionEnv({
        REDIS_URL: 'redis://:inline@cache:6379',
        REDIS_PASSWORD_FILE: secretFile('redis-twice', 'other\n'),
      }),
    });
    expect(problems).toContain(
      'REDIS_PASSWORD: REDIS_URL already carries a password; give it in one place',
    );
  });
});

describe('client secrets from files in the config file', () => {
  const configWith = (clientSecret: unknown) =>
    JSON.stringify({
      tenants: [
        {
          id: 'acme',
          name: 'Acme',
          providers: [
            { id: 'main', issuer: 'https://idp.example.com', clientId: 'gh', clientSecret },
          ],
        },
      ],
    });

  it('reads { "file": … } into the provider client secret', () => {
    const secret = randomBytes(24).toString('base64url');
    const configFile = secretFile(
      'config-ok.json',
      configWith({ file: secretFile('client', `${secret}\n`) }),
    );
    const { config } = loadConfig({
      env: productionEnv({ GATEHOUSE_CONFIG: configFile }),
    });
    expect(config.tenants[0]?.providers[0]?.clientSecret).toBe(secret);
  });

  it('reports an unreadable client secret file with the provider and path, and a bad reference', () => {
    const missing = join(dir, 'no-client-secret');
    const problems = problemsOf({
      env: productionEnv({
        GATEHOUSE_CONFIG: secretFile('config-bad.json', configWith({ file: missing })),
      }),
    });
    expect(problems).toContain(
      `tenants.acme.providers.main.clientSecret (${missing}): cannot be read (ENOENT)`,
    );
    const wrongShape = problemsOf({
      env: productionEnv({
        GATEHOUSE_CONFIG: secretFile('config-shape.json', configWith({ file: missing, x: 1 })),
      }),
    });
    expect(wrongShape).toContain(
      'tenants.acme.providers.main.clientSecret: must be a string or { "file": "<path>" }',
    );
  });
});
