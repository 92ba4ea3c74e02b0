/**
 * CPU per sign-in of every process on the Playwright fixtures' sign-in path, and its wall time:
 * starts the Playwright stack (`e2e/stack.ts`: Gatehouse in development mode, the dev IdP in a
 * process of its own, Redis…), signs fresh users in one after the other with the fixtures' own
 * code (`JarClient` + `signInOverHttp` of packages/playwright, the cookies taken out of the jar
 * as for `context.addCookies`), and reads each process's user + system time from
 * `/proc/<pid>/stat` around the measured sign-ins; this process's own (the client) from
 * `process.cpuUsage()`.
 *
 *   node scripts/measure-sign-in-cpu.ts [--sign-ins 60] [--rounds 16] [--baseline <checkout>]
 *
 * `--baseline` measures a second checkout (its own stack and its own fixture code, e.g. a
 * `git worktree` of main with `pnpm install` and apps/web built) in the same run, its rounds
 * alternating with this checkout's; the figures are medians over the rounds. Needs apps/web/dist
 * (`pnpm --filter @gatehouse/web build`). Linux only (`/proc`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { cleanUpOnExit } from './bench/clean-up.ts';
import { childPids, ownCpuMicros } from './bench/proc-cpu.ts';
import { scriptOptions } from './bench/script-options.ts';

const values = scriptOptions(import.meta.url, {
  'sign-ins': { type: 'string', default: '60' },
  rounds: { type: 'string', default: '16' },
  warmup: { type: 'string', default: '100' },
  baseline: { type: 'string' },
});
const signIns = Number(values['sign-ins']);
const rounds = Number(values.rounds);
const warmup = Number(values.warmup);
if (![signIns, rounds, warmup].every((n) => Number.isInteger(n) && n >= 0) || signIns < 1) {
  throw new Error('--sign-ins, --rounds and --warmup take whole numbers (--sign-ins at least 1)');
}

/** The fixtures' sign-in code of one checkout, loaded from its sources. */
interface FixtureCode {
  JarClient: new () => { cookies(): Promise<unknown[]> };
  signInOverHttp: (
    client: unknown,
    baseURL: string,
    user: { tenant: string },
    options: { workerIndex: number },
  ) => Promise<unknown>;
}

interface Contender {
  name: string;
  stack: ChildProcess;
  baseURL: string;
  /** The processes of the stack: pid → what it is. */
  processes: Map<number, string>;
  code: FixtureCode;
  samples: Array<{ cpu: Map<string, number>; client: number; wall: number }>;
}

/** User + system CPU ms of a process so far (0 once it is gone). */
const cpuMs = (pid: number): number => (ownCpuMicros(pid) ?? 0) / 1000;

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

function label(pid: number, isStack: boolean): string {
  if (isStack) return 'Gatehouse (stack process)';
  const command = commandLine(pid);
  if (command.includes('dev-idp/src/process-main.ts')) return 'dev IdP (its own process)';
  const program = command.split(' ')[0] ?? '';
  return program.slice(program.lastIndexOf('/') + 1) || `pid ${pid}`;
}

/** The stack process and all its descendants, labelled. */
function processTree(root: number): Map<number, string> {
  const found = new Map<number, string>([[root, label(root, true)]]);
  const pending = childPids(root);
  for (let pid = pending.shift(); pid !== undefined; pid = pending.shift()) {
    found.set(pid, label(pid, false));
    pending.push(...childPids(pid));
  }
  return found;
}

