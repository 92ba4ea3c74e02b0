/**
 * Side-by-side proxy benchmark. Every contender runs in a process of its own (pinned to one core
 * with `taskset` when there are two or more), in front of the same upstream (its own process),
 * and is driven in interleaved rounds by wrk when it is on PATH (`--generator autocannon`: by
 * autocannon, in this process, as when wrk is not installed):
 *
 * - `gatehouse`: `apps/server` as deployed (NODE_ENV=production, Redis, info-level access log
 *   written to a file), signed in for real (code + PKCE through the dev IdP);
 * - `express-oidc`: express-openid-connect + http-proxy-middleware, signed in for real too;
 * - `express`: a bare Express 5 app proxying with undici and a fixed token (no session at all);
 * - `raw`: the same on raw node:http;
 * - `direct`: the upstream itself (latency reference).
 *
 * `--no-pin` runs the contenders unpinned; `--workers n` gives Gatehouse n cluster workers;
 * `--only express,raw` measures only those contenders (and Gatehouse); `--baseline <checkout>`
 * adds the Gatehouse of another checkout of this repository (installed) as a contender, with the
 * same secrets, Redis, session and upstream: a before/after of a change in one run.
 *
 * Printed per workload (GET small JSON, POST 4 KB): req/s, CPU µs per request of the contender's
 * processes (/proc/<pid>/stat, children included) and its kernel part, req/s per core, p50/p99, Gatehouse's Redis
 * commands per call (must be 1 read, 0 writes) and the ratios against each contender; then the
 * latency each adds over `direct` at 25 % of bare Express's throughput, measured by an open-loop
 * paced generator in a process of its own (`scripts/bench/paced-load.ts`: evenly spaced sends
 * over a keep-alive pool, latency from each intended send time, p50/p90/p99), and sign-ins per
 * second with Gatehouse's CPU per sign-in, after `--login-warmup` sign-ins that are reported
 * apart as the cold figure, the measured ones interleaved with the other contenders' in
 * `--login-rounds` rounds; then as many again with `--login-concurrency` flows at once per
 * contender (sign-ins under load). Figures are medians over the rounds; compare ratios within
 * one run, never runs on a busy machine with each other.
 *
 *   pnpm bench [-- --rounds 3 --duration 5 --connections 32 --logins 30 --login-warmup 3000 --workers 1]
 *   pnpm bench --sign-ins-only --logins 300 --login-rounds 6 --baseline ../main   # sign-ins A/B
 *   pnpm bench -- --sign-ins-only --login-concurrency 4   # the sign-ins under load 4 at once (0: none)
 *   pnpm bench -- --arrivals poisson           # the latency probe with Poisson arrivals
 *   pnpm bench -- --autocannon-rate-probe      # + the former probe (autocannon overallRate), to compare
 *   pnpm bench -- --generator autocannon       # throughput rounds by autocannon even where wrk is installed
 *   pnpm bench --profile            # also writes a CPU profile of Gatehouse and summarises it
 *   pnpm bench -- --sign-ins-only --logins 100 --profile   # the sign-in phase alone, profiled
 *   pnpm bench -- --json out.json   # the figures as JSON too
 *   pnpm bench -- --diagnose        # + per measured window: GC of the contender, CPU of the others
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { Vault, type TokenSet } from '@gatehouse/core/testing';
import { completeDevIdpLogin, defaultRealms, startDevIdp } from '@gatehouse/dev-idp';
import {
  createCookieFetch,
  freePort,
  signIn,
  startRedisServer,
  type CookieFetch,
} from '@gatehouse/testkit';
import { generateKeys } from '../apps/server/src/keys.ts';
import type { PacedConfig, PacedResult } from './bench/paced-load.ts';
import { cleanUpOnExit } from './bench/clean-up.ts';
import { childPids, ownCpuMicros } from './bench/proc-cpu.ts';
import { summariseProfile } from './bench/profile-summary.ts';
import { scriptOptions } from './bench/script-options.ts';
import { runWrk, wrkInstalled, type LoadRun } from './bench/wrk-load.ts';

const values = scriptOptions(
  import.meta.url,
  {
    rounds: { type: 'string', default: '3' },
    /** Seconds per measured run of one contender and workload. */
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    logins: { type: 'string', default: '30' },
    /**
     * Sign-ins before the measured ones, not counted in the steady-state figure (the first
     * `--logins` of them are printed as the cold figure): V8 compiles and optimises the sign-in
     * code meanwhile. Most of it runs once per sign-in, and V8 optimises a function only after
     * some hundreds of calls (Maglev) or thousands (TurboFan): by `--trace-opt`, Gatehouse's
     * process made 866 optimising compilations in its first 300 sign-ins, 395 in the next 300,
     * then 54, 49, 23 … per 300, and 4–14 per 300 from the 3000th on (one block of 83, after a
     * burst of deoptimisations). Hence 3000: measured earlier, the figure is the tier-up's, not
     * a long-running instance's.
     */
    'login-warmup': { type: 'string', default: '3000' },
    /**
     * Rounds the measured sign-ins are interleaved in (`--logins / rounds` per contender and
     * round, rotating order); by default rounds of about 5, at least `--rounds`.
     */
    'login-rounds': { type: 'string' },
    /**
     * Sign-in flows at once in the second measured phase, sign-ins under load (0: none): what a
     * sign-in costs when users sign in together, as the proxied calls' figures are read at
     * `--connections`. Concurrent requests share wake-ups, socket writes and Redis round trips,
     * and each step's code runs many times in a row, which costs less per run than one after
     * another (docs/performance.md). `--logins` more sign-ins per contender, interleaved in
     * rounds of four times this many.
     */
    'login-concurrency': { type: 'string', default: '16' },
    /** Arrivals of the latency probe: a constant interval, or Poisson (the same mean rate). */
    arrivals: { type: 'string', default: 'constant' },
    /**
     * Also run the former latency probe (autocannon's `overallRate`, which sends each
     * connection's quota for the second in a burst), beside the paced one: a comparison.
     */
    'autocannon-rate-probe': { type: 'boolean', default: false },
    /**
     * The throughput rounds' load generator: `wrk` (by default when it is on PATH: in C, it
     * leaves more of its core to the upstream and Redis) or `autocannon` (in this process).
     */
    generator: { type: 'string' },
    /** GATEHOUSE_WORKERS of the Gatehouse contender. */
    workers: { type: 'string', default: '1' },
    pin: { type: 'boolean', default: true },
    profile: { type: 'boolean', default: false },
    /** Only the sign-ins (no proxied-call rounds): a quick figure, and a profile of just them. */
    'sign-ins-only': { type: 'boolean', default: false },
    /** Measure only these contenders (comma-separated; Gatehouse always): quicker A/B runs. */
    only: { type: 'string' },
    /**
     * Another checkout of this repository (installed): its Gatehouse runs as one more
     * contender on the same Redis, session and upstream, for a before/after in one run.
     */
    baseline: { type: 'string' },
    json: { type: 'string' },
    /**
     * Runs every Node contender with `--trace-gc-nvp` and prints, per measured window, its
     * garbage collections (inside the window and since its previous one) and the CPU the other
     * contenders and the upstream used meanwhile: what a window's CPU per request is made of.
     */
    diagnose: { type: 'boolean', default: false },
  },
  // `--no-pin` turns pinning off.
  { allowNegative: true },
);
const rounds = Number(values.rounds);
const durationS = Number(values.duration);
const warmupS = Number(values.warmup);
const connections = Number(values.connections);
const loginCount = Number(values.logins);
const loginWarmup = Number(values['login-warmup']);
const loginConcurrency = Number(values['login-concurrency']);
const arrivals: PacedConfig['arrivals'] = values.arrivals === 'poisson' ? 'poisson' : 'constant';
const signInsOnly = values['sign-ins-only'];
if (
  ![rounds, connections, Number(values['login-rounds'] ?? 1)].every(
    (n) => Number.isInteger(n) && n >= 1,
  ) ||
  ![loginCount, loginWarmup, loginConcurrency].every((n) => Number.isInteger(n) && n >= 0) ||
  (values.arrivals !== 'constant' && values.arrivals !== 'poisson') ||
  ![durationS, warmupS].every((n) => Number.isFinite(n) && n >= 0) ||
  durationS === 0
) {
  process.stderr.write(
    '--rounds, --login-rounds, --connections >= 1; --logins, --login-warmup, --login-concurrency >= 0; ' +
      '--duration > 0; ' +
      '--arrivals constant|poisson\n',
  );
  process.exit(2);
}
if (values.generator !== undefined && !['wrk', 'autocannon'].includes(values.generator)) {
  process.stderr.write(`--generator: wrk or autocannon, not ${values.generator}\n`);
  process.exit(2);
}
// Looked for only when wrk may be used.
const hasWrk = values.generator !== 'autocannon' && wrkInstalled();
if (values.generator === 'wrk' && !hasWrk) {
  process.stderr.write('--generator wrk: wrk is not on PATH (Debian: apt-get install wrk)\n');
  process.exit(2);
}
/** The throughput rounds' load generator (the latency probe is always paced-load.ts). */
const generator = (values.generator ?? (hasWrk ? 'wrk' : 'autocannon')) as 'wrk' | 'autocannon';
/** How long a throughput run lasts: wrk counts whole seconds. */
const runSeconds = (seconds: number) =>
  generator === 'wrk' ? Math.max(1, Math.ceil(seconds)) : seconds;

