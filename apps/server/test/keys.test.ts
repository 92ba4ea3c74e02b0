// `gatehouse keys`: its output, fed back to the config loader and to a real production-mode
// Gatehouse process (real Redis), as the environment and as Docker-secret files (_FILE).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@gatehouse/core';
import {
  freePort,
  startRedisServer,
  startServerProcess,
  type RedisServer,
} from '@gatehouse/testkit';

const MAIN = resolve(import.meta.dirname, '../src/main.ts');
const NAMES = [
  'SESSION_SECRET',
  'GATEHOUSE_ENCRYPTION_KEYS',
  'GATEHOUSE_SIGNING_KEYS',
  'GATEHOUSE_ADMIN_TOKEN',
];

function keys(...args: string[]) {
  const run = spawnSync(process.execPath, [MAIN, 'keys', ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The NAME='value' lines, read as a POSIX shell reads them (no quote inside a value). */
function parseEnvLines(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.trimEnd().split('\n')) {
    const match = /^([A-Z_]+)='([^']*)'$/.exec(line);
    if (!match?.[1] || match[2] === undefined) throw new Error(`not a NAME='value' line: ${line}`);
    env[match[1]] = match[2];
  }
  return env;
}

/** A production deployment's other settings; every secret comes from `gatehouse keys`. */
const deployment = (port: number, redis: RedisServer) => ({
  GATEHOUSE_MODE: 'production',
  PUBLIC_URL: `https://localhost:${port}`,
  REDIS_URL: redis.url,
  LOG_LEVEL: 'warn',
});

let dir: string;
let redis: RedisServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-keys-'));
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse keys', () => {
  it('prints every secret in the form the config loader takes, fresh on every run', () => {
    const first = keys();
    expect(first.status, first.stderr).toBe(0);
    const env = parseEnvLines(first.stdout);
    expect(Object.keys(env)).toEqual(NAMES);
    const { config, warnings } = loadConfig({ env: { ...deployment(443, redis), ...env } });
    expect(warnings).toEqual([]);
    expect(config.session.secrets).toEqual([env.SESSION_SECRET]);
    expect(config.encryptionKeys).toHaveLength(1);
    expect(`${config.encryptionKeys[0]?.kid}:${config.encryptionKeys[0]?.key}`).toBe(
      env.GATEHOUSE_ENCRYPTION_KEYS,
    );
    expect(config.signingKeys).toHaveLength(1);
    expect(config.signingKeys[0]?.privateJwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(config.adminToken).toBe(env.GATEHOUSE_ADMIN_TOKEN);

    const second = parseEnvLines(keys().stdout);
    for (const name of NAMES) expect(second[name], name).not.toBe(env[name]);
  });

  it('starts a production Gatehouse with its output, which publishes the new signing key', async () => {
    const env = parseEnvLines(keys().stdout);
    const kid = (JSON.parse(env.GATEHOUSE_SIGNING_KEYS ?? '') as Array<{ kid: string }>)[0]?.kid;
    const port = await freePort();
    const server = await startServerProcess(port, { ...deployment(port, redis), ...env });
    try {
      const jwks = (await (await fetch(`${server.origin}/.well-known/jwks.json`)).json()) as {
        keys: Array<{ kid: string; d?: string }>;
      };
      expect(jwks.keys.map((key) => key.kid)).toEqual([kid]);
      expect(jwks.keys[0]?.d).toBeUndefined();
      // The admin token it printed is the operator's.
      const tenants = await fetch(`${server.origin}/admin/api/tenants`, {
        headers: { authorization: `Bearer ${env.GATEHOUSE_ADMIN_TOKEN}` },
      });
      expect(tenants.status).toBe(200);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('writes one 0600 file per secret with --dir, which the _FILE variables read', async () => {
    const secrets = join(dir, 'secrets');
    const run = keys('--dir', secrets);
    expect(run.status, run.stderr).toBe(0);
    const files = readdirSync(secrets).sort();
    expect(files).toEqual(NAMES.map((name) => name.toLowerCase()).sort());
    for (const file of files) expect(statSync(join(secrets, file)).mode & 0o777).toBe(0o600);

    const port = await freePort();
    const fileEnv = Object.fromEntries(
      NAMES.map((name) => [`${name}_FILE`, join(secrets, name.toLowerCase())]),
    );
    const server = await startServerProcess(port, { ...deployment(port, redis), ...fileEnv });
    try {
      const jwks = (await (await fetch(`${server.origin}/.well-known/jwks.json`)).json()) as {
        keys: Array<{ kid: string }>;
      };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]?.kid).toMatch(/^sig-\d{8}-[0-9a-f]{6}$/);
    } finally {
      await server.stop();
    }

    // Never over an existing secret.
    const again = keys('--dir', secrets);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('exists already; nothing written');
  }, 60_000);

  it('refuses unknown arguments with its usage', () => {
    const run = keys('--format', 'yaml');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('Usage: gatehouse keys');
    expect(run.stdout).toBe('');
  });
});
