import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  inspectSession,
  signIn,
  startRedisCluster,
  startRedisSentinel,
  startStack,
  type ClusterTopology,
  type CookieFetch,
  type SentinelTopology,
  type Stack,
} from '@gatehouse/testkit';
import { gatehouseInternals } from '@gatehouse/core/testing';

/**
 * Gatehouse on the distributed topologies, each a real set of redis-server processes: two
 * instances share a Sentinel group (master, replica, three Sentinels) or a six-node Cluster.
 * On each: a whole sign-in, API call and logout; one refresh for a stampede across both
 * instances; and a master killed under load, which costs 503s during the election and nothing
 * else — no 401, no session lost.
 */
const csrf = { 'x-csrf': '1' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Failover {
  /** Kills the master holding (most of) these sessions; returns what to wait for. */
  kill(sids: string[]): Promise<() => Promise<void>>;
}

const topologies: Array<
  [string, () => Promise<{ topology: SentinelTopology | ClusterTopology; failover: Failover }>]
> = [
  [
    'sentinel',
    async () => {
      const topology = await startRedisSentinel();
      return {
        topology,
        failover: {
          async kill() {
            await topology.waitForReplication();
            const old = await topology.killMaster();
            return async () => void (await topology.waitForFailover(old));
          },
        },
      };
    },
  ],
  [
    'cluster',
    async () => {
      const topology = await startRedisCluster();
      return {
        topology,
        failover: {
          async kill(sids) {
            // The master serving the most of these sessions' slots.
            const ports = await Promise.all(
              sids.map((sid) => topology.masterPortFor(`gh:sess:${sid}`)),
            );
            const counts = new Map<number, number>();
            for (const port of ports) counts.set(port, (counts.get(port) ?? 0) + 1);
            const [victim] = [...counts].sort((a, b) => b[1] - a[1])[0] ?? [0];
            const key = `gh:sess:${sids[ports.indexOf(victim)] ?? ''}`;
            await topology.waitForReplication();
            await topology.killNode(victim);
            return async () => void (await topology.waitForFailover(key, victim));
          },
        },
      };
    },
  ],
];

describe.each(topologies)('Gatehouse on a Redis %s', (_name, start) => {
  let stack: Stack;
  let topology: SentinelTopology | ClusterTopology;
  let failover: Failover;
  let offsetMs = 0;
  const clock = () => Date.now() + offsetMs;

  beforeAll(async () => {
    ({ topology, failover } = await start());
    stack = await startStack({
      redis: topology,
      instances: 2,
      devIdp: { controlApi: true, accessTokenTtlSeconds: 300 },
      deps: { clock, lockLeaseMs: 300 },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await topology?.stop();
  });

  const instance = (i: number) => stack.gatehouses[i % 2]!.origin;
  const refreshCalls = () => stack.idp.tokenEndpointCallsByGrantType('')['refresh_token'] ?? 0;

  async function signedIn(login = 'alice'): Promise<CookieFetch> {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login, password: login });
    return http;
  }

  it('signs in, calls the API through the other instance and signs out everywhere', async () => {
    const http = await signedIn('bob');
    const me = await http(`${instance(1)}/api/demo/me`, { headers: csrf });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { sub?: string }).sub).toBe('bob');
    const user = await http(`${instance(1)}/bff/user`);
    expect(user.status).toBe(200);
    const logout = await http(`${instance(0)}/bff/logout`, { method: 'POST', headers: csrf });
    expect(logout.status).toBe(303);
    for (const i of [0, 1]) {
      expect((await http(`${instance(i)}/bff/user`)).status).toBe(401);
      expect((await http(`${instance(i)}/api/demo/me`, { headers: csrf })).status).toBe(401);
    }
  });

  it('refreshes an expired access token exactly once for 50 concurrent calls on two instances', async () => {
    const http = await signedIn();
    const before = refreshCalls();
    offsetMs = 301_000; // the access token (300 s) has expired for Gatehouse
    try {
      const statuses = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const res = await http(`${instance(i)}/api/demo/me`, { headers: csrf });
          await res.arrayBuffer();
          return res.status;
        }),
      );
      expect(statuses).toEqual(Array(50).fill(200));
      expect(refreshCalls() - before).toBe(1);
    } finally {
      offsetMs = 0;
    }
  });

  it('a killed master costs 503s during the election only: no 401, no session lost', async () => {
    const sessions = await Promise.all(Array.from({ length: 8 }, () => signedIn()));
    const sids = await Promise.all(
      sessions.map(async (http) => (await inspectSession(stack, http)).sid),
    );

    const statuses = new Map<number, number>();
    const lastOk = sessions.map(() => 0);
    let running = true;
    /** Each session's last answer (status and problem body), for the failure message. */
    const lastAnswer: string[] = [];
    const load = Promise.all(
      sessions.map(async (http, s) => {
        for (let i = 0; running; i += 1) {
          const res = await http(`${instance(s + i)}/api/demo/me`, { headers: csrf });
          const body = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 200) lastOk[s] = Date.now();
          lastAnswer[s] = res.status === 200 ? '200' : `${res.status} ${body.slice(0, 200)}`;
          await sleep(25);
        }
      }),
    );
    try {
      await sleep(300);
      const elected = await failover.kill(sids);
      await elected();
      // Service resumes: every session answers 200 again after the new master took over.
      const resumedAfter = Date.now();
      const deadline = resumedAfter + 20_000;
      while (lastOk.some((at) => at < resumedAfter) && Date.now() < deadline) await sleep(100);
      expect(
        lastOk.every((at) => at >= resumedAfter),
        `last answers: ${lastAnswer.join(' | ')}`,
      ).toBe(true);
    } finally {
      running = false;
      await load;
    }
    expect([...statuses.keys()].filter((status) => status !== 200 && status !== 503)).toEqual([]);
    expect(statuses.get(200)).toBeGreaterThan(0);
    expect(statuses.get(503)).toBeGreaterThan(0); // the dead master was noticed, not hidden

    // Every session is still there on both instances. A `/bff` read may still meet the tail of
    // the failover (a 503 while that instance's connection settles, never a 401): polled.
    for (const [s, http] of sessions.entries()) {
      for (const i of [0, 1]) {
        await expect
          .poll(async () => (await http(`${instance(i)}/bff/user?slide=false`)).status, {
            message: `session ${s} on instance ${i}`,
            timeout: 10_000,
            interval: 250,
          })
          .not.toBe(503);
        const user = await http(`${instance(i)}/bff/user?slide=false`);
        expect(user.status, `session ${s} on instance ${i}`).toBe(200);
      }
    }

    // The registry's change notifications still reach the other instance: its cached view,
    // read now, is replaced as soon as the first instance announces a new tenant.
    const [first, second] = stack.gatehouses.map(
      ({ gatehouse }) => gatehouseInternals(gatehouse).registry,
    );
    expect((await second!.tenants()).map((tenant) => tenant.id)).not.toContain('after-failover');
    await first!.createTenant({
      id: 'after-failover',
      name: 'After the failover',
      emailDomains: [],
      hosts: [],
      adminRule: { claim: 'roles', value: 'gatehouse-admin' },
    });
    await expect
      .poll(async () => (await second!.tenant('after-failover'))?.id, { timeout: 10_000 })
      .toBe('after-failover');
  }, 90_000);
});