const ROOT = resolve(import.meta.dirname, '..');
const SERVER_MAIN = join(ROOT, 'apps/server/src/main.ts');
const BENCH = join(ROOT, 'scripts/bench');
const work = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));

/** Contenders on core 1, everything else (this process, upstream) on core 0, when possible. */
const CORES = availableParallelism();
const pinning = values.pin && process.platform === 'linux' && CORES >= 2 && hasTaskset();
if (pinning) execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);

type Name = 'gatehouse' | 'baseline' | 'express-oidc' | 'express' | 'raw' | 'direct';
const ALL_PROXIES: Name[] = ['gatehouse', 'baseline', 'express-oidc', 'express', 'raw'];
const only = values.only?.split(',').map((name) => name.trim());
const unknown = only?.filter((name) => !ALL_PROXIES.includes(name as Name));
if (unknown?.length) {
  process.stderr.write(
    `--only: unknown contender ${unknown.join(', ')} (${ALL_PROXIES.join(', ')})\n`,
  );
  process.exit(2);
}
const BASELINE_ROOT = values.baseline ? resolve(values.baseline) : undefined;
const PROXIES = ALL_PROXIES.filter((name) =>
  name === 'baseline'
    ? BASELINE_ROOT !== undefined
    : name === 'gatehouse' || !only || only.includes(name),
);
/** Node flags of every Node contender: GC tracing with `--diagnose`. */
const NODE_FLAGS = values.diagnose ? ['--trace-gc-nvp'] : [];
const LABELS: Record<Name, string> = {
  gatehouse: 'Gatehouse',
  baseline: `Gatehouse of ${BASELINE_ROOT ?? 'another checkout'}${baselineCommit()}`,
  'express-oidc': 'express-openid-connect + http-proxy-middleware',
  express: 'bare Express 5 + undici proxy',
  raw: 'raw node:http + undici proxy',
  direct: 'direct to the upstream (no proxy)',
};

interface Contender {
  name: Name;
  origin: string;
  child: ChildProcess;
  /** Request headers that make a call authenticated for this contender. */
  headers: Record<string, string>;
}

const children: ChildProcess[] = [];
/** Stops a running wrk (its process is not one of `children`: one per run). */
const loadRuns = new AbortController();
// The child processes first, then what was started in this process (last first), the work
// directory last.
const cleanUp = cleanUpOnExit(() => {
  loadRuns.abort();
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});
cleanUp.add(() => rmSync(work, { recursive: true, force: true }));

