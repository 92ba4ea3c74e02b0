// Two Gatehouse processes behind a real HAProxy, sharing one real Redis: one instance is stopped
// with SIGTERM while a signed-in user's traffic flows through the proxy, then started again, as
// in a rolling restart.
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  signIn,
  startProxiedStack,
  startRedisServer,
  type ProxiedStack,
  type RedisServer,
} from '@gatehouse/testkit';

interface Outcome {
  id: string;
  path: string;
  /** 0 when the request itself failed (no HTTP answer reached the client). */
  status: number;
  servedBy: string | null;
  startedAt: number;
  endedAt: number;
  error?: string;
}

/** A mix of what a signed-in SPA sends: API calls, session checks and a slower API call. */
const PATHS = ['/api/demo/me', '/bff/user', '/api/demo/public/slow?ms=400'];
const WORKERS = 6;

let redis: RedisServer;
let stack: ProxiedStack;

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startProxiedStack({ redis, instances: 2 });
}, 60_000);

/** Traffic generators still running (a failed assertion must not leave them looping). */
const generators = new Set<{ stop(): Promise<void> }>();

afterEach(async () => {
  for (const generator of generators) await generator.stop();
});

afterAll(async () => {
  await stack?.close();
  await redis?.stop();
});

/** Steady traffic from one signed-in browser through the proxy until `stop()`. */
function steadyTraffic(origin: string, cookie: string) {
  const dispatcher = new Agent({ connections: WORKERS });
  const outcomes: Outcome[] = [];
  let running = true;
  let sequence = 0;
  async function worker(): Promise<void> {
    while (running) {
      sequence += 1;
      const id = `req-${sequence}`;
      const path = PATHS[sequence % PATHS.length] ?? '/bff/user';
      const startedAt = Date.now();
      try {
        const res = await request(`${origin}${path}`, {
          dispatcher,
          headers: { cookie, 'x-csrf': '1', 'x-request-id': id },
        });
        await res.body.text();
        const servedBy = res.headers['x-served-by'];
        outcomes.push({
          id,
          path,
          status: res.statusCode,
          servedBy: typeof servedBy === 'string' ? servedBy : null,
          startedAt,
          endedAt: Date.now(),
        });
      } catch (error) {
        outcomes.push({
          id,
          path,
          status: 0,
          servedBy: null,
          startedAt,
          endedAt: Date.now(),
          error: String(error),
        });
      }
    }
  }
  const workers = Promise.all(Array.from({ length: WORKERS }, worker));
  const generator = {
    outcomes,
    async stop() {
      generators.delete(generator);
      running = false;
      await workers;
      await dispatcher.close();
    },
  };
  generators.add(generator);
  return generator;
}

