/**
 * Gateway-mode benchmark: the in-process stack with a real redis-server and one signed-in
 * session, Debian's nginx running `deploy/nginx/gateway.conf` in front of the demo API, and
 * Gatehouse answering its `auth_request` subrequests. Four ways to `GET /me` of the demo API, in
 * the same run and at the same concurrency:
 *
 * - `direct`: to the demo API with the token (the baseline: the API's own cost);
 * - `/api proxy`: through Gatehouse's own proxy (`/api/backend/me`, `X-CSRF: 1`);
 * - `nginx gateway`: through nginx, which asks `/bff/authz` first (`/backend/me`);
 * - `authz only`: `/bff/authz` alone, as nginx asks it (no API call).
 *
 * Printed: requests per second, latency percentiles, the ratio to the `/api` proxy, and the
 * Redis commands per authorization (steady state: one `GET`, no write). Node (Gatehouse, the
 * demo API, the dev IdP and this load generator) shares one process; nginx runs beside it.
 *
 *   pnpm bench:gateway [-- --requests 4000 --concurrency 32]
 */
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import {
  createCookieFetch,
  nginxGatewayHttp,
  signIn,
  startNginx,
  startRedisServer,
  startStack,
} from '@gatehouse/testkit';
import { cleanUpOnExit } from './bench/clean-up.ts';
import { scriptOptions } from './bench/script-options.ts';

const values = scriptOptions(import.meta.url, {
  requests: { type: 'string', default: '4000' },
  concurrency: { type: 'string', default: '32' },
});
const total = Number(values.requests);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(total) || total < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
  process.stderr.write('--requests and --concurrency must be positive integers\n');
  process.exit(2);
}

const cleanUp = cleanUpOnExit();
const redis = await startRedisServer();
cleanUp.add(() => redis.stop());
const stack = await startStack({
  redis,
  devIdp: { accessTokenTtlSeconds: 3600 },
  configure: (input) => ({
    ...input,
    trustProxy: '127.0.0.1',
    gateway: { enabled: true },
    routes: [
      ...(input.routes ?? []),
      { prefix: '/api/backend', upstream: input.routes?.[0]?.upstream ?? '', tokenMode: 'user' },
    ],
  }),
});
cleanUp.add(() => stack.close());
const portOf = (origin: string) => Number(new URL(origin).port);
const nginx = await startNginx({
  http: nginxGatewayHttp({
    snippetPath: resolve(import.meta.dirname, '../deploy/nginx/gateway.conf'),
    gatehousePort: portOf(stack.origin),
    backendPort: portOf(stack.api.origin),
  }),
});
cleanUp.add(() => nginx.stop());

const http = createCookieFetch();
await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
const cookie = (await http.jar.getCookieString(stack.origin)) ?? '';
const authzHeaders = {
  cookie,
  'x-original-method': 'GET',
  'x-original-uri': '/backend/me',
};
// The token nginx would pass on, for the baseline (read once, never printed).
const answer = await fetch(`${stack.origin}/bff/authz?route=backend`, { headers: authzHeaders });
const authorization = answer.headers.get('authorization') ?? '';
if (answer.status !== 200 || !authorization) throw new Error(`authz answered ${answer.status}`);

const dispatcher = new Agent({ connections: concurrency });

async function run(url: string, headers: Record<string, string>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  async function worker(): Promise<void> {
    while (next < total) {
      next += 1;
      const started = performance.now();
      const res = await request(url, { dispatcher, headers });
      await res.body.arrayBuffer();
      if (res.statusCode !== 200) throw new Error(`${url}: status ${res.statusCode}`);
      latencies.push(performance.now() - started);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return latencies;
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerRequest: number;
}

async function measure(url: string, headers: Record<string, string>): Promise<Figures> {
  await run(url, headers); // warm-up: pools, JWKS, JIT
  const cpu = process.cpuUsage();
  const started = performance.now();
  const latencies = (await run(url, headers)).sort((a, b) => a - b);
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const at = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  return {
    rps: Math.round((latencies.length / elapsed) * 1000),
    p50: at(50),
    p99: at(99),
    cpuUsPerRequest: (used.user + used.system) / latencies.length,
  };
}

const direct = await measure(`${stack.api.origin}/me`, { authorization });
const proxied = await measure(`${stack.origin}/api/backend/me`, { cookie, 'x-csrf': '1' });
const gateway = await measure(`${nginx.origin}/backend/me`, { cookie });
await redis.resetStats();
const authzOnly = await measure(`${stack.origin}/bff/authz?route=backend`, authzHeaders);
const commands = await redis.commandCounts();
const commandTotal = Object.values(commands).reduce((a, b) => a + b, 0);
// Warm-up and measured run: two runs of `total` each.
const perAuthz = commandTotal / (2 * total);
const writesPerAuthz = (commandTotal - (commands.get ?? 0)) / (2 * total);

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));
const line = (name: string, f: Figures) =>
  `  ${name.padEnd(14)}: ${String(f.rps).padStart(5)} req/s (${fmt(f.rps / proxied.rps)}× the /api proxy)  ` +
  `p50 ${fmt(f.p50)} ms  p99 ${fmt(f.p99)} ms  Node CPU ${Math.round(f.cpuUsPerRequest)} µs/request\n`;
process.stdout.write(
  `\nGateway-mode benchmark (${total} requests, concurrency ${concurrency}; nginx beside one Node process)\n`,
);
process.stdout.write(line('direct', direct));
process.stdout.write(line('/api proxy', proxied));
process.stdout.write(line('nginx gateway', gateway));
process.stdout.write(line('authz only', authzOnly));
process.stdout.write(
  `  Redis per authorization: ${fmt(perAuthz)} commands, ${fmt(writesPerAuthz)} writes\n`,
);

await dispatcher.close();
await cleanUp();
process.exit(0);