/** ` @ <short commit>` of the baseline checkout, when git knows it. */
function baselineCommit(): string {
  if (!BASELINE_ROOT) return '';
  try {
    const head = execFileSync('git', ['-C', BASELINE_ROOT, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    });
    return ` @ ${head.trim()}`;
  } catch {
    return '';
  }
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Starts `node <args>` (pinned to core 1 when pinning); stdout and stderr go to a file. */
function startNode(
  args: string[],
  env: Record<string, string>,
  log: string,
  core = '1',
): ChildProcess {
  const out = openSync(join(work, log), 'w');
  const command = pinning ? 'taskset' : process.execPath;
  const argv = pinning ? ['-c', core, process.execPath, ...args] : args;
  const child = spawn(command, argv, {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  children.push(child);
  return child;
}

async function waitForHttp(url: string, ok: (status: number) => boolean, child: ChildProcess) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited (${child.exitCode})`);
    const status = await fetch(url, { redirect: 'manual' }).then(
      (res) => res.status,
      () => 0,
    );
    if (ok(status)) return;
    if (Date.now() > deadline) throw new Error(`${url} not ready after 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// --- CPU time of a process and its descendants (Linux /proc) --------------------------------

/**
 * User + system CPU microseconds of `pid` and every live descendant (`systemOnly`: the system
 * part alone: the kernel's work for the process, its socket I/O above all); undefined off Linux.
 */
function cpuMicros(pid: number | undefined, systemOnly = false): number | undefined {
  const own = ownCpuMicros(pid, systemOnly);
  if (own === undefined || !pid) return undefined;
  let total = own;
  for (const child of childPids(pid)) total += cpuMicros(child, systemOnly) ?? 0;
  return total;
}

/**
 * CPU microseconds of `pid` and every live descendant from the scheduler's own runtime of each
 * thread (`/proc/<pid>/task/<tid>/schedstat`, nanoseconds), not the 10 ms ticks of `stat`: a
 * batch of 50 sign-ins is about 300 ms of CPU, where a tick is 3 %. A thread that ended in the
 * meantime drops out of the sum (Node's threads live as long as the process). `stat`'s figure
 * where schedstat is missing.
 */
function preciseCpuMicros(pid: number | undefined): number | undefined {
  if (!pid || !existsSync(`/proc/${pid}/task`)) return undefined;
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let schedstat: string;
    try {
      schedstat = readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8');
    } catch {
      return cpuMicros(pid);
    }
    total += Number(schedstat.split(' ')[0]) / 1000;
  }
  for (const child of childPids(pid)) total += preciseCpuMicros(child) ?? 0;
  return total;
}

// --- Load ----------------------------------------------------------------------------------

const POST_BODY = JSON.stringify({ note: 'x'.repeat(4096 - 12) });
const WORKLOADS = {
  get: { label: 'GET small JSON', path: '/api/demo/me', method: 'GET' as const },
  post: { label: 'POST 4 KB JSON', path: '/api/demo/echo', method: 'POST' as const },
};
type Workload = keyof typeof WORKLOADS;

interface Run {
  requests: number;
  seconds: number;
  rps: number;
  cpuUsPerRequest: number | undefined;
  /** The system (kernel) part of it. */
  systemUsPerRequest: number | undefined;
  p50: number;
  p99: number;
  failures: number;
  /** Requests sent, including those still in flight when the run stopped. */
  sent: number;
}

async function drive(
  contender: Contender,
  workload: Workload,
  seconds: number,
  rate?: number,
): Promise<Run> {
  const { path, method } = WORKLOADS[workload];
  const headers: Record<string, string> = { ...contender.headers };
  if (method === 'POST') headers['content-type'] = 'application/json';
  const diagnosis = values.diagnose && !rate ? startDiagnosis(contender) : undefined;
  const cpuBefore = cpuMicros(contender.child.pid);
  const systemBefore = cpuMicros(contender.child.pid, true);
  const started = performance.now();
  const url = contender.origin + (contender.name === 'direct' ? path.slice(9) : path);
  const generated =
    generator === 'wrk' && !rate
      ? await runWrk({
          url,
          method,
          headers,
          ...(method === 'POST' ? { body: POST_BODY } : {}),
          connections,
          seconds,
          timeoutSeconds: 30,
          dir: work,
          signal: loadRuns.signal,
        })
      : await autocannonRun(url, method, headers, seconds, rate);
  const elapsed = (performance.now() - started) / 1000;
  const cpuAfter = cpuMicros(contender.child.pid);
  const systemAfter = cpuMicros(contender.child.pid, true);
  diagnosis?.(workload);
  const ok = generated.ok;
  return {
    requests: ok,
    seconds: elapsed,
    // wrk's own clock when wrk ran (its start and exit left out); ours with autocannon.
    rps: ok / (generated.seconds ?? elapsed),
    cpuUsPerRequest:
      cpuBefore === undefined || cpuAfter === undefined || ok === 0
        ? undefined
        : (cpuAfter - cpuBefore) / ok,
    systemUsPerRequest:
      systemBefore === undefined || systemAfter === undefined || ok === 0
        ? undefined
        : (systemAfter - systemBefore) / ok,
    p50: generated.p50,
    p99: generated.p99,
    failures: generated.failures,
    sent: generated.sent,
  };
}

/** One run of autocannon: closed loop, or at `rate` requests per second over all connections. */
async function autocannonRun(
  url: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  seconds: number,
  rate: number | undefined,
): Promise<LoadRun> {
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((done, fail) => {
    const instance = autocannon(
      {
        url,
        method,
        headers,
        ...(method === 'POST' ? { body: POST_BODY } : {}),
        connections: rate ? Math.min(8, connections) : connections,
        duration: seconds,
        ...(rate ? { overallRate: rate } : {}),
        timeout: 30,
      },
      (error: unknown, value) =>
        error
          ? fail(error instanceof Error ? error : new Error('autocannon failed', { cause: error }))
          : done(value),
    );
    instance.on('response', (_client, status: number, _bytes, ms: number) => {
      if (status === 200) latencies.push(ms);
    });
  });
  const ok = latencies.length;
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(ok - 1, Math.floor(p * ok))] ?? 0;
  return {
    ok,
    p50: at(0.5),
    p99: at(0.99),
    failures: result.non2xx + result.errors + result.timeouts,
    sent: result.requests.sent,
  };
}

// --- --diagnose: what a measured window is made of ---------------------------------------

/** Log file (the `--trace-gc-nvp` lines) of each Node contender. */
const LOG_FILES: Partial<Record<Name, string>> = {
  gatehouse: 'gatehouse.log',
  baseline: 'base.log',
  'express-oidc': 'express-oidc.log',
  express: 'express.log',
  raw: 'raw.log',
};
/** Where each contender's log stood at the end of its previous window. */
const logSeen: Partial<Record<Name, number>> = {};
/** Processes whose CPU in another contender's window is reported: the contenders, the upstream. */
const watched: Partial<Record<Name | 'upstream', ChildProcess>> = {};

type GcEvent = Record<string, string>;
const gcEvents = (text: string): GcEvent[] =>
  text
    .split('\n')
    .filter((line) => line.includes(' gc='))
    .map((line) =>
      Object.fromEntries(
        [...line.matchAll(/ ([\w.]+)=(\S+)/g)].map((m): [string, string] => [
          m[1] ?? '',
          m[2] ?? '',
        ]),
      ),
    );

/**
 * Starts the diagnosis of one window; the returned function prints it: the contender's
 * scavenges (pause, bytes surviving and promoted to the old generation, the new space's size),
 * its full collections, those it ran between its windows, and the CPU ms the other processes
 * used during the window.
 */
function startDiagnosis(contender: Contender): ((workload: Workload) => void) | undefined {
  const file = LOG_FILES[contender.name];
  if (!file) return undefined;
  const path = join(work, file);
  const from = readFileSync(path).length;
  const idle = gcEvents(
    readFileSync(path)
      .subarray(logSeen[contender.name] ?? from, from)
      .toString(),
  );
  const othersBefore = Object.entries(watched).map(
    ([name, child]) => [name, cpuMicros(child.pid) ?? 0] as const,
  );
  return (workload) => {
    const written = readFileSync(path);
    logSeen[contender.name] = written.length;
    const events = gcEvents(written.subarray(from).toString());
    const scavenges = events.filter((event) => event.gc === 's');
    const full = events.filter((event) => event.gc !== 's');
    const total = (list: GcEvent[], field: string) =>
      list.reduce((sum, event) => sum + Number(event[field] ?? 0), 0);
    const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
    const others = othersBefore
      .filter(([name]) => name !== contender.name)
      .map(
        ([name, before]) =>
          `${name} ${fmt(((cpuMicros(watched[name as Name]?.pid) ?? 0) - before) / 1000)}`,
      );
    log(
      `    ${contender.name} ${workload}: ${scavenges.length} scavenges (${fmt(total(scavenges, 'pause'))} ms, ` +
        `${mb(total(scavenges, 'new_space_survived'))} MB survived, ${mb(total(scavenges, 'promoted'))} MB promoted, ` +
        `new space ${[...new Set(scavenges.map((event) => Number(event.new_space_capacity) / 2 ** 20))].join('/')} MiB), ` +
        `${full.length} full (${fmt(total(full, 'pause'))} ms); ${idle.length} GCs since its previous window; ` +
        `CPU ms of the others meanwhile: ${others.join(', ')}`,
    );
  };
}

/**
 * The latency probe: `scripts/bench/paced-load.ts` in a process of its own (pinned to the load
 * generator's core) sends GETs at `rate` on an open-loop schedule over a pool of keep-alive
 * connections and measures each from its intended send time.
 */
async function probe(contender: Contender, rate: number): Promise<PacedResult> {
  const { path, method } = WORKLOADS.get;
  const config: PacedConfig = {
    url: contender.origin + (contender.name === 'direct' ? path.slice(9) : path),
    method,
    headers: contender.headers,
    rate,
    seconds: durationS,
    warmupSeconds: Math.min(1, warmupS),
    connections,
    arrivals,
    timeoutSeconds: 30,
  };
  const configFile = join(work, `paced-${contender.name}.json`);
  const resultFile = join(work, `paced-${contender.name}-result.json`);
  // The session cookie is in it: readable by this user only.
  writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });
  const child = startNode(
    [join(BENCH, 'paced-load.ts'), configFile, resultFile],
    {},
    `paced-${contender.name}.log`,
    '0',
  );
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) {
    const output = readFileSync(join(work, `paced-${contender.name}.log`), 'utf8');
    throw new Error(`latency probe of ${contender.name} exited with ${code}: ${output}`);
  }
  return JSON.parse(readFileSync(resultFile, 'utf8')) as PacedResult;
}

// --- The stack -----------------------------------------------------------------------------

const redis = await startRedisServer();
cleanUp.add(() => redis.stop());
const [
  ghPort = 0,
  eocPort = 0,
  expressPort = 0,
  rawPort = 0,
  upstreamPort = 0,
  basePort = 0,
  ghMetricsPort = 0,
  baseMetricsPort = 0,
] = await Promise.all(Array.from({ length: 8 }, () => freePort()));
const ghOrigin = `http://localhost:${ghPort}`;
const eocOrigin = `http://localhost:${eocPort}`;
const upstream = `http://127.0.0.1:${upstreamPort}`;

const upstreamChild = startNode(
  [join(BENCH, 'upstream.ts')],
  { PORT: String(upstreamPort) },
  'upstream.log',
  '0',
);
await waitForHttp(`${upstream}/`, (s) => s === 401, upstreamChild);

const EOC_CLIENT = { id: 'bench-eoc', secret: randomBytes(24).toString('base64url') };
const realms = defaultRealms({ gatehouseOrigin: ghOrigin });
realms[0]?.clients.push({
  client_id: EOC_CLIENT.id,
  client_secret: EOC_CLIENT.secret,
  redirect_uris: [`${eocOrigin}/callback`],
  post_logout_redirect_uris: [`${eocOrigin}/`],
});
// --baseline signs in too: its callback is registered beside Gatehouse's.
if (values.baseline) {
  realms[0]?.clients[0]?.redirect_uris.push(`http://localhost:${basePort}/bff/callback/acme/dev`);
}
const idp = await startDevIdp({ port: 0, realms, accessTokenTtlSeconds: 3600 });
cleanUp.add(() => idp.close());

