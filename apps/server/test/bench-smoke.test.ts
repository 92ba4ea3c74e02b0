// `pnpm bench` in a tiny mode: every contender starts in its own process, signs in where it has
// sign-ins, is driven and appears in the printed table and in the JSON figures; the property
// checks (one Redis read and no write per proxied call, no token in the log, a session record of at
// most 4 KB) pass. No timing is
// asserted: the figures of a few hundred requests on a busy machine mean nothing.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { childPids } from '../../../scripts/bench/proc-cpu.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-smoke-'));

/** A contender's figures in one sign-in phase. */
interface SignInRow {
  perSecond: number;
  count: number;
  cpuMsPerLogin?: number;
  rounds: Array<number | null>;
  gatehouseRatio?: number;
}

interface Figures {
  throughput: Record<'get' | 'post', Record<string, { rps: number; failures: number }>>;
  lowLoad: Record<string, { p50Ms: number; p90Ms: number; p99Ms: number; ok: number } | number>;
  latencyProbe: { latencyFrom: string };
  signIns: Record<string, SignInRow & { cold: { count: number } }>;
  signInsUnderLoad?: { concurrency: number; rounds: number } & Record<string, SignInRow>;
  redisPerCall: Array<{ commands: number; writes: number; counts: Record<string, number> }>;
  checks: Array<{ name: string; ok: boolean }>;
  options: { generator: string };
}

const CONTENDERS = ['gatehouse', 'express-oidc', 'express', 'raw'];

