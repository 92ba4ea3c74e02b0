import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './ports.ts';
import { waitForPort } from './wait-for-port.ts';

export interface HaproxyBackend {
  /** Server name in HAProxy (its logs and the `X-Served-By` answer header). */
  name: string;
  port: number;
}

export interface HaproxyLogLine {
  /** The request's `X-Request-Id` as the client sent it ('-' without one). */
  requestId: string;
  /** The server that answered, or `<NOSRV>`. */
  server: string;
  status: number;
  /**
   * HAProxy's termination state (`%tsc`, four characters): `----` for a normal end; a first
   * letter `S` means the server aborted or refused (e.g. `SH--`: it closed the connection before
   * the answer's headers), `C` that the client went away.
   */
  termination: string;
  /**
   * How many times HAProxy retried the request on a connection failure or an empty answer
   * (HAProxy prints `+n` when the last retry went to another server).
   */
  retries: number;
}

export interface RunningHaproxy {
  port: number;
  /** `http://localhost:<port>`. */
  origin: string;
  /** The configuration it runs with (what an operator would deploy, minus TLS). */
  config: string;
  /** One entry per request HAProxy logged so far. */
  logs(): HaproxyLogLine[];
  /** HAProxy's own messages (server state changes, warnings), in order. */
  events(): string[];
  stop(): Promise<void>;
}

/**
 * The configuration an operator would run in front of several Gatehouse instances, on plain
 * http (TLS termination changes nothing about balancing):
 * - `/readyz` health checks every 500 ms: an instance that cannot reach Redis, or that is
 *   draining after SIGTERM, leaves the rotation after two failed checks;
 * - when every instance is unready at once, the shared Redis is down, not the instances: the
 *   unchecked `backup` entries keep sending requests to them, so clients get Gatehouse's own
 *   `503 store_unavailable` (which the SDK understands) instead of the proxy's bare 503, and
 *   the first request after Redis returns is served without waiting for two good checks;
 * - a request whose connection was refused, or whose reused keep-alive connection was closed
 *   before any answer, is retried on the other instance, but only when it is idempotent
 *   (L7 retries are never safe for a POST that may have been processed);
 * - the server's keep-alive timeout (65 s) exceeds HAProxy's, so HAProxy closes idle connections
 *   first and never reuses one that Gatehouse is closing on a timeout.
 */
export function haproxyConfig(port: number, backends: HaproxyBackend[]): string {
  const servers = backends.map(({ name, port: p }) => `  server ${name} 127.0.0.1:${p} check`);
  const fallbacks = backends.map(
    ({ name, port: p }) => `  server ${name}-fallback 127.0.0.1:${p} backup`,
  );
  return [
    'global',
    '  log stdout format raw local0 info',
    '  maxconn 4096',
    '',
    'defaults',
    '  mode http',
    '  log global',
    '  option dontlognull',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-keep-alive 55s',
    '  timeout http-request 10s',
    '  retries 3',
    '  option redispatch 1',
    '  retry-on conn-failure empty-response',
    '',
    'frontend web',
    `  bind 127.0.0.1:${port}`,
    '  option forwardfor',
    '  http-request capture req.hdr(x-request-id) len 64',
    '  log-format "request %[capture.req.hdr(0)] %s %ST %tsc %rc"',
    '  default_backend gatehouse',
    '',
    'backend gatehouse',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    '  http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS',
    '  http-response set-header X-Served-By %s',
    '  default-server inter 500ms fall 2 rise 2',
    '  option allbackups',
    ...servers,
    ...fallbacks,
    '',
  ].join('\n');
}

/**
 * Starts HAProxy (Debian's `haproxy` package: `apt-get install haproxy`) in the foreground on
 * a free port with `haproxyConfig`, logging each request to its stdout.
 */
export async function startHaproxy(options: {
  backends: HaproxyBackend[];
  port?: number;
}): Promise<RunningHaproxy> {
  const port = options.port ?? (await freePort());
  const config = haproxyConfig(port, options.backends);
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-haproxy-'));
  const configPath = join(dir, 'haproxy.cfg');
  await writeFile(configPath, config);

  // Debian installs it in /usr/sbin, which is not on every user's PATH.
  const path = [process.env.PATH ?? '', '/usr/sbin', '/usr/local/sbin'].join(':');
  const child = spawn('haproxy', ['-db', '-f', configPath], {
    env: { ...process.env, PATH: path },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: HaproxyLogLine[] = [];
  const events: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const entry = parseLogLine(line);
    if (entry) logs.push(entry);
    else events.push(line);
  });
  createInterface({ input: child.stderr }).on('line', (line) => events.push(line));
  // Not installed (ENOENT) or not runnable: reported by the start-up check below.
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
    events.push(`cannot run haproxy (apt-get install haproxy): ${String(error)}`);
  });
  const exited = once(child, 'exit').catch(() => undefined);
  const running = () => !spawnError && child.exitCode === null && child.signalCode === null;

  const stop = async () => {
    if (running()) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitForPort(port, () => !running());
  } catch (error) {
    await stop();
    throw new Error(`haproxy did not start: ${String(error)}\n${events.join('\n')}`, {
      cause: error,
    });
  }
  return {
    port,
    origin: `http://localhost:${port}`,
    config,
    logs: () => [...logs],
    events: () => [...events],
    stop,
  };
}

function parseLogLine(line: string): HaproxyLogLine | undefined {
  const match = /^request (\S+) (\S+) (-?\d+) (\S+) \+?(\d+)$/.exec(line.trim());
  if (!match) return undefined;
  return {
    requestId: match[1] ?? '-',
    server: match[2] ?? '',
    status: Number(match[3]),
    termination: match[4] ?? '',
    retries: Number(match[5]),
  };
}