const encryptionKey = randomBytes(32).toString('base64url');
const profileDir = join(work, 'profile');
const sessionSecret = randomBytes(32).toString('base64url');
// One signing key for every worker (`--workers`) and the baseline: the dev routes include a
// Gatehouse-signed one, and several workers must publish and sign with the same key.
const signingKeys = generateKeys().GATEHOUSE_SIGNING_KEYS;
const gatehouseEnv = (port: number, metricsPort: number) => ({
  NODE_ENV: 'production',
  // Production's code paths; development mode only for the dev IdP's plain-http issuer.
  GATEHOUSE_MODE: 'development',
  HOST: '127.0.0.1',
  PORT: String(port),
  PUBLIC_URL: `http://localhost:${port}`,
  // Metrics on (as deployed), each instance on a port of its own.
  METRICS_PORT: String(metricsPort),
  DEV_IDP_ORIGIN: idp.origin,
  DEMO_API_URL: upstream,
  REDIS_URL: redis.url,
  SESSION_SECRET: sessionSecret,
  GATEHOUSE_ENCRYPTION_KEYS: `k1:${encryptionKey}`,
  GATEHOUSE_SIGNING_KEYS: signingKeys,
  LOG_LEVEL: 'info',
  // The sign-in limits stay on (their cost is part of a sign-in) but high enough for --logins.
  RATE_LIMIT_LOGIN_START: '1000000/60',
  RATE_LIMIT_CALLBACK: '1000000/60',
  GATEHOUSE_WORKERS: values.workers,
});
const ghChild = startNode(
  [
    ...NODE_FLAGS,
    ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    SERVER_MAIN,
  ],
  gatehouseEnv(ghPort, ghMetricsPort),
  'gatehouse.log',
);
// The same deployment from the baseline checkout: same secrets, Redis and upstream, so the
// session signed in below is valid on both.
const baseChild = BASELINE_ROOT
  ? startNode(
      [...NODE_FLAGS, join(BASELINE_ROOT, 'apps/server/src/main.ts')],
      gatehouseEnv(basePort, baseMetricsPort),
      'base.log',
    )
  : undefined;
const baseOrigin = `http://localhost:${basePort}`;
const eocChild = startNode(
  [...NODE_FLAGS, join(BENCH, 'eoc-proxy.ts')],
  {
    PORT: String(eocPort),
    UPSTREAM: upstream,
    ISSUER: idp.issuer(''),
    CLIENT_ID: EOC_CLIENT.id,
    CLIENT_SECRET: EOC_CLIENT.secret,
    COOKIE_SECRET: randomBytes(32).toString('base64url'),
    NODE_ENV: 'production',
  },
  'express-oidc.log',
);
await waitForHttp(`${ghOrigin}/readyz`, (s) => s === 200, ghChild);
if (baseChild) await waitForHttp(`${baseOrigin}/readyz`, (s) => s === 200, baseChild);
await waitForHttp(`${eocOrigin}/api/demo/me`, (s) => s === 401 || s === 302, eocChild);

// Real sign-ins: Gatehouse (code + PKCE, one session in Redis) and express-openid-connect.
const ghHttp = createCookieFetch();
await signIn(ghHttp, ghOrigin, { login: 'alice', password: 'alice' });
const ghCookie = (await ghHttp.jar.getCookieString(ghOrigin)) ?? '';

async function eocSignIn(http: CookieFetch): Promise<void> {
  const start = await http(`${eocOrigin}/login`);
  const authorizationUrl = start.headers.get('location');
  if (start.status !== 302 || !authorizationUrl) throw new Error('eoc: login did not redirect');
  const callback = await http(
    await completeDevIdpLogin(http, authorizationUrl, { login: 'alice', password: 'alice' }),
  );
  if (callback.status !== 302) throw new Error(`eoc: callback answered ${callback.status}`);
}
const eocHttp = createCookieFetch();
await eocSignIn(eocHttp);
const eocCookie = (await eocHttp.jar.getCookieString(eocOrigin)) ?? '';

// The baselines use the access token Gatehouse holds for the session (sealed in Redis).
const admin = redis.client();
const sessionKey = (await admin.keys('gh:sess:*'))[0] ?? '';
const storedJson = (await admin.get(sessionKey)) ?? '{}';
const stored = JSON.parse(storedJson) as { gh?: { tokens: string } };
admin.disconnect();
// What one session costs Redis: the whole record (express-session's cookie, Gatehouse's record
// with its sealed tokens and claims), checked below against the 4 KB it must stay under.
const sessionBytes = Buffer.byteLength(storedJson);
const sealed = stored.gh?.tokens;
if (!sealed) throw new Error('no Gatehouse session in Redis after sign-in');
const { accessToken } = await new Vault([{ kid: 'k1', key: encryptionKey }]).open<TokenSet>(sealed);

const plain = (kind: string, port: number) =>
  startNode(
    [...NODE_FLAGS, join(BENCH, 'plain-proxy.ts')],
    { BENCH_KIND: kind, PORT: String(port), UPSTREAM: upstream, BENCH_TOKEN: accessToken },
    `${kind}.log`,
  );
const expressChild = plain('express', expressPort);
const rawChild = plain('raw', rawPort);
await waitForHttp(`http://127.0.0.1:${expressPort}/api/demo/me`, (s) => s === 200, expressChild);
await waitForHttp(`http://127.0.0.1:${rawPort}/api/demo/me`, (s) => s === 200, rawChild);

Object.assign(watched, {
  gatehouse: ghChild,
  ...(baseChild ? { baseline: baseChild } : {}),
  'express-oidc': eocChild,
  express: expressChild,
  raw: rawChild,
  upstream: upstreamChild,
});
const browserHeaders = { accept: 'application/json', 'x-csrf': '1' };
const contenders: Record<Name, Contender> = {
  gatehouse: {
    name: 'gatehouse',
    origin: ghOrigin,
    child: ghChild,
    headers: { ...browserHeaders, cookie: ghCookie },
  },
  // Without --baseline never measured (PROXIES leaves it out).
  baseline: {
    name: 'baseline',
    origin: baseOrigin,
    child: baseChild ?? ghChild,
    headers: { ...browserHeaders, cookie: ghCookie },
  },
  'express-oidc': {
    name: 'express-oidc',
    origin: eocOrigin,
    child: eocChild,
    headers: { ...browserHeaders, cookie: eocCookie },
  },
  express: {
    name: 'express',
    origin: `http://127.0.0.1:${expressPort}`,
    child: expressChild,
    headers: { ...browserHeaders, cookie: ghCookie },
  },
  raw: {
    name: 'raw',
    origin: `http://127.0.0.1:${rawPort}`,
    child: rawChild,
    headers: { ...browserHeaders, cookie: ghCookie },
  },
  direct: {
    name: 'direct',
    origin: upstream,
    child: upstreamChild,
    headers: { accept: 'application/json', authorization: `Bearer ${accessToken}` },
  },
};

// --- Measure -------------------------------------------------------------------------------