describe('two instances behind HAProxy', () => {
  it('keeps a signed-in user working while one instance stops on SIGTERM mid-traffic and returns', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    const cookie = (await http.jar.getCookieString(stack.origin)) ?? '';
    const [victim, survivor] = stack.instances;
    if (!victim || !survivor) throw new Error('two instances expected');

    const traffic = steadyTraffic(stack.origin, cookie);
    const served = (name: string, outcomes = traffic.outcomes) =>
      outcomes.filter((o) => o.servedBy === name && o.status === 200).length;
    // Both instances serve this user before the stop (the proxy balances every request).
    await expect
      .poll(() => Math.min(served(victim.name), served(survivor.name)), { timeout: 20_000 })
      .toBeGreaterThanOrEqual(10);

    // A slow call in flight on the instance when it gets SIGTERM (sent to it directly, so it is
    // certain to be there): it must be answered, not cut off.
    const inFlight = request(`${victim.process.origin}/api/demo/public/slow?ms=1500`, {
      headers: { cookie, 'x-csrf': '1' },
    }).then(
      async (res) => ({ status: res.statusCode, body: await res.body.text() }),
      (error: unknown) => ({ status: 0, body: String(error) }),
    );
    await sleep(300);
    const exit = await victim.process.stop('SIGTERM');
    const exitedAt = Date.now();
    // Traffic goes on after the exit: it must all land on the survivor.
    await expect
      .poll(() => traffic.outcomes.filter((o) => o.startedAt > exitedAt).length, {
        timeout: 20_000,
      })
      .toBeGreaterThanOrEqual(30);
    await traffic.stop();
    await sleep(200); // HAProxy's last log lines
    const outcomes = traffic.outcomes;
    const logs = stack.haproxy.logs();
    const context = JSON.stringify(
      {
        exit,
        failures: outcomes.filter((o) => o.status !== 200),
        events: stack.haproxy.events(),
        victimOutput: victim.process.output().slice(-4000),
      },
      null,
      2,
    );

    // A clean drain: the process ends by itself, within its grace period, with exit code 0.
    expect(exit, context).toEqual({ code: 0, signal: null });

    // Nobody was signed out, and nothing failed but requests HAProxy lost on a connection the
    // server closed under them (termination state S…); with a clean drain there are none.
    expect(
      outcomes.filter((o) => o.status === 401),
      context,
    ).toEqual([]);
    for (const failure of outcomes.filter((o) => o.status !== 200)) {
      const line = logs.find((entry) => entry.requestId === failure.id);
      expect(line?.termination.charAt(0), `${failure.id}: ${context}`).toBe('S');
    }

    expect(await inFlight, context).toEqual({ status: 200, body: '{"waitedMs":1500}' });

    // After the exit, the survivor serves every request.
    const afterExit = outcomes.filter((o) => o.startedAt > exitedAt);
    expect(afterExit.length).toBeGreaterThanOrEqual(30);
    expect(new Set(afterExit.map((o) => o.servedBy)), context).toEqual(new Set([survivor.name]));
    expect(afterExit.every((o) => o.status === 200)).toBe(true);

    // The session is intact: the user is still signed in through the proxy.
    const user = await http(`${stack.origin}/bff/user`);
    expect(user.status).toBe(200);

    // Second half of the rolling restart: the instance comes back, the proxy's health check puts
    // it back in rotation, and it serves the same session.
    await victim.restart();
    const again = steadyTraffic(stack.origin, cookie);
    await expect
      .poll(() => served(victim.name, again.outcomes), { timeout: 20_000 })
      .toBeGreaterThan(0);
    await again.stop();
    expect(
      again.outcomes.filter((o) => o.status !== 200),
      JSON.stringify(again.outcomes.filter((o) => o.status !== 200)),
    ).toEqual([]);
  }, 60_000);

  it('loses no session and no idempotent request when an instance crashes mid-traffic', async () => {
    for (const instance of stack.instances) {
      if (!instance.process.running()) await instance.restart();
    }
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
    const cookie = (await http.jar.getCookieString(stack.origin)) ?? '';
    const [survivor, victim] = stack.instances;
    if (!victim || !survivor) throw new Error('two instances expected');

    const traffic = steadyTraffic(stack.origin, cookie);
    const served = (name: string) =>
      traffic.outcomes.filter((o) => o.servedBy === name && o.status === 200).length;
    await expect
      .poll(() => Math.min(served(victim.name), served(survivor.name)), { timeout: 20_000 })
      .toBeGreaterThanOrEqual(10);

    const exit = await victim.process.stop('SIGKILL');
    const killedAt = Date.now();
    await expect
      .poll(() => traffic.outcomes.filter((o) => o.startedAt > killedAt).length, {
        timeout: 20_000,
      })
      .toBeGreaterThanOrEqual(30);
    await traffic.stop();
    const failures = traffic.outcomes.filter((o) => o.status !== 200);
    const context = JSON.stringify({ failures, events: stack.haproxy.events() }, null, 2);

    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    // Every request here is a GET: HAProxy resends those the crash cut before any answer
    // (`retry-on empty-response`) and sends refused ones to the survivor (`conn-failure`), so
    // not one fails, and nobody is signed out.
    expect(failures, context).toEqual([]);
    const afterCrash = traffic.outcomes.filter((o) => o.startedAt > killedAt);
    expect(new Set(afterCrash.map((o) => o.servedBy)), context).toEqual(new Set([survivor.name]));
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);

    await victim.restart();
  }, 60_000);
});
