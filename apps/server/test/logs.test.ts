// Log output: JSON lines from the deployable server (what log shippers read), and the
// human-readable form `pnpm dev` pipes them through (pino-pretty, development only).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  startRedisServer,
  startServerProcess,
  type RedisServer,
} from '@gatehouse/testkit';

const serverDir = resolve(import.meta.dirname, '..');

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describe('server logs', () => {
  it('writes JSON lines only in production, from start to stop', async () => {
    const port = await freePort();
    const server = await startServerProcess(port, {
      NODE_ENV: 'production',
      GATEHOUSE_MODE: 'production',
      PUBLIC_URL: 'https://app.example.com',
      REDIS_URL: redis.url,
      SESSION_SECRET: randomBytes(32).toString('hex'),
      GATEHOUSE_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64url')}`,
      LOG_LEVEL: 'info',
    });
    expect((await fetch(`${server.origin}/bff/user`)).status).toBe(401);
    expect((await server.stop()).code).toBe(0);
    const lines = server
      .output()
      .split('\n')
      .filter((line) => line !== '');
    // Start, one request, the drain and the stop at least.
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      expect(typeof entry.level, line).toBe('number');
      expect(typeof entry.time, line).toBe('number');
      expect(typeof entry.msg, line).toBe('string');
    }
    expect(lines.some((line) => line.includes('"msg":"gatehouse listening"'))).toBe(true);
    expect(lines.some((line) => line.includes('"url":"/bff/user"'))).toBe(true);
  }, 60_000);

  it('pretty-prints them in `pnpm dev` with pino-pretty, as the dev script runs it', () => {
    const manifest = JSON.parse(readFileSync(join(serverDir, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const dev = manifest.scripts.dev ?? '';
    const [, pretty] = dev.split(' | ');
    expect(pretty, dev).toMatch(/^pino-pretty /);
    // The production entry point (`start`) is never piped.
    expect(manifest.scripts.start).toBe('node src/main.ts');

    const line = JSON.stringify({
      level: 30,
      time: Date.UTC(2026, 0, 2, 3, 4, 5),
      service: 'gatehouse',
      req: { method: 'GET', url: '/bff/user' },
      res: { statusCode: 401 },
      msg: 'request completed',
    });
    const [bin, ...args] = (pretty ?? '').split(' ');
    const run = spawnSync(join(serverDir, 'node_modules/.bin', bin ?? ''), args, {
      input: `${line}\n`,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' },
    });
    expect(run.status, run.stderr).toBe(0);
    const out = run.stdout.trim();
    expect(out).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: request completed /);
    expect(out).toContain('"statusCode":401');
    expect(() => JSON.parse(out) as unknown).toThrow();
  });
});
