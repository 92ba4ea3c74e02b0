/**
 * Redis outage benchmark, on a deployment as an operator runs it: two Gatehouse processes
 * behind HAProxy, sharing one redis-server with an append-only file (fsync always). 20 sessions
 * sign in (code + PKCE through the dev IdP), then each sends steady traffic through the proxy
 * (API calls, and `/bff/user` every third call). Redis is killed (SIGKILL, a crash) and
 * restarted on the same port and data directory after `--outage` seconds (it reloads its
 * append-only file), or frozen (SIGSTOP) and resumed with `--mode freeze`. Printed: answers by
 * status before, during and after the outage, sessions still signed in afterwards, and the time
 * from Redis answering again to the first 200. Exit code 1 when a session was lost, a 401 or a
 * 500 was answered, a request got no answer, or the first 200 came later than the goal.
 *
 *   pnpm bench:outage [-- --outage 10 --sessions 20 --mode kill|freeze --after 5]
 */
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import {
  createCookieFetch,
  signIn,
  startProxiedStack,
  startRedisServer,
  type RedisServer,
} from '@gatehouse/testkit';
import { cleanUpOnExit } from './bench/clean-up.ts';
import { scriptOptions } from './bench/script-options.ts';

const GOALS = {
  /** From Redis answering PING again to the first 200 through the proxy. */
  firstOkAfterRedisMs: 1000,
};

const values = scriptOptions(import.meta.url, {
  outage: { type: 'string', default: '10' },
  sessions: { type: 'string', default: '20' },
  mode: { type: 'string', default: 'kill' },
  before: { type: 'string', default: '3' },
  after: { type: 'string', default: '5' },
  /** Pause of each session between two calls. */
  'think-ms': { type: 'string', default: '50' },
});
const outageMs = Number(values.outage) * 1000;
const beforeMs = Number(values.before) * 1000;
const afterMs = Number(values.after) * 1000;
const sessionCount = Number(values.sessions);
const thinkMs = Number(values['think-ms']);
if (
  ![outageMs, beforeMs, afterMs, thinkMs].every((n) => Number.isFinite(n) && n >= 0) ||
  !Number.isInteger(sessionCount) ||
  sessionCount < 1
) {
  process.stderr.write('--outage, --before, --after, --think-ms: numbers >= 0; --sessions >= 1\n');
  process.exit(2);
}
const mode = values.mode;
if (mode !== 'kill' && mode !== 'freeze') {
  process.stderr.write('--mode is kill or freeze\n');
  process.exit(2);
}

interface Outcome {
  /** `200`, `503 store_unavailable` (Gatehouse's own problem), `503 proxy`, `error`… */
  label: string;
  status: number;
  servedBy: string;
  startedAt: number;
  endedAt: number;
}

const USERS = ['alice', 'bob'];

let redis: RedisServer | undefined = undefined;
// A Redis paused mid-outage is resumed first, so that the stack's shutdown can reach it.
const cleanUp = cleanUpOnExit(() => redis?.resume());

redis = await startRedisServer({ appendOnly: true });
cleanUp.add(() => redis?.stop());
// Access tokens outlive the run: this measures the session store, not refreshes.
const stack = await startProxiedStack({ redis, devIdp: { accessTokenTtlSeconds: 3600 } });
cleanUp.add(() => stack.close());
const origin = stack.origin;

process.stdout.write(`signing in ${sessionCount} sessions through ${origin} …\n`);
const cookies: string[] = [];
for (let i = 0; i < sessionCount; i += 1) {
  const user = USERS[i % USERS.length] ?? 'alice';
  const http = createCookieFetch();
  await signIn(http, origin, { login: user, password: user });
  cookies.push((await http.jar.getCookieString(origin)) ?? '');
}

const dispatcher = new Agent({ connections: sessionCount });
const outcomes: Outcome[] = [];
let running = true;

async function call(path: string, cookie: string): Promise<Outcome> {
  const startedAt = Date.now();
  try {
    const res = await request(`${origin}${path}`, {
      dispatcher,
      headers: { cookie, 'x-csrf': '1' },
      headersTimeout: 30_000,
    });
    await res.body.text();
    const problem = res.headers['gatehouse-problem'];
    const servedBy = res.headers['x-served-by'];
    let label = String(res.statusCode);
    if (typeof problem === 'string') label += ` ${problem}`;
    else if (res.statusCode >= 500 && typeof servedBy !== 'string') label += ' (from the proxy)';
    return {
      label,
      status: res.statusCode,
      servedBy: typeof servedBy === 'string' ? servedBy.replace(/-fallback$/, '') : '-',
      startedAt,
      endedAt: Date.now(),
    };
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'failed';
    return { label: `error ${code}`, status: 0, servedBy: '-', startedAt, endedAt: Date.now() };
  }
}

/** Resolves with the time at which Redis on `port` first answers PING (not LOADING, not refused). */
async function firstPong(port: number): Promise<number> {
  for (;;) {
    // An inline command (Redis accepts them for telnet-style clients): no client library needed
    // for one PING, and no reconnect back-off hides the moment it is back.
    const pong = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.setTimeout(200);
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString('latin1').startsWith('+PONG'));
      });
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(false));
    });
    if (pong) return Date.now();
    await sleep(5);
  }
}