const log = (line: string) => process.stderr.write(`${line}\n`);
const fmt = (n: number | undefined, digits = 0) => (n === undefined ? 'n/a' : n.toFixed(digits));
log(
  `bench: ${rounds} round(s) × ${runSeconds(durationS)} s, ${connections} connections (${generator}), ` +
    `${pinning ? 'contenders pinned to core 1' : 'no pinning'}; load ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
);

for (const name of signInsOnly ? [] : ([...PROXIES, 'direct'] as Name[])) {
  for (const workload of Object.keys(WORKLOADS) as Workload[]) {
    const warm = await drive(contenders[name], workload, Math.max(warmupS / 2, 0.2));
    if (warm.requests === 0 || warm.failures > 0) {
      throw new Error(`${name} ${workload}: ${warm.failures} failed requests in the warm-up`);
    }
  }
}

const runs: Record<Workload, Record<Name, Run[]>> = {
  get: { gatehouse: [], baseline: [], 'express-oidc': [], express: [], raw: [], direct: [] },
  post: { gatehouse: [], baseline: [], 'express-oidc': [], express: [], raw: [], direct: [] },
};
const redisPerCall: Array<{ commands: number; writes: number; counts: Record<string, number> }> =
  [];
for (let round = 0; round < (signInsOnly ? 0 : rounds); round += 1) {
  // Rotate the order, so no contender always runs first (or right after the heaviest).
  const order = [
    ...PROXIES.slice(round % PROXIES.length),
    ...PROXIES.slice(0, round % PROXIES.length),
  ];
  for (const workload of Object.keys(WORKLOADS) as Workload[]) {
    for (const name of order) {
      if (name === 'gatehouse') await redis.resetStats();
      const run = await drive(contenders[name], workload, durationS);
      if (name === 'gatehouse') {
        const counts = await redis.commandCounts();
        const total = Object.values(counts).reduce((a, b) => a + b, 0);
        const reads = counts.get ?? 0;
        redisPerCall.push({
          commands: total / Math.max(1, run.sent),
          writes: (total - reads) / Math.max(1, run.sent),
          counts,
        });
      }
      runs[workload][name].push(run);
      log(
        `  round ${round + 1} ${workload} ${name}: ${run.rps.toFixed(0)} req/s, ` +
          `${run.cpuUsPerRequest?.toFixed(0) ?? '?'} CPU µs/req, failures ${run.failures}`,
      );
    }
  }
}

const median = (numbers: number[]) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};
const summarise = (list: Run[]) => ({
  rps: median(list.map((r) => r.rps)),
  cpuUsPerRequest: list.every((r) => r.cpuUsPerRequest !== undefined)
    ? median(list.map((r) => r.cpuUsPerRequest ?? 0))
    : undefined,
  systemUsPerRequest: list.every((r) => r.systemUsPerRequest !== undefined)
    ? median(list.map((r) => r.systemUsPerRequest ?? 0))
    : undefined,
  p50Ms: median(list.map((r) => r.p50)),
  p99Ms: median(list.map((r) => r.p99)),
  failures: list.reduce((sum, r) => sum + r.failures, 0),
});
type Summary = ReturnType<typeof summarise>;
const throughput = Object.fromEntries(
  (Object.keys(WORKLOADS) as Workload[]).map((workload) => [
    workload,
    Object.fromEntries(
      ALL_PROXIES.map((name) => [name, summarise(runs[workload][name])]),
    ) as Record<Name, Summary>,
  ]),
) as Record<Workload, Record<Name, Summary>>;

// Added latency at 25 % of bare Express's throughput, every contender at the same rate, paced
// (open loop, evenly spread). Not autocannon's `overallRate`: each of its connections sends its
// quota for the second back to back when the second starts, then idles, so its latency is that
// of a burst at full concurrency (docs/performance.md, the latency probe). One probe per
// contender and round, in the rounds' rotating order; the figures are medians over the rounds.
const lowRate = Math.max(
  1,
  Math.round((throughput.get.express.rps || throughput.get.gatehouse.rps) * 0.25),
);
type LowLoad = Omit<PacedResult, 'rate' | 'arrivals'>;
const lowRuns: Partial<Record<Name, LowLoad[]>> = {};
const burstRuns: Partial<Record<Name, Run[]>> = {};
const probed: Name[] = signInsOnly ? [] : ['direct', ...PROXIES];
for (let round = 0; round < (probed.length ? rounds : 0); round += 1) {
  const order = [...probed.slice(round % probed.length), ...probed.slice(0, round % probed.length)];
  for (const name of order) {
    const { rate, arrivals: scheduled, ...figures } = await probe(contenders[name], lowRate);
    if (rate !== lowRate || scheduled !== arrivals) throw new Error('probe: not the rate asked');
    (lowRuns[name] ??= []).push(figures);
    log(
      `  round ${round + 1} paced ${lowRate}/s ${name}: p50 ${fmt(figures.p50Ms, 2)} ms, ` +
        `p99 ${fmt(figures.p99Ms, 2)} ms, send lag p99 ${fmt(figures.sendLagP99Ms, 2)} ms, ` +
        `failures ${figures.failures}`,
    );
    // The former probe, right after, for a comparison in the same rounds.
    if (values['autocannon-rate-probe']) {
      (burstRuns[name] ??= []).push(await drive(contenders[name], 'get', durationS, lowRate));
    }
  }
}
const sum = (numbers: number[]) => numbers.reduce((a, b) => a + b, 0);
const burstLoad: Partial<Record<Name, { p50Ms: number; p99Ms: number; failures: number }>> =
  Object.fromEntries(
    Object.entries(burstRuns).map(([name, list]) => [
      name,
      {
        p50Ms: median(list.map((run) => run.p50)),
        p99Ms: median(list.map((run) => run.p99)),
        failures: sum(list.map((run) => run.failures)),
      },
    ]),
  );
const lowLoad: Partial<Record<Name, LowLoad>> = Object.fromEntries(
  Object.entries(lowRuns).map(([name, list]) => {
    const of = (field: keyof LowLoad) => list.map((run) => run[field]);
    const row: LowLoad = {
      sent: sum(of('sent')),
      ok: sum(of('ok')),
      failures: sum(of('failures')),
      p50Ms: median(of('p50Ms')),
      p90Ms: median(of('p90Ms')),
      p99Ms: median(of('p99Ms')),
      maxMs: Math.max(...of('maxMs')),
      meanMs: median(of('meanMs')),
      sendLagP50Ms: median(of('sendLagP50Ms')),
      // The worst round: whether the generator kept its schedule at all.
      sendLagP99Ms: Math.max(...of('sendLagP99Ms')),
      maxInFlight: Math.max(...of('maxInFlight')),
    };
    return [name, row];
  }),
);

// Sign-ins: code + PKCE through the dev IdP (which runs in this process), one after another.
// First `--login-warmup` of them per contender, not counted in the steady-state figure: V8
// compiles and optimises the sign-in code meanwhile (the process had run a single sign-in
// before). The first `--logins` of the warm-up give the cold figure (the same count as the
// measured ones, so the two compare). Then the `--logins` measured ones, interleaved: in
// `--login-rounds` rounds (by default of about 5), each contender signs in `--logins / rounds`
// times per round, the order rotating from round to round, so a change in the machine's load
// moves every contender alike; the figure is the median over the rounds of each round's CPU per
// sign-in, and Gatehouse's ratio to a contender the median of the rounds' ratios. The measured
// Gatehouse sign-ins' spans on the monotonic clock (µs), which V8's profile timestamps use
// too: the profile's summary has a part for them alone.
const signInWindows: Array<{ from: bigint; to: bigint }> = [];
interface SignInFigures {
  count: number;
  perSecond: number;
  cpuMsPerLogin: number | undefined;
  /** All rounds' CPU over all their sign-ins: garbage collections counted where they fell. */
  cpuMsMean: number | undefined;
}
interface SignInRun {
  count: number;
  seconds: number;
  cpuMicros: number | undefined;
}
type SignInName = 'gatehouse' | 'baseline' | 'express-oidc';
/**
 * Sign-ins per progress line of the warm-up (CPU per sign-in of each batch: how fast V8 warms
 * up): 50, or more for a long warm-up (about a dozen lines per contender).
 */
const LOGIN_BATCH = Math.max(50, Math.round(loginWarmup / 12 / 50) * 50);
async function timedSignIns(
  child: ChildProcess,
  count: number,
  once: (http: CookieFetch) => Promise<unknown>,
  concurrency = 1,
): Promise<SignInRun> {
  const cpuBefore = preciseCpuMicros(child.pid);
  const started = performance.now();
  let left = count;
  // `concurrency` flows, each starting the next sign-in as soon as its last one is done.
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (left > 0) {
        left -= 1;
        await once(createCookieFetch());
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = preciseCpuMicros(child.pid);
  return {
    count,
    seconds,
    cpuMicros: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore,
  };
}
const perLogin = (run: SignInRun) =>
  run.cpuMicros === undefined || run.count === 0 ? undefined : run.cpuMicros / 1000 / run.count;
const signInFigures = (list: SignInRun[]): SignInFigures => {
  const count = sum(list.map((run) => run.count));
  const seconds = sum(list.map((run) => run.seconds));
  const each = list.filter((run) => run.count > 0).map(perLogin);
  return {
    count,
    perSecond: count === 0 || seconds === 0 ? 0 : count / seconds,
    cpuMsPerLogin: each.length && each.every((ms) => ms !== undefined) ? median(each) : undefined,
    cpuMsMean: list.every((run) => run.cpuMicros !== undefined)
      ? perLogin({ count, seconds, cpuMicros: sum(list.map((run) => run.cpuMicros ?? 0)) })
      : undefined,
  };
};
/** One batch of a contender's warm-up, with its progress line (`done`: its sign-ins so far). */
async function warmUpBatch(
  name: SignInName,
  child: ChildProcess,
  once: (http: CookieFetch) => Promise<unknown>,
  done: number,
  count: number,
): Promise<SignInRun> {
  const run = await timedSignIns(child, count, once);
  if (loginWarmup > LOGIN_BATCH && run.cpuMicros !== undefined && count > 0) {
    log(
      `  sign-ins ${name} warm-up ${done + 1}–${done + count}: ` +
        `${fmt(run.cpuMicros / 1000 / count, 2)} CPU ms each`,
    );
  }
  return run;
}
const signers: Array<{
  name: SignInName;
  child: ChildProcess;
  once: (http: CookieFetch) => Promise<unknown>;
}> =
  loginCount > 0
    ? [
        {
          name: 'gatehouse',
          child: ghChild,
          once: (http) => signIn(http, ghOrigin, { login: 'alice', password: 'alice' }),
        },
        ...(baseChild
          ? [
              {
                name: 'baseline' as const,
                child: baseChild,
                once: (http: CookieFetch) =>
                  signIn(http, baseOrigin, { login: 'alice', password: 'alice' }),
              },
            ]
          : []),
        ...(PROXIES.includes('express-oidc')
          ? [{ name: 'express-oidc' as const, child: eocChild, once: eocSignIn }]
          : []),
      ]
    : [];
// The warm-up: first each contender's cold sign-ins, one contender after the other; then the
// rest in batches, the contenders taking turns. Warmed up one after the other in full, the
// first sat idle for minutes (the others' warm-ups) right before the measured rounds and
// measured higher: two Gatehouses of the same code (`--baseline` of the same checkout, 600
// sign-ins in 120 rounds after 3000 of warm-up) came out at 1.08× (means 1.14×) the first
// against the second; warmed up in turns, 0.99× (means 0.92×).
const coldSignIns: Partial<Record<SignInName, SignInFigures>> = {};
const coldCount = Math.min(loginCount, loginWarmup);
for (const { name, child, once } of signers) {
  coldSignIns[name] = signInFigures([await warmUpBatch(name, child, once, 0, coldCount)]);
}
for (let done = coldCount; done < loginWarmup; done += LOGIN_BATCH) {
  const count = Math.min(LOGIN_BATCH, loginWarmup - done);
  for (const { name, child, once } of signers) await warmUpBatch(name, child, once, done, count);
}
/** By default rounds of about 5 sign-ins each, at least `--rounds`. */
const loginRounds = Math.min(
  loginCount,
  Number(values['login-rounds'] ?? Math.max(rounds, Math.round(loginCount / 5))),
);
/**
 * The measured sign-ins of one phase: `total` per contender in `roundCount` rounds, each
 * contender signing in its share of a round with `concurrency` flows at once, the order rotating
 * from round to round. `windows` collects Gatehouse's spans (for the profile's summary).
 */
async function measuredRounds(
  phase: string,
  total: number,
  roundCount: number,
  concurrency: number,
  windows?: Array<{ from: bigint; to: bigint }>,
): Promise<Partial<Record<SignInName, SignInRun[]>>> {
  const runs: Partial<Record<SignInName, SignInRun[]>> = {};
  // Each contender's CPU is read at every round's start for all of them, so a round's figure is
  // all its CPU from one round's start to the next: its own sign-ins, and what it does while
  // the others sign in (the end of its last answer: the access line's write, the audit append's
  // reply, a garbage collection), which a window around its own sign-ins alone would lose.
  let roundStart = new Map(signers.map(({ name, child }) => [name, preciseCpuMicros(child.pid)]));
  for (let round = 0; round < (signers.length ? roundCount : 0); round += 1) {
    // This round's share of `total` (the rounds differ by one at most).
    const count =
      Math.floor((total * (round + 1)) / roundCount) - Math.floor((total * round) / roundCount);
    const order = [
      ...signers.slice(round % signers.length),
      ...signers.slice(0, round % signers.length),
    ];
    const seconds = new Map<SignInName, number>();
    for (const { name, child, once } of order) {
      const from = process.hrtime.bigint() / 1000n;
      seconds.set(name, (await timedSignIns(child, count, once, concurrency)).seconds);
      if (name === 'gatehouse') windows?.push({ from, to: process.hrtime.bigint() / 1000n });
    }
    const roundEnd = new Map(signers.map(({ name, child }) => [name, preciseCpuMicros(child.pid)]));
    const line: string[] = [];
    for (const { name } of signers) {
      const before = roundStart.get(name);
      const after = roundEnd.get(name);
      const run: SignInRun = {
        count,
        seconds: seconds.get(name) ?? 0,
        cpuMicros: before === undefined || after === undefined ? undefined : after - before,
      };
      (runs[name] ??= []).push(run);
      line.push(`${name} ${fmt(perLogin(run), 2)}`);
    }
    roundStart = roundEnd;
    if (roundCount <= 50 || (round + 1) % 10 === 0) {
      log(`  round ${round + 1} ${phase} (${count} each), CPU ms per sign-in: ${line.join(', ')}`);
    }
  }
  return runs;
}

type SignInRow = SignInFigures & {
  rounds: Array<number | undefined>;
  gatehouseRatio?: number | undefined;
};
/**
 * Each contender's figures of one phase; Gatehouse's ratio to another contender is the median
 * over the rounds of its CPU per sign-in divided by the other's, same round.
 */
function signInRows(
  runs: Partial<Record<SignInName, SignInRun[]>>,
): Partial<Record<SignInName, SignInRow>> {
  const mine = runs.gatehouse ?? [];
  const pairedRatio = (name: SignInName): number | undefined => {
    const ratios = mine.flatMap((run, i) => {
      const a = perLogin(run);
      const other = runs[name]?.[i];
      const b = other ? perLogin(other) : undefined;
      return a === undefined || b === undefined || b === 0 ? [] : [a / b];
    });
    return ratios.length ? median(ratios) : undefined;
  };
  return Object.fromEntries(
    signers.map(({ name }) => {
      const list = runs[name] ?? [];
      return [
        name,
        {
          ...signInFigures(list),
          rounds: list.map(perLogin),
          ...(name === 'gatehouse' ? {} : { gatehouseRatio: pairedRatio(name) }),
        },
      ];
    }),
  );
}

const sequentialRows = signInRows(
  await measuredRounds('sign-ins', loginCount, loginRounds, 1, signInWindows),
);
const signIns = signers.length
  ? (Object.fromEntries(
      signers.map(({ name }) => {
        const row = sequentialRows[name];
        log(
          `  sign-ins ${name}: first ${coldSignIns[name]?.count ?? 0} ${fmt(coldSignIns[name]?.cpuMsPerLogin, 2)} CPU ms each, ` +
            `after ${loginWarmup} ${row?.count ?? 0} more in ${row?.rounds.length ?? 0} round(s), median ${fmt(row?.cpuMsPerLogin, 2)} CPU ms each ` +
            `(mean ${fmt(row?.cpuMsMean, 2)})`,
        );
        return [
          name,
          {
            ...row,
            cold: coldSignIns[name] ?? {
              count: 0,
              perSecond: 0,
              cpuMsPerLogin: undefined,
              cpuMsMean: undefined,
            },
          },
        ];
      }),
    ) as Partial<Record<SignInName, SignInRow & { cold: SignInFigures }>>)
  : undefined;

// Then the same count again with `--login-concurrency` flows at once per contender, in rounds
// of four times that many sign-ins (so that most of a round runs at full concurrency).
const loadRoundSize = Math.max(1, Math.min(loginCount, 4 * loginConcurrency));
const loadRounds = Math.ceil(loginCount / loadRoundSize);
const signInsUnderLoad =
  signers.length && loginConcurrency > 0 && loginCount > 0
    ? signInRows(
        await measuredRounds(
          `sign-ins under load (${loginConcurrency} at once)`,
          loginCount,
          loadRounds,
          loginConcurrency,
        ),
      )
    : undefined;
for (const [name, row] of Object.entries(signInsUnderLoad ?? {})) {
  log(
    `  sign-ins ${name}, ${loginConcurrency} at once: ${row.count} in ${loadRounds} round(s), ` +
      `median ${fmt(row.cpuMsPerLogin, 2)} CPU ms each (mean ${fmt(row.cpuMsMean, 2)}), ` +
      `${fmt(row.perSecond, 1)} sign-ins/s`,
  );
}

// Logs stay redacted: the access token in use never appears in what Gatehouse wrote.
const ghLog = readFileSync(join(work, 'gatehouse.log'), 'utf8');

// --- Report --------------------------------------------------------------------------------

const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}×`;
/** The other contenders of a sign-in table, in the order their rows are printed. */
const SIGN_IN_OTHERS = ['baseline', 'express-oidc'] as const;
/**
 * The cells every sign-in table has: sign-ins/s, CPU ms per sign-in, Gatehouse vs it (the
 * median of the rounds' ratios), the mean, Gatehouse vs it by the means; the two ratios are
 * blank in Gatehouse's own row.
 */
function signInCells(row: SignInRow, gatehouse: SignInRow): string[] {
  const own = row === gatehouse;
  return [
    fmt(row.perSecond, 1),
    fmt(row.cpuMsPerLogin, 2),
    own ? '' : row.gatehouseRatio === undefined ? 'n/a' : `${row.gatehouseRatio.toFixed(2)}×`,
    fmt(row.cpuMsMean, 2),
    own ? '' : ratio(gatehouse.cpuMsMean, row.cpuMsMean),
  ];
}
const tableRow = (cells: string[]) => `| ${cells.join(' | ')} |`;
/** A sign-in table's rows: Gatehouse's, then each other contender's that ran; `extra` adds cells. */
function signInTableRows<Row extends SignInRow>(
  rows: Partial<Record<SignInName, Row>>,
  gatehouse: Row,
  extra: (row: Row) => string[] = () => [],
): string[] {
  return [
    ['Gatehouse', gatehouse] as const,
    ...SIGN_IN_OTHERS.map((name) => [LABELS[name], rows[name]] as const),
  ].flatMap(([label, row]) =>
    row ? [tableRow([label, ...signInCells(row, gatehouse), ...extra(row)])] : [],
  );
}
/** Each contender's CPU ms per sign-in round by round (past 50 rounds, their 10th–90th percentile). */
function perRound(rows: Partial<Record<SignInName, SignInRow>>, roundCount: number): string {
  return `Per round (CPU ms per sign-in${roundCount > 50 ? ', 10th–90th percentile of the rounds' : ''}): ${signers
    .map(({ name }) => {
      const list = (rows[name]?.rounds ?? []).filter((ms) => ms !== undefined);
      if (roundCount <= 50) return `${name} ${list.map((ms) => fmt(ms, 2)).join(' ')}`;
      const sorted = [...list].sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
      return `${name} ${fmt(at(0.1), 2)}–${fmt(at(0.9), 2)}`;
    })
    .join('; ')}.`;
}
/**
 * What a sign-in goal's line adds to Gatehouse's figure: the other contenders' in the same
 * rounds. The usual Express BFF's sign-in moves with the machine's pace; the baseline is the
 * before of a change.
 */
function inTheSameRounds(rows: Partial<Record<SignInName, SignInRow>>): string {
  const { gatehouse, baseline, 'express-oidc': eoc } = rows;
  return (
    (eoc
      ? `; express-openid-connect in the same rounds ${fmt(eoc.cpuMsPerLogin, 2)} ms ` +
        `(Gatehouse at ${fmt(eoc.gatehouseRatio, 2)}×)`
      : '') +
    (baseline
      ? `; ${fmt(baseline.gatehouseRatio, 2)}× the baseline's in the same rounds ` +
        `(means ${fmt(gatehouse?.cpuMsMean, 2)} and ${fmt(baseline.cpuMsMean, 2)} ms: ` +
        `${ratio(gatehouse?.cpuMsMean, baseline.cpuMsMean)})`
      : '')
  );
}
const lines: string[] = [];
const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
lines.push(
  '',
  `Proxy benchmark: ${rounds} round(s) × ${runSeconds(durationS)} s per contender and workload, ${connections} connections driven by ${generator}, ` +
    `medians; ${CORES} cores (${cpuModel}), load average ${loadavg()
      .map((n) => n.toFixed(2))
      .join(
        ' ',
      )}; ${pinning ? 'contenders pinned to one core' : 'not pinned'}; Gatehouse workers: ${values.workers}`,
);
for (const workload of signInsOnly ? [] : (Object.keys(WORKLOADS) as Workload[])) {
  const table = throughput[workload];
  const gh = table.gatehouse;
  lines.push(
    '',
    `${WORKLOADS[workload].label}`,
    '| Contender | req/s | CPU µs/req | of which kernel | req/s per core | p50 ms | p99 ms | Gatehouse vs it: req/s | CPU/req |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const name of PROXIES) {
    const row = table[name];
    const perCore = row.cpuUsPerRequest ? 1e6 / row.cpuUsPerRequest : undefined;
    const versus =
      name === 'gatehouse'
        ? '| | |'
        : `| ${ratio(gh.rps, row.rps)} | ${ratio(gh.cpuUsPerRequest, row.cpuUsPerRequest)} |`;
    lines.push(
      `| ${LABELS[name]} | ${fmt(row.rps)} | ${fmt(row.cpuUsPerRequest)} | ${fmt(row.systemUsPerRequest)} | ${fmt(perCore)} | ${fmt(row.p50Ms, 2)} | ${fmt(row.p99Ms, 2)} ${versus}` +
        (row.failures ? ` (${row.failures} failed)` : ''),
    );
  }
}
const direct = lowLoad.direct;
if (!signInsOnly && direct) {
  const measured = (['direct', ...PROXIES] as Name[]).flatMap((name) => {
    const row = lowLoad[name];
    return row ? [[name, row] as const] : [];
  });
  lines.push(
    '',
    `Added latency over the upstream at ${lowRate} req/s (25 % of bare Express's GET throughput): ` +
      `open loop, ${arrivals === 'poisson' ? 'Poisson arrivals' : 'one request every ' + fmt(1000 / lowRate, 3) + ' ms'} ` +
      `over up to ${connections} keep-alive connections, ${durationS} s each, latency from the intended send time`,
    '| Contender | p50 ms | p90 ms | p99 ms | added p50 ms | added p99 ms | send lag p99 ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const [name, row] of measured) {
    const added = (a: number, b: number) => (name === 'direct' ? '' : fmt(a - b, 2));
    lines.push(
      `| ${LABELS[name]} | ${fmt(row.p50Ms, 2)} | ${fmt(row.p90Ms, 2)} | ${fmt(row.p99Ms, 2)} | ` +
        `${added(row.p50Ms, direct.p50Ms)} | ${added(row.p99Ms, direct.p99Ms)} | ${fmt(row.sendLagP99Ms, 2)} |` +
        (row.failures ? ` (${row.failures} failed)` : ''),
    );
  }
  const inFlight = Math.max(...measured.map(([, row]) => row.maxInFlight));
  lines.push(
    `Medians over ${rounds} round(s). Send lag: how late the generator sent (worst round; it is in ` +
      `the figures: a large one means the generator's core was busy). At most ${inFlight} requests ` +
      `were in flight at once${inFlight > connections ? ` (over ${connections}: some waited for a connection)` : ''}.`,
  );
  const burstDirect = burstLoad.direct;
  if (burstDirect) {
    lines.push(
      '',
      `The same rate with autocannon's overallRate (the former probe: each of ${Math.min(8, connections)} ` +
        'connections sends its quota for the second back to back as the second starts; medians over the rounds)',
      '| Contender | p50 ms | p99 ms | added p50 ms |',
      '| --- | ---: | ---: | ---: |',
    );
    for (const name of ['direct', ...PROXIES] as Name[]) {
      const row = burstLoad[name];
      if (!row) continue;
      lines.push(
        `| ${LABELS[name]} | ${fmt(row.p50Ms, 2)} | ${fmt(row.p99Ms, 2)} | ${name === 'direct' ? '' : fmt(row.p50Ms - burstDirect.p50Ms, 2)} |`,
      );
    }
  }
}
const gatehouseSignIns = signIns?.gatehouse;
if (signIns && gatehouseSignIns) {
  const gh = gatehouseSignIns;
  lines.push(
    '',
    `Sign-ins (code + PKCE through the dev IdP, one after another): ${loginCount} measured per contender after ` +
      `${loginWarmup} warm-up ones (the steady state), interleaved in ${loginRounds} round(s) of ` +
      `${fmt(loginCount / Math.max(1, loginRounds), 0)} (rotating order), medians over the rounds; cold: the first ${gh.cold.count} ` +
      `of the warm-up (the process's first sign-ins, V8 compiling the code)`,
    '| Contender | sign-ins/s | CPU ms per sign-in | Gatehouse vs it: CPU per sign-in | mean: CPU ms per sign-in | Gatehouse vs it: mean | cold: sign-ins/s | cold: CPU ms per sign-in |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...signInTableRows(signIns, gh, (row) => [
      fmt(row.cold.count ? row.cold.perSecond : undefined, 1),
      fmt(row.cold.cpuMsPerLogin, 2),
    ]),
    `${perRound(signIns, loginRounds)} "Gatehouse vs it": the median of the rounds' ratios; "mean": all rounds' CPU ` +
      'over all their sign-ins (a round with a full garbage collection weighs in; the median leaves it out).',
  );
}
const ghUnderLoad = signInsUnderLoad?.gatehouse;
if (signInsUnderLoad && ghUnderLoad) {
  lines.push(
    '',
    `Sign-ins under load (the same sign-ins, ${loginConcurrency} flows at once per contender): ${loginCount} more per contender, ` +
      `after the ones above, interleaved in ${loadRounds} round(s) of ${loadRoundSize} (rotating order), medians over the rounds`,
    '| Contender | sign-ins/s | CPU ms per sign-in | Gatehouse vs it: CPU per sign-in | mean: CPU ms per sign-in | Gatehouse vs it: mean |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...signInTableRows(signInsUnderLoad, ghUnderLoad),
    perRound(signInsUnderLoad, loadRounds),
  );
}

