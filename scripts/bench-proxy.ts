/**
 * Proxy benchmark: the in-process stack with a real redis-server and one signed-in session.
 * Phase 1 sends GET /api/demo/me one at a time, through Gatehouse and directly to the demo API
 * with the same token: the difference is the latency Gatehouse adds. Phase 2 sends N requests
 * at concurrency C: throughput, percentiles, Redis commands per request and heap growth. The
 * figures are checked against the targets below (exit code 1 when one is missed).
 *
 * Everything (load generator, Gatehouse, demo API, dev IdP) shares one process and its event
 * loop, so phase 2 measures Gatehouse's CPU cost per request more than its latency.
 *
 *   pnpm bench [-- --requests 4000 --concurrency 32]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { createCookieFetch, signIn, startRedisServer, startStack } from '@gatehouse/testkit';
import type { TokenSet } from '@gatehouse/core';

const TARGETS = {
  /** Median latency Gatehouse adds on loopback, requests one at a time. */
  overheadP50Ms: 3,
  /** Proxied requests per second at concurrency C, sharing one core with the upstream. */
  minProxiedRps: 500,
  redisCommandsPerRequest: 1,
  redisWritesPerRequest: 0,
  /** Heap growth over the measured run (no per-request leak). */
  heapGrowthMiB: 50,
};

const { values } = parseArgs({
  // `pnpm bench -- --requests 100` passes the `--` through.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    requests: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '32' },
  },
});
const total = Number(values.requests);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(total) || total < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
  process.stderr.write('--requests and --concurrency must be positive integers\n');
  process.exit(2);
}

const redis = await startRedisServer();
const stack = await startStack({ redis, devIdp: { accessTokenTtlSeconds: 3600 } }).catch(
  async (error: unknown) => {
    await redis.stop();
    throw error;
  },
);
// Whatever happens below, the daemonised redis-server and the servers go away with us.
const cleanUp = async () => {
  await stack.close().catch(() => undefined);
  await redis.stop().catch(() => undefined);
};
process.once('uncaughtException', (error) => {
  process.stderr.write(`${String(error)}\n`);
  void cleanUp().then(() => process.exit(1));
});
process.once('unhandledRejection', (error) => {
  process.stderr.write(`${String(error)}\n`);
  void cleanUp().then(() => process.exit(1));
});
const http = createCookieFetch();
await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
const cookie = (await http.jar.getCookieString(stack.origin)) ?? '';

const dispatcher = new Agent({ connections: concurrency });

async function run(
  url: string,
  headers: Record<string, string>,
  parallel = concurrency,
): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  async function worker(): Promise<void> {
    while (next < total) {
      next += 1;
      const started = performance.now();
      const res = await request(url, { dispatcher, headers });
      await res.body.arrayBuffer();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      latencies.push(performance.now() - started);
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker));
  return latencies;
}

function summary(latencies: number[], elapsedMs: number) {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  return {
    rps: Math.round((latencies.length / elapsedMs) * 1000),
    p50: at(50),
    p95: at(95),
    p99: at(99),
  };
}

const proxied = `${stack.origin}/api/demo/me`;
const proxyHeaders = { cookie, 'x-csrf': '1' };
await run(proxied, proxyHeaders); // warm-up: discovery, JWKS, pools, JIT

const { vault } = stack.gatehouses[0]!.gatehouse.context;
const client = redis.client();
const sessionKey = (await client.keys('gh:sess:*'))[0] ?? '';
const record = JSON.parse((await client.get(sessionKey)) ?? '{}') as { gh: { tokens: string } };
const { accessToken } = await vault.open<TokenSet>(record.gh.tokens);
client.disconnect();
const direct = `${stack.api.origin}/me`;
const directHeaders = { authorization: `Bearer ${accessToken}` };
await run(direct, directHeaders);

let started = performance.now();
const sequentialDirect = summary(await run(direct, directHeaders, 1), performance.now() - started);
started = performance.now();
const sequentialProxied = summary(await run(proxied, proxyHeaders, 1), performance.now() - started);

global.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
started = performance.now();
const baseline = summary(await run(direct, directHeaders), performance.now() - started);
await redis.resetStats();
started = performance.now();
const gatehouse = summary(await run(proxied, proxyHeaders), performance.now() - started);
const commands = await redis.commandCounts();
global.gc?.();
const heapAfter = process.memoryUsage().heapUsed;

const commandTotal = Object.values(commands).reduce((a, b) => a + b, 0);
const writes = commandTotal - (commands.get ?? 0);
const figures = {
  requests: total,
  concurrency,
  direct: baseline,
  throughGatehouse: gatehouse,
  overheadP50Ms: sequentialProxied.p50 - sequentialDirect.p50,
  redisCommandsPerRequest: commandTotal / total,
  redisWritesPerRequest: writes / total,
  heapGrowthMiB: (heapAfter - heapBefore) / 1024 / 1024,
  rssMiB: process.memoryUsage().rss / 1024 / 1024,
};

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));
process.stdout.write(
  `\nGatehouse proxy benchmark (${total} requests, concurrency ${concurrency}, one process)\n`,
);
process.stdout.write(
  `  one at a time, direct     : p50 ${fmt(sequentialDirect.p50)} ms  p99 ${fmt(sequentialDirect.p99)} ms\n`,
);
process.stdout.write(
  `  one at a time, proxied    : p50 ${fmt(sequentialProxied.p50)} ms  p99 ${fmt(sequentialProxied.p99)} ms\n`,
);
process.stdout.write(
  `  direct to demo API : ${baseline.rps} req/s  p50 ${fmt(baseline.p50)} ms  p95 ${fmt(baseline.p95)} ms  p99 ${fmt(baseline.p99)} ms\n`,
);
process.stdout.write(
  `  through Gatehouse  : ${gatehouse.rps} req/s  p50 ${fmt(gatehouse.p50)} ms  p95 ${fmt(gatehouse.p95)} ms  p99 ${fmt(gatehouse.p99)} ms\n`,
);
const checks: Array<[string, number, number, string]> = [
  ['overhead p50 (ms)', figures.overheadP50Ms, TARGETS.overheadP50Ms, '<='],
  ['proxied req/s', gatehouse.rps, TARGETS.minProxiedRps, '>='],
  [
    'Redis commands / request',
    figures.redisCommandsPerRequest,
    TARGETS.redisCommandsPerRequest,
    '<=',
  ],
  ['Redis writes / request', figures.redisWritesPerRequest, TARGETS.redisWritesPerRequest, '<='],
  ['heap growth (MiB)', figures.heapGrowthMiB, TARGETS.heapGrowthMiB, '<='],
];
let failed = false;
for (const [name, value, target, op] of checks) {
  const ok = op === '<=' ? value <= target : value >= target;
  failed ||= !ok;
  process.stdout.write(
    `  ${ok ? 'PASS' : 'FAIL'} ${name}: ${fmt(value)} (target ${op} ${target})\n`,
  );
}
process.stdout.write(
  `  RSS ${fmt(figures.rssMiB)} MiB (whole stack in this process: Gatehouse, dev IdP, demo API)\n`,
);

await dispatcher.close();
await cleanUp();
process.exit(failed ? 1 : 0);