async function session(cookie: string): Promise<void> {
  for (let i = 0; running; i += 1) {
    outcomes.push(await call(i % 3 === 2 ? '/bff/user' : '/api/demo/me', cookie));
    if (thinkMs > 0) await sleep(thinkMs);
  }
}

const load = Promise.all(cookies.map((cookie) => session(cookie)));
await sleep(beforeMs);
// SIGKILL and SIGSTOP take effect at once (kill() then waits for the process entry to go away).
const killedAt = Date.now();
if (mode === 'kill') await redis.kill();
else redis.pause();
process.stdout.write(`Redis ${mode === 'kill' ? 'killed' : 'frozen'} for ${outageMs / 1000} s …\n`);
await sleep(Math.max(0, killedAt + outageMs - Date.now()));
// A killed Redis restarts on the same port and data directory and reloads its append-only file.
// "Back" is its first PONG, probed on our own tight loop (restart() returns a little later).
const restarting = mode === 'kill' ? redis.restart() : (redis.resume(), Promise.resolve());
const backAt = await firstPong(redis.port);
await restarting;
await sleep(afterMs);
running = false;
await load;

// Every session: still signed in, and its API calls work?
const alive = await Promise.all(
  cookies.map(
    async (cookie) =>
      (await call('/bff/user?slide=false', cookie)).status === 200 &&
      (await call('/api/demo/me', cookie)).status === 200,
  ),
);
await dispatcher.close();
const instances = stack.instances.map(({ name }) => name);
await cleanUp();

// ---------------------------------------------------------------------------------------------

function byLabel(list: Outcome[]): string {
  const counts = new Map<string, number>();
  for (const { label } of list) counts.set(label, (counts.get(label) ?? 0) + 1);
  return (
    [...counts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([label, n]) => `${label}: ${n}`)
      .join(', ') || 'none'
  );
}

const before = outcomes.filter((o) => o.startedAt < killedAt);
const during = outcomes.filter((o) => o.startedAt >= killedAt && o.startedAt < backAt);
const after = outcomes.filter((o) => o.startedAt >= backAt);
// Answers that ended after Redis was back (a request may have started just before).
const okAfterBack = outcomes
  .filter((o) => o.status === 200 && o.endedAt >= backAt)
  .sort((a, b) => a.endedAt - b.endedAt);
const firstOkMs = (list: Outcome[]) => (list[0] ? list[0].endedAt - backAt : Number.NaN);
const ms = (value: number) => (Number.isNaN(value) ? 'never' : `${value.toFixed(0)} ms`);
const firstOk = firstOkMs(okAfterBack);
const aliveCount = alive.filter(Boolean).length;
const rate = (list: Outcome[], ms: number) => Math.round((list.length / ms) * 1000);

const out = (line: string) => process.stdout.write(`${line}\n`);
out('');
out(
  `Redis outage benchmark: ${instances.length} Gatehouse instances behind HAProxy, ` +
    `${sessionCount} sessions, Redis ${mode === 'kill' ? 'killed' : 'frozen'} for ` +
    `${outageMs / 1000} s (append-only file)`,
);
out(
  `  before the outage (${beforeMs / 1000} s, ${rate(before, beforeMs)} req/s): ${byLabel(before)}`,
);
out(`  during the outage (${((backAt - killedAt) / 1000).toFixed(1)} s): ${byLabel(during)}`);
out('    (by start time: a 200 here was still waiting for Redis when it came back)');
out(`  after Redis is back (${afterMs / 1000} s): ${byLabel(after)}`);
const duringOrAfter = [...during, ...after];
const count = (test: (o: Outcome) => boolean) => duringOrAfter.filter(test).length;
out(`  401 answers during or after the outage: ${count((o) => o.status === 401)}`);
out(`  sessions signed in afterwards: ${aliveCount} / ${sessionCount}`);
out(`  time from Redis back to the first 200: ${ms(firstOk)}`);
for (const name of instances) {
  out(
    `    first 200 from ${name}: ${ms(firstOkMs(okAfterBack.filter((o) => o.servedBy === name)))}`,
  );
}

const checks: Array<[string, boolean, string]> = [
  ['sessions alive', aliveCount === sessionCount, `${aliveCount} / ${sessionCount} (goal: all)`],
  [
    'time to first 200 after Redis returns',
    firstOk < GOALS.firstOkAfterRedisMs,
    `${ms(firstOk)} (goal < ${GOALS.firstOkAfterRedisMs} ms)`,
  ],
  [
    'no 401 during or after the outage',
    count((o) => o.status === 401) === 0,
    'a store failure is never a sign-out',
  ],
  ['no 500 during or after the outage', count((o) => o.status === 500) === 0, 'never a crash'],
  [
    'every request answered',
    count((o) => o.status === 0) === 0,
    `${count((o) => o.status === 0)} without an answer`,
  ],
];
let failed = false;
for (const [name, ok, detail] of checks) {
  failed ||= !ok;
  out(`  ${ok ? 'PASS' : 'FAIL'} ${name}: ${detail}`);
}
process.exit(failed ? 1 : 0);
