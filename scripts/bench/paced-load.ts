/**
 * The benchmark's latency probe: an open-loop load generator, in a process of its own. Requests
 * leave at the times of a schedule fixed in advance (a constant interval at the given rate, or
 * Poisson arrivals), whatever the answers do: a slow answer never delays the next send, as it
 * does in a closed loop. They are spread over a pool of keep-alive connections (undici's Pool,
 * one request per connection at a time, a new connection only when every open one is busy).
 *
 * Latency is measured from each request's *intended* send time to the end of its answer's body,
 * so a stall anywhere (the contender, the connection pool, this process) lands in the figures
 * instead of being hidden (coordinated omission). How late the sends actually left is reported
 * too (`sendLag…`): it tells whether the generator kept its schedule.
 *
 * The schedule is kept by a worker thread that sleeps with `Atomics.wait` (sub-millisecond
 * timeouts, no spinning: the generator shares its core with the upstream) and tells the main
 * thread which requests are due; Node's own timers have a 1 ms granularity, coarser than the
 * interval at the benchmark's rates.
 *
 *   node scripts/bench/paced-load.ts <config.json> <result.json>
 *
 * config.json: { url, method, headers, body?, rate, seconds, warmupSeconds, connections,
 * arrivals: "constant" | "poisson", timeoutSeconds }. Only requests scheduled after the warm-up
 * are measured. Percentiles come from an HDR histogram (µs, 3 significant digits).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { build } from 'hdr-histogram-js';
import { Pool } from 'undici';

export interface PacedConfig {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** Requests per second. */
  rate: number;
  /** Measured seconds (after the warm-up). */
  seconds: number;
  warmupSeconds: number;
  /** Size of the keep-alive connection pool. */
  connections: number;
  arrivals: 'constant' | 'poisson';
  timeoutSeconds: number;
}

export interface PacedResult {
  rate: number;
  arrivals: PacedConfig['arrivals'];
  /** Measured requests scheduled (and sent). */
  sent: number;
  /** Of them, answered 200 (only these are in the percentiles). */
  ok: number;
  /** Answered with another status, failed, or unanswered within the timeout. */
  failures: number;
  /** Latency from the intended send time to the end of the answer, ms. */
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** How late the generator sent, from the intended time to the request's dispatch, ms. */
  sendLagP50Ms: number;
  sendLagP99Ms: number;
  /** Most requests outstanding at once (≤ connections means none waited for a connection). */
  maxInFlight: number;
}

interface PacerData {
  /** Intended send times, ns after the start. */
  offsets: Float64Array;
}

if (isMainThread) {
  const [configPath, resultPath] = process.argv.slice(2);
  if (!configPath || !resultPath) {
    process.stderr.write('usage: node scripts/bench/paced-load.ts <config.json> <result.json>\n');
    process.exit(2);
  }
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as PacedConfig;
  writeFileSync(resultPath, JSON.stringify(await run(config)));
  process.exit(0);
} else {
  pace(workerData as PacerData);
}

/** Intended send times (ns after the start) of the warm-up and measured requests. */
function schedule(config: PacedConfig): { offsets: Float64Array; measuredFrom: number } {
  const interval = 1e9 / config.rate;
  const warmup = Math.round(config.warmupSeconds * config.rate);
  const total = warmup + Math.max(1, Math.round(config.seconds * config.rate));
  const offsets = new Float64Array(total);
  let at = 0;
  for (let i = 0; i < total; i += 1) {
    offsets[i] = at;
    // Poisson arrivals: exponentially distributed gaps of the same mean.
    at += config.arrivals === 'poisson' ? -Math.log(1 - Math.random()) * interval : interval;
  }
  return { offsets, measuredFrom: warmup };
}

/**
 * The pacer thread: first posts the schedule's start (`process.hrtime.bigint()`, the same clock
 * in every thread), chosen once the thread is up, then the index of the last request due, each
 * time some fall due.
 */
function pace({ offsets }: PacerData): void {
  const port = parentPort;
  if (!port) return;
  const start = process.hrtime.bigint() + 10_000_000n;
  port.postMessage(start);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let next = 0;
  while (next < offsets.length) {
    const now = Number(process.hrtime.bigint() - start);
    const wait = (offsets[next] ?? 0) - now;
    if (wait > 0) {
      // Milliseconds, fractions included (a futex timeout, not a 1 ms timer tick).
      Atomics.wait(sleeper, 0, 0, wait / 1e6);
      continue;
    }
    let last = next;
    while (last + 1 < offsets.length && (offsets[last + 1] ?? Infinity) <= now) last += 1;
    port.postMessage(last);
    next = last + 1;
  }
}

async function run(config: PacedConfig): Promise<PacedResult> {
  const url = new URL(config.url);
  const pool = new Pool(url.origin, {
    connections: config.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: config.timeoutSeconds * 1000,
    bodyTimeout: config.timeoutSeconds * 1000,
  });
  const path = url.pathname + url.search;
  const { offsets, measuredFrom } = schedule(config);
  const histogram = () =>
    build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000 });
  const latency = histogram();
  const lag = histogram();
  let failures = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const pending = new Set<Promise<void>>();

  let start = 0n;
  const send = (index: number) => {
    const intended = start + BigInt(Math.round(offsets[index] ?? 0));
    const measured = index >= measuredFrom;
    if (measured)
      lag.recordValue(Math.max(0, Math.round(Number(process.hrtime.bigint() - intended) / 1000)));
    inFlight += 1;
    if (measured) maxInFlight = Math.max(maxInFlight, inFlight);
    const done = pool
      .request({
        path,
        method: config.method,
        headers: config.headers,
        ...(config.body === undefined ? {} : { body: config.body }),
      })
      .then(async ({ statusCode, body }) => {
        await body.dump();
        if (!measured) return;
        if (statusCode === 200) {
          latency.recordValue(
            Math.max(1, Math.round(Number(process.hrtime.bigint() - intended) / 1000)),
          );
        } else {
          failures += 1;
        }
      })
      .catch(() => {
        if (measured) failures += 1;
      })
      .finally(() => {
        inFlight -= 1;
        pending.delete(done);
      });
    pending.add(done);
  };

  const pacer = new Worker(new URL(import.meta.url), { workerData: { offsets } });
  let next = 0;
  pacer.on('message', (message: bigint | number) => {
    if (typeof message === 'bigint') start = message;
    else while (next <= message) send(next++);
  });
  await new Promise<void>((resolve, reject) => {
    pacer.once('exit', () => resolve());
    pacer.once('error', reject);
  });
  if (next < offsets.length) throw new Error(`pacer stopped after ${next} of ${offsets.length}`);
  await Promise.all(pending);
  await pool.close();

  const ms = (us: number) => us / 1000;
  return {
    rate: config.rate,
    arrivals: config.arrivals,
    sent: offsets.length - measuredFrom,
    ok: latency.totalCount,
    failures,
    p50Ms: ms(latency.getValueAtPercentile(50)),
    p90Ms: ms(latency.getValueAtPercentile(90)),
    p99Ms: ms(latency.getValueAtPercentile(99)),
    maxMs: ms(latency.maxValue),
    meanMs: ms(latency.mean),
    sendLagP50Ms: ms(lag.getValueAtPercentile(50)),
    sendLagP99Ms: ms(lag.getValueAtPercentile(99)),
    maxInFlight,
  };
}