describe('pnpm bench (smoke)', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('measures every contender and keeps its property checks', { timeout: 240_000 }, async () => {
    const { stdout, figures } = await bench(
      [
        // wrk (the default where it is installed) drives the throughput rounds: whole seconds.
        ...['--generator', 'wrk', '--rounds', '1', '--duration', '1', '--warmup', '0.2'],
        ...['--connections', '2', '--logins', '2', '--login-rounds', '2', '--login-warmup', '1'],
        ...['--login-concurrency', '2'],
      ],
      200_000,
    );
    expect(stdout).toContain('2 connections driven by wrk');

    for (const label of [
      'Gatehouse',
      'express-openid-connect + http-proxy-middleware',
      'bare Express 5 + undici proxy',
      'raw node:http + undici proxy',
      'direct to the upstream (no proxy)',
    ]) {
      expect(stdout).toContain(`| ${label} |`);
    }
    expect(stdout).toContain('GET small JSON');
    expect(stdout).toContain('POST 4 KB JSON');

    expectThroughput(figures, CONTENDERS);
    expect(Object.keys(figures.lowLoad).sort()).toEqual(['direct', 'rate', ...CONTENDERS].sort());
    // The paced latency probe answered every contender, from the intended send times.
    expect(figures.latencyProbe.latencyFrom).toBe('intended send time');
    for (const name of ['direct', ...CONTENDERS]) {
      const row = figures.lowLoad[name];
      if (typeof row !== 'object') throw new Error(`no latency figures for ${name}`);
      expect(row.ok).toBeGreaterThan(0);
      expect(row.p50Ms).toBeGreaterThan(0);
      expect(row.p90Ms).toBeGreaterThanOrEqual(row.p50Ms);
      expect(row.p99Ms).toBeGreaterThanOrEqual(row.p90Ms);
    }
    expect(stdout).toContain('latency from the intended send time');
    // Warm-up sign-ins (the cold figure), then the measured ones, for both contenders,
    // interleaved: one sign-in each per round, a CPU figure per round.
    for (const name of ['gatehouse', 'express-oidc']) {
      expect(figures.signIns[name]?.perSecond).toBeGreaterThan(0);
      expect(figures.signIns[name]?.count).toBe(2);
      expect(figures.signIns[name]?.rounds).toHaveLength(2);
      expect(figures.signIns[name]?.cold.count).toBe(1);
    }
    // Gatehouse's ratio to express-openid-connect, from the rounds' own pairs.
    expect(figures.signIns['express-oidc']?.gatehouseRatio).toBeGreaterThan(0);
    expect(stdout).toContain('interleaved in 2 round(s) of 1 (rotating order)');
    // Then as many again, two flows at once per contender: one round of both sign-ins.
    const underLoad = figures.signInsUnderLoad;
    expect(underLoad?.concurrency).toBe(2);
    expect(underLoad?.rounds).toBe(1);
    for (const name of ['gatehouse', 'express-oidc']) {
      expect(underLoad?.[name]?.count).toBe(2);
      expect(underLoad?.[name]?.perSecond).toBeGreaterThan(0);
      expect(underLoad?.[name]?.rounds).toHaveLength(1);
    }
    expect(underLoad?.['express-oidc']?.gatehouseRatio).toBeGreaterThan(0);
    expect(stdout).toContain(
      'Sign-ins under load (the same sign-ins, 2 flows at once per contender)',
    );
    expect(stdout).toMatch(/CPU per sign-in ≤ 5 ms, under load \(2 at once\): \d+\.\d+ ms/);
    // The proxied call's store traffic: GETs only, one per call.
    for (const round of figures.redisPerCall) {
      expect(Object.keys(round.counts)).toEqual(['get']);
      expect(round.commands).toBeLessThanOrEqual(1);
      expect(round.writes).toBe(0);
    }
    expect(figures.checks.filter((check) => !check.ok)).toEqual([]);
    // The session's size in Redis is measured, not assumed: a byte count under the 4 KB limit.
    expect(figures.checks.map((check) => check.name)).toContain(
      'session record in Redis at most 4 KB',
    );
    expect(stdout).toMatch(/PASS session record in Redis at most 4 KB: \d{3,4} bytes/);
    expect(figures.options.generator).toBe('wrk');
  });

  it('drives the throughput rounds with autocannon when asked', { timeout: 120_000 }, async () => {
    const { stdout, figures } = await bench(
      [
        ...['--generator', 'autocannon', '--only', 'raw', '--rounds', '1', '--duration', '0.3'],
        ...['--warmup', '0.2', '--connections', '2', '--logins', '0'],
      ],
      100_000,
    );
    expect(stdout).toContain('2 connections driven by autocannon');
    expect(figures.options.generator).toBe('autocannon');
    // No sign-in measured (--logins 0): no phase under load either.
    expect(figures.signInsUnderLoad).toBeUndefined();
    expectThroughput(figures, ['gatehouse', 'raw']);
    for (const round of figures.redisPerCall) expect(round.commands).toBeLessThanOrEqual(1);
    expect(figures.checks.filter((check) => !check.ok)).toEqual([]);
  });

  it('stops every process it started when it is sent SIGTERM', { timeout: 120_000 }, async () => {
    const bench = spawn(
      process.execPath,
      [
        'scripts/bench-proxy.ts',
        ...['--generator', 'wrk', '--rounds', '1', '--duration', '60', '--warmup', '0.2'],
        ...['--logins', '0'],
      ],
      { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    bench.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(bench, 'exit');
    // Printed once Redis, the upstream, the IdP and every contender are up.
    await expect.poll(() => stderr, { timeout: 90_000 }).toContain('bench: ');
    // Then the warm-up, then the first measured run: wrk, for 60 s.
    await expect
      .poll(
        () =>
          descendants(bench.pid ?? 0).some((pid) =>
            /^wrk .*--duration 60s /.test(commandLine(pid)),
          ),
        { timeout: 90_000 },
      )
      .toBe(true);
    const started = descendants(bench.pid ?? 0);
    // redis-server, the upstream, the four proxies and wrk at least.
    expect(started.length).toBeGreaterThanOrEqual(6);
    bench.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(143);
    expect(started.filter(running)).toEqual([]);
  });
});

let benchRuns = 0;

/** `pnpm bench` with these options, to completion: what it printed and its JSON figures. */
async function bench(
  args: string[],
  timeoutMs: number,
): Promise<{ stdout: string; figures: Figures }> {
  const json = join(dir, `bench-${++benchRuns}.json`);
  const { stdout } = await run(
    process.execPath,
    ['scripts/bench-proxy.ts', ...args, '--json', json],
    { cwd: root, timeout: timeoutMs, maxBuffer: 10 * 1024 * 1024 },
  );
  return { stdout, figures: JSON.parse(readFileSync(json, 'utf8')) as Figures };
}

/** Both workloads measured exactly these contenders, every request answered. */
function expectThroughput(figures: Figures, contenders: readonly string[]): void {
  for (const workload of ['get', 'post'] as const) {
    expect(Object.keys(figures.throughput[workload]).sort()).toEqual([...contenders].sort());
    for (const name of contenders) {
      expect(figures.throughput[workload][name]?.rps).toBeGreaterThan(0);
      expect(figures.throughput[workload][name]?.failures).toBe(0);
    }
  }
}

/** Every process started under `pid`, children first. */
function descendants(pid: number): number[] {
  return childPids(pid).flatMap((child) => [child, ...descendants(child)]);
}

/** A process's command line, words separated by spaces ('' once it is gone). */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Whether a process is still running (a zombie waiting for its parent to reap it is not). */
function running(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  try {
    const fields = readFileSync(stat, 'utf8');
    return fields.slice(fields.lastIndexOf(')') + 2, fields.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
