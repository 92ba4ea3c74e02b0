/**
 * What metrics cost on the proxied path: two in-process stacks on one real redis-server, the
 * baseline with metrics off (`METRICS_PORT=0`) and one with metrics on, each with a signed-in
 * session. Rounds of N proxied `GET /api/demo/me` at concurrency C alternate between them (so a
 * busy machine slows both alike); the figures are CPU µs per request of this process (which also
 * runs the dev IdP and the demo API, the same for both) and requests per second, with the ratio
 * metrics/baseline, plus Redis commands per request for each. Exits 1 when metrics add a Redis
 * command. The last scrape's size and time are printed too, and the hooks alone: what the
 * observations of one proxied call (request counter and histogram, the session read's timing,
 * the upstream's answer time) cost, called in a tight loop.
 *
 *   pnpm bench:metrics [-- --requests 2000 --concurrency 16 --rounds 5]
 */
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import {
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type Stack,
} from '@gatehouse/testkit';
import { PrometheusMetrics } from '@gatehouse/core/testing';
import { cleanUpOnExit } from './bench/clean-up.ts';
import { scriptOptions } from './bench/script-options.ts';

const values = scriptOptions(import.meta.url, {
  requests: { type: 'string', default: '2000' },
  concurrency: { type: 'string', default: '16' },
  rounds: { type: 'string', default: '5' },
});
const total = Number(values.requests);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
if (![total, concurrency, rounds].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write('--requests, --concurrency and --rounds must be positive integers\n');
  process.exit(2);
}

const cleanUp = cleanUpOnExit();
const redis = await startRedisServer();
cleanUp.add(() => redis.stop());

const devIdp = { accessTokenTtlSeconds: 3600 };
const baselineStack = await startStack({ redis, devIdp });
cleanUp.add(() => baselineStack.close());
const metricsStack = await startStack({ redis, devIdp, metrics: true });
cleanUp.add(() => metricsStack.close());

async function session(stack: Stack): Promise<Record<string, string>> {
  const http = createCookieFetch();
  await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
  return { cookie: (await http.jar.getCookieString(stack.origin)) ?? '', 'x-csrf': '1' };
}

const dispatcher = new Agent({ connections: concurrency });
const targets = [
  { name: 'metrics off (baseline)', stack: baselineStack, headers: await session(baselineStack) },
  { name: 'metrics on', stack: metricsStack, headers: await session(metricsStack) },
].map((target) => ({ ...target, cpuUs: 0, ms: 0, requests: 0, commands: 0 }));

async function run(url: string, headers: Record<string, string>): Promise<void> {
  let next = 0;
  async function worker(): Promise<void> {
    while (next < total) {
      next += 1;
      const res = await request(url, { dispatcher, headers });
      await res.body.arrayBuffer();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
}

// Warm-up: discovery, JWKS, pools, JIT, label children.
for (const target of targets) await run(`${target.stack.origin}/api/demo/me`, target.headers);

for (let round = 0; round < rounds; round += 1) {
  for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
    await redis.resetStats();
    const cpu = process.cpuUsage();
    const started = performance.now();
    await run(`${target.stack.origin}/api/demo/me`, target.headers);
    target.ms += performance.now() - started;
    const used = process.cpuUsage(cpu);
    target.cpuUs += used.user + used.system;
    target.requests += total;
    const counts = await redis.commandCounts();
    target.commands += Object.values(counts).reduce((a, b) => a + b, 0);
  }
}

const scrapeStarted = performance.now();
const scrape = await fetch(`${metricsStack.gatehouses[0]?.metricsOrigin ?? ''}/metrics`);
const text = await scrape.text();
const scrapeMs = performance.now() - scrapeStarted;

// The hooks of one proxied call, alone: no network, no noise from the rest of the stack.
const hooks = new PrometheusMetrics(['/api/demo']);
const sessionRead = hooks.store('session', 'get');
const loops = 200_000;
const callHooks = () => {
  const startedAt = performance.now();
  sessionRead.done(startedAt, false);
  hooks.upstream('/api/demo').answered(startedAt);
  hooks.httpRequest('/api/demo', 'GET', 200, (performance.now() - startedAt) / 1000);
};
for (let i = 0; i < 10_000; i += 1) callHooks();
const hooksCpu = process.cpuUsage();
for (let i = 0; i < loops; i += 1) callHooks();
const hooksUsed = process.cpuUsage(hooksCpu);
const hookUs = (hooksUsed.user + hooksUsed.system) / loops;

const fmt = (n: number) => n.toFixed(2);
const [baseline, measured] = targets as [(typeof targets)[0], (typeof targets)[0]];
process.stdout.write(
  `\nMetrics cost on the proxied path (${rounds} rounds × ${total} requests each, concurrency ${concurrency}, one process)\n`,
);
for (const target of targets) {
  process.stdout.write(
    `  ${target.name.padEnd(24)}: ${fmt(target.cpuUs / target.requests)} CPU µs/request  ${Math.round((target.requests / target.ms) * 1000)} req/s  ${fmt(target.commands / target.requests)} Redis commands/request\n`,
  );
}
const cpuRatio = measured.cpuUs / measured.requests / (baseline.cpuUs / baseline.requests);
const rpsRatio = measured.requests / measured.ms / (baseline.requests / baseline.ms);
process.stdout.write(
  `  ratio metrics/baseline  : CPU ${fmt(cpuRatio)}×  throughput ${fmt(rpsRatio)}×\n`,
);
process.stdout.write(
  `  one scrape              : ${(text.length / 1024).toFixed(1)} KiB in ${fmt(scrapeMs)} ms\n`,
);
process.stdout.write(
  `  hooks of one proxied call: ${fmt(hookUs)} CPU µs (${loops} calls in a loop) = ${fmt((hookUs / (baseline.cpuUs / baseline.requests)) * 100)}% of the baseline's CPU per request\n`,
);
const extraCommands = measured.commands / measured.requests - baseline.commands / baseline.requests;
process.stdout.write(
  `  ${extraCommands <= 0 ? 'PASS' : 'FAIL'} Redis commands added by metrics per request: ${fmt(extraCommands)} (target <= 0)\n`,
);

await dispatcher.close();
await cleanUp();
process.exit(extraCommands <= 0 ? 0 : 1);
