// `--check-config` and start-up run the same loader: what the check accepts, start-up accepts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const mainScript = resolve(import.meta.dirname, '../src/main.ts');

function checkConfig(env: Record<string, string>) {
  const result = spawnSync(process.execPath, [mainScript, '--check-config'], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('gatehouse --check-config', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-config-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function writeConfig(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  const dev = JSON.stringify({ mode: 'development', publicUrl: 'http://localhost:3000' });

  it('refuses TRUST_PROXY=yes with exit code 2 and names the field', () => {
    const result = checkConfig({
      GATEHOUSE_CONFIG: writeConfig('dev.json', dev),
      TRUST_PROXY: 'yes',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('trustProxy: must be true, false, a hop count');
  });

  it('accepts a trusted-proxy list', () => {
    const result = checkConfig({
      GATEHOUSE_CONFIG: writeConfig('dev.json', dev),
      TRUST_PROXY: 'loopback, 10.0.0.0/8',
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Configuration OK (development mode');
  });

  it('reports where a trailing comma is, without the file’s text', () => {
    const path = writeConfig(
      'comma.json',
      '{\n  "mode": "development",\n  "adminToken": "not-to-be-printed",\n}\n',
    );
    const result = checkConfig({ GATEHOUSE_CONFIG: path });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      `GATEHOUSE_CONFIG (${path}): is not valid JSON: PropertyNameExpected at line 4, column 1`,
    );
    expect(result.stderr).not.toContain('not-to-be-printed');
  });

  it('refuses test controls in production mode (exit 2), though the same config passes without them', () => {
    const production = {
      GATEHOUSE_MODE: 'production',
      PUBLIC_URL: 'https://app.example.com',
      REDIS_URL: 'redis://127.0.0.1:6399',
      SESSION_SECRET: 'c7e1a94f0b3d5e2a8f6c1d0b9e7a3f5c',
      GATEHOUSE_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 9).toString('base64url')}`,
    };
    const ok = checkConfig(production);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const refused = checkConfig({ ...production, GATEHOUSE_TEST_CONTROLS: '1' });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(
      'testControls: test controls (GATEHOUSE_TEST_CONTROLS) are never allowed in production mode',
    );
    // NODE_ENV=production (as `pnpm start` sets it) is production mode too.
    const { GATEHOUSE_MODE: _mode, ...withoutMode } = production;
    const viaNodeEnv = checkConfig({
      ...withoutMode,
      NODE_ENV: 'production',
      GATEHOUSE_TEST_CONTROLS: 'true',
    });
    expect(viaNodeEnv.status).toBe(2);
    expect(viaNodeEnv.stderr).toContain('testControls: test controls');
  });
});