// Checks (these are properties, not timings: they hold on any machine).
const worstRedis = {
  commands: Math.max(...redisPerCall.map((r) => r.commands)),
  writes: Math.max(...redisPerCall.map((r) => r.writes)),
};
const allChecks: Array<[string, boolean, string]> = [
  [
    'Redis commands per proxied call',
    worstRedis.commands <= 1.0001,
    `${worstRedis.commands.toFixed(3)} (must be 1: one GET)`,
  ],
  [
    'Redis writes per proxied call',
    worstRedis.writes === 0,
    `${worstRedis.writes.toFixed(3)} (must be 0)`,
  ],
  [
    'every measured request answered 200',
    PROXIES.every((name) => throughput.get[name].failures + throughput.post[name].failures === 0) &&
      Object.values(lowLoad).every((row) => row.failures === 0) &&
      Object.values(burstLoad).every((row) => row.failures === 0),
    'non-2xx, errors and timeouts counted, the latency probe included',
  ],
  [
    "no access token in Gatehouse's log",
    !ghLog.includes(accessToken),
    `${ghLog.length} bytes of log checked`,
  ],
  [
    'session record in Redis at most 4 KB',
    sessionBytes <= 4096,
    `${sessionBytes} bytes (the benchmark's own sign-in through the dev IdP)`,
  ],
];
// With --sign-ins-only, no proxied call was measured: only the log and the session are checked.
const SIGN_IN_CHECKS = new Set([
  "no access token in Gatehouse's log",
  'session record in Redis at most 4 KB',
]);
const checks = allChecks.filter(([name]) => !signInsOnly || SIGN_IN_CHECKS.has(name));
lines.push('');
for (const [name, ok, detail] of checks) lines.push(`${ok ? 'PASS' : 'FAIL'} ${name}: ${detail}`);

