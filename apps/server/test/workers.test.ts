// GATEHOUSE_WORKERS=2: one primary and two worker processes sharing the port. Both serve
// requests (each access line names its process), a worker that dies is replaced, and SIGTERM
// drains every worker and ends the whole group with exit code 0.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request } from 'node:http';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  startRedisServer,
  startServerProcess,
  type RedisServer,
  type ServerProcess,
} from '@gatehouse/testkit';
import { generateKeys } from '../src/keys.ts';

const SERVER_MAIN = resolve(import.meta.dirname, '../src/main.ts');

interface Line {
  msg?: string;
  pid?: number;
  role?: string;
  worker?: number;
  req?: { url?: string };
}

describe('apps/server with GATEHOUSE_WORKERS=2', () => {
  // Test controls on: a configuration with a warning to log.
  const running = twoWorkerServer(async () => ({ GATEHOUSE_TEST_CONTROLS: 'true' }));
  const lines = () => jsonLines(running().output());
  const listening = () =>
    new Set(
      lines()
        .filter((line) => line.msg === 'gatehouse listening')
        .map((l) => l.pid),
    );

  const get = async (path: string) => (await getAlone(`${running().origin}${path}`)).status;

  /** The processes that wrote an access line for `path`. */
  const servedBy = (path: string) =>
    new Set(
      lines()
        .filter((line) => line.req?.url === path)
        .map((line) => line.pid),
    );

  it('serves requests from both workers, each a process of its own', async () => {
    await expect.poll(() => listening().size, { timeout: 30_000 }).toBe(2);
    const workers = listening();
    expect(workers.has(running().pid)).toBe(false);
    for (let i = 0; i < 20; i += 1) expect(await get('/bff/user?from=test')).toBe(401);
    await expect
      .poll(() => [...servedBy('/bff/user?from=…')].sort(), { timeout: 10_000 })
      .toEqual([...workers].sort());
  });

  it('logs the configuration’s warnings once, from the primary, not once per worker', async () => {
    await expect.poll(() => listening().size, { timeout: 30_000 }).toBe(2);
    const warnings = lines().filter((line) => line.msg?.startsWith('test controls are on'));
    expect(warnings).toEqual([expect.objectContaining({ role: 'primary' })]);
  });

  it('publishes one key set from every worker (the signing keys are shared)', async () => {
    await expect.poll(() => listening().size, { timeout: 30_000 }).toBe(2);
    const keySets = new Set<string>();
    // A connection of its own each time: the cluster hands connections to the workers in turn.
    for (let i = 0; i < 12; i += 1) {
      keySets.add((await getAlone(`${running().origin}/.well-known/jwks.json`)).body);
    }
    expect([...keySets]).toHaveLength(1);
    expect((JSON.parse([...keySets][0] ?? '{}') as { keys: Array<{ kid: string }> }).keys).toEqual([
      expect.objectContaining({ kid: SIGNING_KID }),
    ]);
  });

  it('replaces a worker that dies', async () => {
    const [victim] = [...listening()];
    process.kill(victim ?? 0, 'SIGKILL');
    await expect
      .poll(() => lines().some((line) => line.msg === 'worker died; restarting it'))
      .toBe(true);
    await expect.poll(() => listening().size, { timeout: 30_000 }).toBe(3);
    expect(await get('/bff/user')).toBe(401);
  });

  it('drains every worker on SIGTERM and exits 0', async () => {
    const exit = await running().stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    const all = lines();
    expect(all.filter((line) => line.msg === 'stopped')).toHaveLength(2);
    expect(all.some((line) => line.msg === 'every worker stopped')).toBe(true);
  });
});

/** One ES256 key for every worker: the dev routes include a Gatehouse-signed one. */
const SIGNING_KEYS = generateKeys().GATEHOUSE_SIGNING_KEYS;
const SIGNING_KID = (JSON.parse(SIGNING_KEYS) as Array<{ kid: string }>)[0]?.kid ?? 'none';

/** The environment of a two-worker server on `port` with the given Redis. */
const twoWorkers = (port: number, redisUrl: string): Record<string, string> => ({
  GATEHOUSE_MODE: 'development',
  GATEHOUSE_WORKERS: '2',
  PUBLIC_URL: `http://127.0.0.1:${port}`,
  REDIS_URL: redisUrl,
  SESSION_SECRET: 'test-session-secret-0123456789abcdef',
  GATEHOUSE_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64url')}`,
  GATEHOUSE_SIGNING_KEYS: SIGNING_KEYS,
  LOG_LEVEL: 'info',
});

/**
 * A Redis and a two-worker server (with `env()` added) for the `describe` block this is called
 * in, both stopped after it; the server, once started.
 */
function twoWorkerServer(
  env: () => Promise<Record<string, string>> = async () => ({}),
): () => ServerProcess {
  let redis: RedisServer | undefined;
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    redis = await startRedisServer();
    const port = await freePort();
    server = await startServerProcess(port, { ...twoWorkers(port, redis.url), ...(await env()) });
  });
  afterAll(async () => {
    if (server?.running()) await server.stop('SIGKILL');
    await redis?.stop();
  });
  return () => {
    if (!server) throw new Error('the two-worker server has not started');
    return server;
  };
}

/**
 * A `GET` on a connection of its own (the cluster hands out connections, not requests): its
 * status and body.
 */
function getAlone(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The pino lines a process wrote so far. */
const jsonLines = (output: string): Line[] =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Line);

