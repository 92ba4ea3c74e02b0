import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The deployable server's entry point, run exactly as `pnpm start` runs it. */
const SERVER_MAIN = fileURLToPath(new URL('../../../apps/server/src/main.ts', import.meta.url));

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  pid: number;
  port: number;
  /** `http://127.0.0.1:<port>`: the instance itself, not the proxy in front. */
  origin: string;
  /** Everything it wrote to stdout and stderr so far (pino JSON lines). */
  output(): string;
  /** Resolves when the process has exited, with its exit code or signal. */
  exited: Promise<ProcessExit>;
  /** Whether it is still running. */
  running(): boolean;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<ProcessExit>;
}

/**
 * Spawns `node apps/server/src/main.ts` as a child process with `env` (added to this process's
 * PATH and nothing else of its environment), without waiting for anything: for a test that
 * expects it to exit (a configuration error), or waits for readiness its own way.
 */
export function spawnServerProcess(port: number, env: Record<string, string>): ServerProcess {
  const child = spawn(process.execPath, [SERVER_MAIN], {
    // No metrics listener unless asked for: several processes would want the same port.
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      METRICS_PORT: '0',
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => chunks.push(chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => chunks.push(chunk));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  let gone: ProcessExit | undefined;
  void exited.then((exit) => (gone = exit));
  return {
    pid: child.pid ?? 0,
    port,
    origin: `http://127.0.0.1:${port}`,
    output: () => chunks.join(''),
    exited,
    running: () => gone === undefined,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!gone) child.kill(signal);
      return exited;
    },
  };
}

/** {@link spawnServerProcess}, then waits until `/readyz` answers 200. */
export async function startServerProcess(
  port: number,
  env: Record<string, string>,
  readyTimeoutMs = 30_000,
): Promise<ServerProcess> {
  const server = spawnServerProcess(port, env);
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (!server.running()) {
      const { code } = await server.exited;
      throw new Error(`server exited before ready (${code}):\n${server.output()}`);
    }
    const ready = await fetch(`${server.origin}/readyz`).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ready) return server;
    if (Date.now() > deadline) {
      await server.stop('SIGKILL');
      throw new Error(`server not ready after ${readyTimeoutMs} ms:\n${server.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