// Goals of the project's benchmark (measured, reported; never asserted as a timing).
const gh = throughput.get.gatehouse;
const allGoals: Array<[string, string]> = [
  ['GET req/s ≥ 0.9× bare Express', ratio(gh.rps, throughput.get.express.rps)],
  [
    'GET CPU/req ≤ 1.1× bare Express',
    ratio(gh.cpuUsPerRequest, throughput.get.express.cpuUsPerRequest),
  ],
  ['GET req/s ≥ 1.5× express-openid-connect', ratio(gh.rps, throughput.get['express-oidc'].rps)],
  [
    'POST req/s ≥ 0.9× bare Express',
    ratio(throughput.post.gatehouse.rps, throughput.post.express.rps),
  ],
  [
    'POST req/s ≥ 1.5× express-openid-connect',
    ratio(throughput.post.gatehouse.rps, throughput.post['express-oidc'].rps),
  ],
  [
    'added p50 at 25 % load ≤ 1.0 ms',
    direct && lowLoad.gatehouse ? `${fmt(lowLoad.gatehouse.p50Ms - direct.p50Ms, 2)} ms` : 'n/a',
  ],
  ['p99 at 25 % load ≤ 2× bare Express', ratio(lowLoad.gatehouse?.p99Ms, lowLoad.express?.p99Ms)],
  [
    'Gatehouse CPU per sign-in ≤ 5 ms, one after another',
    gatehouseSignIns
      ? `${fmt(gatehouseSignIns.cpuMsPerLogin, 2)} ms after ${loginWarmup} warm-up sign-ins, ` +
        `median of ${loginRounds} round(s) (the first ${gatehouseSignIns.cold.count}: ` +
        `${fmt(gatehouseSignIns.cold.cpuMsPerLogin, 2)} ms)` +
        inTheSameRounds(sequentialRows)
      : 'n/a',
  ],
  [
    `Gatehouse CPU per sign-in ≤ 5 ms, under load (${loginConcurrency} at once)`,
    ghUnderLoad
      ? `${fmt(ghUnderLoad.cpuMsPerLogin, 2)} ms, median of ${loadRounds} round(s)` +
        inTheSameRounds(signInsUnderLoad)
      : 'n/a',
  ],
];
const goals = allGoals.filter(([goal]) => !signInsOnly || goal.includes('sign-in'));
lines.push('', 'Goals (figures of this run):');
for (const [goal, value] of goals) lines.push(`  ${goal}: ${value}`);
process.stdout.write(`${lines.join('\n')}\n`);