describe('apps/server with GATEHOUSE_WORKERS=2 when every worker dies at once', () => {
  const running = twoWorkerServer();

  const listening = () =>
    jsonLines(running().output()).filter((line) => line.msg === 'gatehouse listening');

  it('keeps the primary running and replaces both workers', async () => {
    await expect.poll(() => listening().length, { timeout: 30_000 }).toBe(2);
    for (const line of listening()) process.kill(line.pid ?? 0, 'SIGKILL');
    // Two new workers, the primary still there (it used to exit 0 with nothing left to run).
    await expect
      .poll(() => ({ running: running().running(), listening: listening().length }), {
        timeout: 30_000,
      })
      .toEqual({ running: true, listening: 4 });
    await expect
      .poll(() => fetch(`${running().origin}/readyz`).then((res) => res.status))
      .toBe(200);

    // Both die again and wait for their restart (2 s now): a SIGTERM then ends the primary at
    // once, cleanly, rather than leaving it to a pending restart or the stop timeout.
    for (const line of listening().slice(2)) process.kill(line.pid ?? 0, 'SIGKILL');
    const died = () =>
      jsonLines(running().output()).filter((line) => line.msg === 'worker died; restarting it');
    await expect.poll(() => died().length).toBe(4);
    const started = Date.now();
    expect(await running().stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(listening()).toHaveLength(4);
  }, 60_000);
});

describe('apps/server with GATEHOUSE_WORKERS=2 during its start-up', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('exits 0 for a SIGTERM at any moment of the start-up: nothing was serving, nothing failed', async () => {
    // Right after the fork (workers still loading their modules, no handler yet), a little
    // later (workers creating the app), and once about to listen.
    for (const delayMs of [0, 700, 1500]) {
      const port = await freePort();
      const child = spawn(process.execPath, [SERVER_MAIN], {
        env: {
          PATH: process.env.PATH ?? '',
          HOST: '127.0.0.1',
          METRICS_PORT: '0',
          PORT: String(port),
          ...twoWorkers(port, redis.url),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      const exited = once(child, 'exit');
      await expect.poll(() => output.includes('"cluster started"'), { timeout: 20_000 }).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.kill('SIGTERM');
      const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
      expect({ delayMs, code, signal }, output).toEqual({ delayMs, code: 0, signal: null });
      expect(jsonLines(output).some((line) => line.msg === 'every worker stopped')).toBe(true);
    }
  }, 90_000);

  it('exits 1 at once, as a single process does, rather than exit 0 or restart for ever', async () => {
    // The port is taken (by a server that is never ready): every worker fails to listen.
    const blocker = createServer((_req, res) => res.writeHead(503).end());
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      // Longer than a start-up takes on a loaded machine, so that only an exit ends the wait.
      const started = startServerProcess(port, twoWorkers(port, redis.url), 50_000);
      await expect(started).rejects.toThrow(/server exited before ready \(1\)/);
      const output = ((await started.catch((error: unknown) => error)) as Error).message;
      const primary = jsonLines(output.slice(output.indexOf('\n') + 1)).filter(
        (line) => line.role === 'primary',
      );
      expect(primary.filter((line) => line.msg === 'a worker failed to start')).toHaveLength(1);
      expect(primary.some((line) => line.msg === 'worker died; restarting it')).toBe(false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  }, 90_000);
});

describe('apps/server with GATEHOUSE_WORKERS=2 and metrics on', () => {
  let metricsPort = 0;
  const running = twoWorkerServer(async () => {
    metricsPort = await freePort();
    return { METRICS_PORT: String(metricsPort) };
  });

  const workerPids = () =>
    jsonLines(running().output())
      .filter((line) => line.msg === 'gatehouse listening')
      .map((line) => line.pid ?? 0);

  /** One scrape on a connection of its own: its status, time taken and the 401s of /bff/user. */
  async function scrape(): Promise<{ status: number; ms: number; unauthenticated: number }> {
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, {
      headers: { connection: 'close' },
    });
    const text = await res.text();
    const match =
      /^gatehouse_http_requests_total\{route="bff",method="GET",status="401"\} (\d+)$/m.exec(text);
    return {
      status: res.status,
      ms: Date.now() - started,
      unauthenticated: Number(match?.[1] ?? 0),
    };
  }

  const get = async (path: string) => (await getAlone(`${running().origin}${path}`)).status;

  it('serves every worker’s counts in each scrape, not one worker’s at a time', async () => {
    await expect.poll(() => workerPids().length, { timeout: 30_000 }).toBe(2);
    for (let i = 0; i < 20; i += 1) expect(await get('/bff/user')).toBe(401);
    for (let i = 0; i < 4; i += 1) {
      expect(await scrape()).toMatchObject({ status: 200, unauthenticated: 20 });
    }
  });

  it('answers within seconds while a worker is hung, and in full once it is back', async () => {
    const [hung] = workerPids();
    process.kill(hung ?? 0, 'SIGSTOP');
    try {
      const answer = await scrape();
      // Never one worker's counts alone (Prometheus would read the drop as a counter reset).
      expect(answer.status).toBe(500);
      expect(answer.ms).toBeLessThan(8000);
    } finally {
      process.kill(hung ?? 0, 'SIGCONT');
    }
    expect(await scrape()).toMatchObject({ status: 200, unauthenticated: 20 });
  }, 30_000);
});
