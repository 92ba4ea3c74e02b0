import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './ports.ts';

const run = promisify(execFile);

export interface RedisServer {
  url: string;
  port: number;
  /** A new client connected to this server (the caller quits it). */
  client(): Redis;
  /** Calls per command since the last `CONFIG RESETSTAT` (INFO commandstats), minus the harness's own. */
  commandCounts(): Promise<Record<string, number>>;
  resetStats(): Promise<void>;
  /**
   * Stops the server: SIGTERM (a clean shutdown) by default, SIGKILL for a crash. Its data
   * directory is removed unless the caller named it (`dir`).
   */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

export interface RedisServerOptions {
  /** Restarts a server where a stopped one was (outage and recovery tests). */
  port?: number;
  /**
   * Data directory, kept on stop; with `appendOnly`, a server restarted on the same directory
   * reloads what the stopped one had written. Default: a fresh temporary directory.
   */
  dir?: string;
  /** Append-only file (fsync every second), as production runs Redis. Default off. */
  appendOnly?: boolean;
}

/**
 * Spawns a real `redis-server` on a free port (daemonised, stopped by pid; no persistence
 * unless `appendOnly`).
 * Needs `redis-server` on PATH: `apt-get install redis-server` / `brew install redis`.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'gatehouse-redis-')));
  const pidfile = join(dir, 'redis.pid');
  await run('redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    options.appendOnly ? 'yes' : 'no',
    '--daemonize',
    'yes',
    '--pidfile',
    pidfile,
    '--dir',
    dir,
    '--logfile',
    join(dir, 'redis.log'),
  ]);
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: true });
  // Refused connections while the server starts are expected; the polling below handles them.
  admin.on('error', () => undefined);
  await waitFor(async () => {
    await admin.connect().catch(() => undefined);
    return (await admin.ping()) === 'PONG';
  });

  return {
    url,
    port,
    client: () => new Redis(url, { maxRetriesPerRequest: 1 }),
    async commandCounts() {
      const info = await admin.info('commandstats');
      const counts: Record<string, number> = {};
      for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        const command = match[1] ?? '';
        // The harness's own INFO / CONFIG RESETSTAT are not the code under test.
        if (!/^(info|config)\b/.test(command)) counts[command] = Number(match[2]);
      }
      return counts;
    },
    async resetStats() {
      await admin.config('RESETSTAT');
    },
    async stop(signal = 'SIGTERM') {
      admin.disconnect();
      const pid = Number((await readFile(pidfile, 'utf8').catch(() => '')).trim());
      if (pid > 0) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
        await waitFor(async () => !isAlive(pid)).catch(() => process.kill(pid, 'SIGKILL'));
      }
      if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