// --- Profile, JSON, shutdown ---------------------------------------------------------------

ghChild.kill('SIGTERM');
await once(ghChild, 'exit');
if (values.profile) {
  const files = existsSync(profileDir) ? readdirSync(profileDir) : [];
  const kept = join(ROOT, 'bench-profiles');
  execFileSync('mkdir', ['-p', kept]);
  for (const file of files) {
    const target = join(kept, file);
    writeFileSync(target, readFileSync(join(profileDir, file)));
    process.stdout.write(`\nCPU profile of Gatehouse: ${target} (open in Chrome DevTools)\n`);
    const profile = readFileSync(target, 'utf8');
    process.stdout.write(summariseProfile(profile, 30));
    if (signInWindows.length) {
      process.stdout.write(
        `\nThe ${loginCount} measured sign-ins alone, after ${loginWarmup} warm-up ones (${signInWindows.length} span(s) of the monotonic clock):`,
      );
      process.stdout.write(summariseProfile(profile, 30, signInWindows));
    }
  }
}
if (values.json) {
  writeFileSync(
    values.json,
    JSON.stringify(
      {
        machine: { cores: CORES, cpu: cpuModel, loadavg: loadavg(), pinning },
        options: {
          rounds,
          durationS,
          connections,
          logins: loginCount,
          loginWarmup,
          loginRounds,
          loginConcurrency,
          arrivals,
          workers: values.workers,
          generator,
        },
        // Only the contenders measured in this run (--only, --baseline).
        throughput: Object.fromEntries(
          Object.entries(throughput).map(([workload, table]) => [
            workload,
            Object.fromEntries(PROXIES.map((name) => [name, table[name]])),
          ]),
        ),
        lowLoad: { rate: lowRate, ...lowLoad },
        latencyProbe: {
          generator: 'paced open loop (scripts/bench/paced-load.ts)',
          arrivals,
          connections,
          seconds: durationS,
          warmupSeconds: Math.min(1, warmupS),
          latencyFrom: 'intended send time',
        },
        ...(values['autocannon-rate-probe'] ? { autocannonRateProbe: burstLoad } : {}),
        signIns,
        ...(signInsUnderLoad
          ? {
              signInsUnderLoad: {
                concurrency: loginConcurrency,
                rounds: loadRounds,
                ...signInsUnderLoad,
              },
            }
          : {}),
        redisPerCall,
        checks: checks.map(([name, ok, detail]) => ({ name, ok, detail })),
      },
      null,
      2,
    ),
  );
}
await cleanUp();
process.exit(checks.every(([, ok]) => ok) ? 0 : 1);
