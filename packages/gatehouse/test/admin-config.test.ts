import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type LoadConfigOptions } from '../src/config/load.ts';

/** Config for the admin API and the tenant model: operator token, tenant hosts, admin rules. */
const random = () => randomBytes(32).toString('base64url');

const productionEnv = (): Record<string, string> => ({
  GATEHOUSE_MODE: 'production',
  PUBLIC_URL: 'https://app.example.com',
  SESSION_SECRET: random(),
  GATEHOUSE_ENCRYPTION_KEYS: `k1:${random()}`,
  REDIS_URL: 'redis://127.0.0.1:6379',
});

function problemsOf(options: LoadConfigOptions): string[] {
  try {
    loadConfig(options);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const tenant = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  name: id,
  providers: [{ id: 'idp', issuer: 'https://idp.example.com', clientId: 'c', clientSecret: 's' }],
  ...extra,
});

describe('admin configuration', () => {
  it('reads the operator token from GATEHOUSE_ADMIN_TOKEN and has no operator without it', () => {
    const token = random();
    expect(
      loadConfig({ env: { ...productionEnv(), GATEHOUSE_ADMIN_TOKEN: token } }).config.adminToken,
    ).toBe(token);
    expect(loadConfig({ env: productionEnv() }).config.adminToken).toBeUndefined();
  });

  it('requires a long, non-placeholder operator token in production', () => {
    expect(
      problemsOf({ env: { ...productionEnv(), GATEHOUSE_ADMIN_TOKEN: 'short-token' } }),
    ).toEqual(['GATEHOUSE_ADMIN_TOKEN: must be at least 32 characters in production mode']);
    expect(
      problemsOf({
        env: { ...productionEnv(), GATEHOUSE_ADMIN_TOKEN: 'change-me-change-me-change-me-1234' },
      }),
    ).toEqual(['GATEHOUSE_ADMIN_TOKEN: looks like a placeholder; use 32+ random characters']);
    // Development mode accepts a short one (local consoles, tests).
    expect(loadConfig({ env: { GATEHOUSE_ADMIN_TOKEN: 'dev' } }).config.adminToken).toBe('dev');
  });

  it('accepts tenant hosts and admin rules, and refuses clashes and unusable claims', () => {
    const input = {
      mode: 'development' as const,
      publicUrl: 'http://localhost:3000',
      tenants: [
        tenant('acme', {
          hosts: ['Acme.Example.com'],
          adminRule: { claim: 'groups', value: 'it-admins' },
        }),
        tenant('globex'),
      ],
    };
    const { config } = loadConfig({ env: {}, input });
    expect(config.tenants[0]?.hosts).toEqual(['acme.example.com']);
    expect(config.tenants[0]?.adminRule).toEqual({ claim: 'groups', value: 'it-admins' });
    expect(config.tenants[1]?.adminRule).toBeUndefined();

    const problems = problemsOf({
      env: {},
      input: {
        ...input,
        tenants: [
          tenant('acme', { hosts: ['app.example.com'], adminRule: { claim: 'email', value: 'x' } }),
          tenant('globex', { hosts: ['app.example.com', 'not a host'] }),
        ],
      },
    });
    expect(problems).toEqual([
      expect.stringMatching(/^tenants\.acme\.adminRule\.claim: /),
      'tenants.globex.hosts.1: must be a host name such as app.example.com',
      // The cross-tenant check runs on the valid hosts in the same run as the schema.
      'tenants.globex.hosts: "app.example.com" also belongs to "acme"',
    ]);
    expect(
      problemsOf({
        env: {},
        input: {
          ...input,
          tenants: [tenant('acme', { hosts: ['a.test'] }), tenant('b', { hosts: ['a.test'] })],
        },
      }),
    ).toEqual(['tenants.b.hosts: "a.test" also belongs to "acme"']);
  });
});