async function start(name: string, checkout: string): Promise<Contender> {
  const stack = spawn(process.execPath, [resolve(checkout, 'e2e/stack.ts')], {
    cwd: checkout,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let baseURL: string;
  let code: FixtureCode;
  try {
    baseURL = await new Promise<string>((done, fail) => {
      stack.once('exit', (code) => fail(new Error(`${name}: the stack exited (${code})`)));
      createInterface({ input: stack.stdout }).on('line', (line) => {
        if (line.startsWith('{')) done((JSON.parse(line) as { baseURL: string }).baseURL);
      });
    });
    const [http, signIn] = (await Promise.all([
      import(resolve(checkout, 'packages/playwright/src/http.ts')),
      import(resolve(checkout, 'packages/playwright/src/sign-in.ts')),
    ])) as [Pick<FixtureCode, 'JarClient'>, Pick<FixtureCode, 'signInOverHttp'>];
    code = { JarClient: http.JarClient, signInOverHttp: signIn.signInOverHttp };
  } catch (error) {
    stack.kill('SIGTERM');
    throw error;
  }
  return {
    name,
    stack,
    baseURL,
    processes: processTree(stack.pid!),
    code,
    samples: [],
  };
}

/** `count` sign-ins of fresh users, one after the other, as the `gatehouseUser` fixture does. */
async function signInMany(contender: Contender, count: number): Promise<void> {
  const { JarClient, signInOverHttp } = contender.code;
  for (let i = 0; i < count; i += 1) {
    const jar = new JarClient();
    await signInOverHttp(jar, contender.baseURL, { tenant: 'acme' }, { workerIndex: 0 });
    await jar.cookies();
  }
}

async function measure(contender: Contender): Promise<void> {
  const pids = [...contender.processes.keys()];
  const before = pids.map(cpuMs);
  const client = process.cpuUsage();
  const started = performance.now();
  await signInMany(contender, signIns);
  const wall = performance.now() - started;
  const clientUs = process.cpuUsage(client);
  const cpu = new Map<string, number>();
  pids.forEach((pid, i) => {
    const what = contender.processes.get(pid)!;
    cpu.set(what, (cpu.get(what) ?? 0) + (cpuMs(pid) - before[i]!) / signIns);
  });
  contender.samples.push({
    cpu,
    client: (clientUs.user + clientUs.system) / 1000 / signIns,
    wall: wall / signIns,
  });
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

function median(list: number[]): number {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const contenders: Contender[] = [];
// Each stack stops its own Redis and IdP on SIGTERM.
const stopStacks = cleanUpOnExit(async () => {
  for (const { stack } of contenders) stack.kill('SIGTERM');
});
try {
  contenders.push(await start('this checkout', resolve(import.meta.dirname, '..')));
  if (values.baseline) contenders.push(await start('baseline', resolve(values.baseline)));
  for (const contender of contenders) await signInMany(contender, warmup);
  for (let round = 0; round < Math.max(rounds, 1); round += 1) {
    // The order alternates: neither always runs right after the other's rounds.
    const order = round % 2 ? [...contenders].reverse() : contenders;
    for (const contender of order) await measure(contender);
  }
  print(
    `CPU ms per sign-in (median of ${Math.max(rounds, 1)} rounds of ${signIns} sign-ins, after ${warmup} to warm up), load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
  const rows = new Map<string, number[]>();
  for (const [index, contender] of contenders.entries()) {
    const add = (what: string, value: number) => {
      const row = rows.get(what) ?? [];
      row[index] = value;
      rows.set(what, row);
    };
    let total = 0;
    for (const what of new Set(contender.samples.flatMap((s) => [...s.cpu.keys()]))) {
      const value = median(contender.samples.map((s) => s.cpu.get(what) ?? 0));
      total += value;
      add(what, value);
    }
    const client = median(contender.samples.map((s) => s.client));
    add('client (fixture code, this process)', client);
    add('all processes', total + client);
    add('wall ms per sign-in', median(contender.samples.map((s) => s.wall)));
  }
  const width = Math.max(...[...rows.keys()].map((k) => k.length));
  print(
    `${''.padEnd(width)}  ${contenders.map((c) => c.name.padStart(14)).join('')}${contenders.length > 1 ? '   ratio' : ''}`,
  );
  for (const [what, row] of rows) {
    if (row.every((value) => value === undefined || value < 0.005)) continue; // idle (glewlwyd)
    const cells = contenders.map((_, i) => (row[i] ?? 0).toFixed(2).padStart(14)).join('');
    const ratio =
      contenders.length > 1 && row[1] ? `   ${((row[0] ?? 0) / row[1]).toFixed(2)}` : '';
    print(`${what.padEnd(width)}  ${cells}${ratio}`);
  }
} finally {
  await stopStacks();
}
