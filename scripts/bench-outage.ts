/**
 * Redis outage benchmark: two Gatehouse instances share one redis-server (append-only file,
 * fsync always); N signed-in sessions send steady load (proxied API calls and /bff/user,
 * alternating instances). Redis is killed (or frozen with SIGSTOP) for a while, then restarted
 * from its AOF (or resumed). Prints the answers by status before, during and after the outage,
 * how many sessions are alive afterwards (must be all), and the time from Redis's return to the
 * first 200. Exit code 1 when a session was lost, a 401 or a 500 was answered, a request failed
 * without an answer, or the first 200 took longer than the target.
 *
 *   pnpm bench:outage [-- --sessions 20 --outage 10 --mode kill|freeze]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import {
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
} from '@gatehouse/testkit';

const TARGET_FIRST_200_MS = 1000;

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    sessions: { type: 'string', default: '20' },
    outage: { type: 'string', default: '10' },
    mode: { type: 'string', default: 'kill' },
  },
});
const sessionCount = Number(values.sessions);
const outageMs = Number(values.outage) * 1000;
const mode = values.mode;
if (!Number.isInteger(sessionCount) || sessionCount < 1 || !(outageMs > 0)) {
  process.stderr.write('--sessions must be a positive integer and --outage positive seconds\n');
  process.exit(2);
}
if (mode !== 'kill' && mode !== 'freeze') {
  process.stderr.write('--mode is kill or freeze\n');
  process.exit(2);
}

const redis = await startRedisServer({ appendOnly: true });
const stack = await startStack({ redis, instances: 2 }).catch(async (error: unknown) => {
  await redis.stop();
  throw error;
});
const cleanUp = async () => {
  redis.resume();
  await stack.close().catch(() => undefined);
  await redis.stop().catch(() => undefined);
};
process.once('unhandledRejection', (error) => {
  process.stderr.write(`${String(error)}\n`);
  void cleanUp().then(() => process.exit(1));
});

const users: CookieFetch[] = [];
for (let i = 0; i < sessionCount; i += 1) {
  const http = createCookieFetch();
  const login = i % 2 === 0 ? 'alice' : 'bob';
  await signIn(http, stack.origin, { login, password: login });
  users.push(http);
}

type Phase = 'before' | 'during' | 'after';
let phase: Phase = 'before';
let returnedAt = 0;
let first200AfterMs: number | undefined;
const counts: Record<Phase, Record<string, number>> = { before: {}, during: {}, after: {} };
let running = true;

async function load(http: CookieFetch, index: number): Promise<void> {
  for (let i = 0; running; i += 1) {
    const origin = stack.gatehouses[(index + i) % 2]!.origin;
    const url = i % 3 === 2 ? `${origin}/bff/user` : `${origin}/api/demo/me`;
    let outcome: string;
    try {
      const res = await http(url, { headers: { 'x-csrf': '1' } });
      await res.arrayBuffer();
      outcome = String(res.status);
      if (res.status === 200 && phase === 'after' && first200AfterMs === undefined)
        first200AfterMs = performance.now() - returnedAt;
    } catch (error) {
      outcome = `no answer (${(error as Error).cause ? String((error as Error).cause) : String(error)})`;
    }
    // Counted by when the answer came.
    counts[phase][outcome] = (counts[phase][outcome] ?? 0) + 1;
    // Steady, not flat-out: each session asks about 20 times a second.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const workers = users.map((http, index) => load(http, index));
await new Promise((resolve) => setTimeout(resolve, 2000));
phase = 'during';
if (mode === 'kill') await redis.kill();
else redis.pause();
await new Promise((resolve) => setTimeout(resolve, outageMs));
if (mode === 'kill') await redis.restart();
else redis.resume();
returnedAt = performance.now();
phase = 'after';
await new Promise((resolve) => setTimeout(resolve, 3000));
running = false;
await Promise.all(workers);

/** Signed in on both instances, and the proxied call works. */
async function isAlive(http: CookieFetch): Promise<boolean> {
  for (const { origin } of stack.gatehouses) {
    const res = await http(`${origin}/bff/user?slide=false`);
    await res.arrayBuffer();
    if (res.status !== 200) return false;
  }
  const res = await http(`${stack.origin}/api/demo/me`, { headers: { 'x-csrf': '1' } });
  await res.arrayBuffer();
  return res.status === 200;
}
let alive = 0;
for (const http of users) if (await isAlive(http)) alive += 1;

const line = (name: string, value: unknown) =>
  process.stdout.write(`${name.padEnd(34)} ${String(value)}\n`);
line('mode', `${mode} for ${outageMs / 1000} s, ${sessionCount} sessions, 2 instances`);
for (const name of ['before', 'during', 'after'] as const)
  line(`answers ${name}`, JSON.stringify(counts[name]));
line('sessions alive afterwards', `${alive} / ${sessionCount}`);
line(
  'first 200 after Redis returned',
  first200AfterMs === undefined ? 'never' : `${first200AfterMs.toFixed(0)} ms`,
);

const answered = [...Object.keys(counts.during), ...Object.keys(counts.after)];
const failures = [
  alive !== sessionCount && 'a session was lost',
  answered.includes('401') && 'a 401 was answered',
  answered.includes('500') && 'a 500 was answered',
  answered.some((outcome) => outcome.startsWith('no answer')) && 'a request got no answer',
  (first200AfterMs === undefined || first200AfterMs > TARGET_FIRST_200_MS) &&
    `first 200 later than ${TARGET_FIRST_200_MS} ms`,
].filter(Boolean);
await cleanUp();
if (failures.length > 0) {
  process.stdout.write(`FAILED: ${failures.join('; ')}\n`);
  process.exit(1);
}
process.stdout.write('ok\n');
