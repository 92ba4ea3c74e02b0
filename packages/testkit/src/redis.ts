import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './ports.ts';
import type { RedisTopology } from './redis-topologies.ts';

const run = promisify(execFile);

export interface RedisServer extends RedisTopology {
  kind: 'standalone';
  url: string;
  port: number;
  /** A new client connected to this server (the caller quits it). */
  client(): Redis;
  /** Calls per command since the last `CONFIG RESETSTAT` (INFO commandstats), minus the harness's own. */
  commandCounts(): Promise<Record<string, number>>;
  resetStats(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open and every command hangs. */
  pause(): void;
  /** Lets a paused process run again (SIGCONT). */
  resume(): void;
  /**
   * Kills the process at once (SIGKILL), keeping its data directory; with `appendOnly`, a
   * {@link RedisServer.restart} reloads what it had acknowledged.
   */
  kill(): Promise<void>;
  /** Starts the server again on the same port with the same data directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  /** Restart a server where a stopped one was (outage and recovery tests). */
  port?: number;
  /** Persist every write to an append-only file (fsync always), so a kill loses nothing. */
  appendOnly?: boolean;
}

/**
 * Spawns a real `redis-server` on a free port (daemonised, stopped by pid; no persistence
 * unless `appendOnly`). Needs `redis-server` on PATH: `apt-get install redis-server` /
 * `brew install redis`.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-redis-'));
  const pidfile = join(dir, 'redis.pid');
  const url = `redis://127.0.0.1:${port}`;
  let admin = new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: true });
  let pid = 0;

  const launch = async () => {
    await run('redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      ...(options.appendOnly
        ? ['--appendonly', 'yes', '--appendfsync', 'always']
        : ['--appendonly', 'no']),
      '--daemonize',
      'yes',
      '--pidfile',
      pidfile,
      '--dir',
      dir,
      '--logfile',
      join(dir, 'redis.log'),
    ]);
    admin = new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: true });
    await waitFor(async () => {
      await admin.connect().catch(() => undefined);
      return (await admin.ping()) === 'PONG';
    });
    pid = Number((await readFile(pidfile, 'utf8')).trim());
  };
  const signal = (name: NodeJS.Signals) => {
    if (pid > 0) process.kill(pid, name);
  };
  const terminate = async (name: NodeJS.Signals) => {
    admin.disconnect();
    if (pid <= 0) return;
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, name);
    } catch {
      // already gone
    }
    const stopped = pid;
    pid = 0;
    await waitFor(async () => !isAlive(stopped)).catch(() => process.kill(stopped, 'SIGKILL'));
  };
  await launch();

  return {
    kind: 'standalone',
    env: { REDIS_URL: url },
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
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    kill: () => terminate('SIGKILL'),
    restart: launch,
    async stop() {
      await terminate('SIGTERM');
      await rm(dir, { recursive: true, force: true });
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
