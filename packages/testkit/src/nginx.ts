import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './ports.ts';
import { waitForPort } from './wait-for-port.ts';

export interface NginxOptions {
  /**
   * The directives of the `http { … }` block (upstreams, servers) for the port nginx is to
   * listen on; temp paths and logs are set around them.
   */
  http: (port: number) => string;
  /** Default: a free port. */
  port?: number;
}

export interface RunningNginx {
  port: number;
  /** `http://localhost:<port>`. */
  origin: string;
  /** The whole `nginx.conf` it runs with. */
  config: string;
  /** The error log so far (nginx's own messages, e.g. a refused auth subrequest). */
  errorLog(): Promise<string>;
  /** The access log so far: one line per request, `<status> <method> <uri> upstream=<statuses>`. */
  accessLog(): Promise<string[]>;
  stop(): Promise<void>;
}

/** Debian's nginx (`apt-get install nginx`), or `NGINX_PATH`. */
function nginxBinary(): string {
  if (process.env.NGINX_PATH) return process.env.NGINX_PATH;
  return existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
}

/**
 * Starts nginx in the foreground (`daemon off`) with everything in a temp dir — prefix (`-p`),
 * pid, temp paths, error log (`-e`, so the packaged /var/log path is never opened) and access
 * log — listening on a free port. As root it keeps running as root (`user root`): its workers
 * then read and write the temp dir without a chown.
 */
export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-nginx-'));
  await mkdir(join(dir, 'temp'));
  const errorLogPath = join(dir, 'error.log');
  const accessLogPath = join(dir, 'access.log');
  const temp = (name: string) => join(dir, 'temp', name);
  const config = [
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'daemon off;',
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${errorLogPath} info;`,
    'events { worker_connections 256; }',
    'http {',
    `  client_body_temp_path ${temp('client_body')};`,
    `  proxy_temp_path ${temp('proxy')};`,
    `  fastcgi_temp_path ${temp('fastcgi')};`,
    `  uwsgi_temp_path ${temp('uwsgi')};`,
    `  scgi_temp_path ${temp('scgi')};`,
    "  log_format testkit '$status $request_method $request_uri upstream=$upstream_status';",
    `  access_log ${accessLogPath} testkit;`,
    options.http(port),
    '}',
    '',
  ].join('\n');
  const configPath = join(dir, 'nginx.conf');
  await writeFile(configPath, config);

  const child = spawn(nginxBinary(), ['-p', `${dir}/`, '-c', configPath, '-e', errorLogPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => output.push(line));
  }
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
    output.push(`cannot run nginx (apt-get install nginx): ${String(error)}`);
  });
  const exited = once(child, 'exit').catch(() => undefined);
  const running = () => !spawnError && child.exitCode === null && child.signalCode === null;
  const errorLog = () => readFile(errorLogPath, 'utf8').catch(() => '');

  const stop = async () => {
    if (running()) {
      child.kill('SIGTERM'); // fast shutdown: the master stops its workers and exits
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitForPort(port, () => !running());
  } catch (error) {
    const log = await errorLog();
    await stop();
    throw new Error(`nginx did not start: ${String(error)}\n${output.join('\n')}\n${log}`, {
      cause: error,
    });
  }
  return {
    port,
    origin: `http://localhost:${port}`,
    config,
    errorLog,
    async accessLog() {
      const text = await readFile(accessLogPath, 'utf8').catch(() => '');
      return text.split('\n').filter((line) => line !== '');
    },
    stop,
  };
}

export interface NginxGatewayOptions {
  /** The server block's directives that protect the API (the repository's `deploy/nginx/gateway.conf`). */
  snippetPath: string;
  /** Where Gatehouse listens (the `gatehouse` upstream). */
  gatehousePort: number;
  /** Where the protected API listens (the `backend` upstream). */
  backendPort: number;
}

/**
 * The `http` block around the gateway snippet, as its header comment describes: the
 * `gatehouse` and `backend` upstreams on loopback and one server that includes the snippet.
 */
export function nginxGatewayHttp(options: NginxGatewayOptions): (port: number) => string {
  return (port) =>
    [
      `  upstream gatehouse { server 127.0.0.1:${options.gatehousePort}; keepalive 4; }`,
      `  upstream backend { server 127.0.0.1:${options.backendPort}; }`,
      '  server {',
      `    listen 127.0.0.1:${port};`,
      '    server_name localhost;',
      `    include ${options.snippetPath};`,
      '  }',
    ].join('\n');
}
