import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './ports.ts';

const run = promisify(execFile);

/**
 * A Redis deployment started for a test: how Gatehouse reaches it (`env`), a fresh client for
 * the test itself, and a way to stop every process and remove every file of it.
 */
export interface RedisTopology {
  kind: 'standalone' | 'sentinel' | 'cluster';
  /** The environment variables that point Gatehouse at it. */
  env: Record<string, string>;
  /** A new client for the data (the caller closes it). */
  client(): Redis | Cluster;
  stop(): Promise<void>;
}

export interface SentinelTopology extends RedisTopology {
  kind: 'sentinel';
  masterName: string;
  /** The port of the current master, as the Sentinels see it. */
  masterPort(): Promise<number>;
  /** Waits until the replica has every write the master has acknowledged so far. */
  waitForReplication(): Promise<void>;
  /** SIGKILLs the current master (no shutdown, no goodbye: a crash). */
  killMaster(): Promise<number>;
  /** Resolves once the Sentinels name a master other than `oldPort` and it answers as master. */
  waitForFailover(oldPort: number, timeoutMs?: number): Promise<number>;
}

export interface ClusterTopology extends RedisTopology {
  kind: 'cluster';
  /** Every node's port, masters first (as started; roles change with failovers). */
  nodePorts: number[];
  /** The port of the master serving `key`'s slot. */
  masterPortFor(key: string): Promise<number>;
  /** Waits until every replica has every write its master has acknowledged so far. */
  waitForReplication(): Promise<void>;
  /** SIGKILLs the master on `port`. */
  killNode(port: number): Promise<void>;
  /** Resolves once `key`'s slot is served by a master other than `oldPort` and the Cluster is ok. */
  waitForFailover(key: string, oldPort: number, timeoutMs?: number): Promise<number>;
}

/** How long a master may be silent before it is failed over: low for tests, yet above a GC or
 * scheduling stall on a loaded two-core machine (a spurious failover would fail other tests). */
const NODE_TIMEOUT_MS = 2000;

interface Process {
  port: number;
  pidfile: string;
}

/** Common flags: loopback, no persistence, daemonised with a pidfile, fast diskless sync. */
function serverArgs(port: number, dir: string, name: string): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'yes',
    '--pidfile',
    join(dir, `${name}.pid`),
    '--dir',
    dir,
    '--logfile',
    join(dir, `${name}.log`),
    // The default waits 5 s before a full sync to a new replica; tests cannot afford that.
    '--repl-diskless-sync',
    'yes',
    '--repl-diskless-sync-delay',
    '0',
  ];
}

async function startProcess(args: string[], port: number, pidfile: string): Promise<Process> {
  await run('redis-server', args);
  const probe = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await waitFor(async () => {
      if (probe.status !== 'ready') await probe.connect().catch(() => undefined);
      return (await probe.ping()) === 'PONG';
    });
  } finally {
    probe.disconnect();
  }
  return { port, pidfile };
}

async function pidOf(process: Process): Promise<number> {
  return Number((await readFile(process.pidfile, 'utf8').catch(() => '')).trim());
}

async function kill(target: Process, signal: NodeJS.Signals): Promise<void> {
  const pid = await pidOf(target);
  if (!(pid > 0)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return; // already gone
  }
  await waitFor(async () => !isAlive(pid)).catch(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  });
}

async function stopAll(processes: Process[], dir: string, clients: Redis[]): Promise<void> {
  for (const client of clients) client.disconnect();
  // The data is thrown away: no need to wait for replicas to catch up on a graceful shutdown.
  await Promise.all(processes.map((p) => kill(p, 'SIGKILL')));
  await rm(dir, { recursive: true, force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const admin = (port: number) => {
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  return client;
};

/** `field:value` lines of an INFO section. */
function infoFields(info: string): Map<string, string> {
  return new Map(
    info
      .split(/\r?\n/)
      .filter((line) => line.includes(':'))
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]),
  );
}

/** Until the replica on `replica` has reached the master's replication offset read now. */
async function replicaCaughtUp(master: Redis, replica: Redis): Promise<void> {
  const target = Number(infoFields(await master.info('replication')).get('master_repl_offset'));
  await waitFor(async () => {
    const fields = infoFields(await replica.info('replication'));
    return (
      fields.get('master_link_status') === 'up' && Number(fields.get('slave_repl_offset')) >= target
    );
  });
}

/**
 * Starts a Sentinel group on free ports: one master, one replica and three Sentinels (quorum 2)
 * that fail the master over after 2 s of silence. Needs `redis-server` (Sentinel mode included).
 */
export async function startRedisSentinel(): Promise<SentinelTopology> {
  const masterName = 'gatehouse';
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-sentinel-'));
  const [masterPort, replicaPort, ...sentinelPorts] = await Promise.all(
    Array.from({ length: 5 }, () => freePort()),
  );
  const data = [
    { name: 'master', port: masterPort ?? 0, extra: [] as string[] },
    {
      name: 'replica',
      port: replicaPort ?? 0,
      extra: ['--replicaof', '127.0.0.1', String(masterPort)],
    },
  ];
  // Known before they start, so that a failed start-up still stops whatever did start.
  const sentinels = sentinelPorts.map((port, index) => ({
    port,
    pidfile: join(dir, `sentinel-${index}.pid`),
  }));
  const processes: Process[] = [
    ...data.map(({ name, port }) => ({ port, pidfile: join(dir, `${name}.pid`) })),
    ...sentinels,
  ];
  const clients: Redis[] = [];
  try {
    await Promise.all(
      data.map(({ name, port, extra }) =>
        startProcess([...serverArgs(port, dir, name), ...extra], port, join(dir, `${name}.pid`)),
      ),
    );
    await Promise.all(
      sentinels.map(async ({ port, pidfile }, index) => {
        const file = join(dir, `sentinel-${index}.conf`);
        // Sentinel rewrites its config file (it records what it learns), so one file each.
        await writeFile(
          file,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            'daemonize yes',
            `pidfile ${pidfile}`,
            `logfile ${join(dir, `sentinel-${index}.log`)}`,
            `dir ${dir}`,
            `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
            `sentinel down-after-milliseconds ${masterName} ${NODE_TIMEOUT_MS}`,
            `sentinel failover-timeout ${masterName} 10000`,
            `sentinel parallel-syncs ${masterName} 1`,
            '',
          ].join('\n'),
        );
        await run('redis-server', [file, '--sentinel']);
      }),
    );
    const sentinelClients = sentinels.map(({ port }) => admin(port));
    clients.push(...sentinelClients);
    // Ready for a failover: every Sentinel knows the replica and the two other Sentinels.
    await waitFor(async () => {
      for (const sentinel of sentinelClients) {
        const [state] = (await sentinel.call('SENTINEL', 'MASTERS')) as string[][];
        const fields = new Map<string, string>();
        for (let i = 0; i + 1 < (state?.length ?? 0); i += 2) {
          fields.set(state?.[i] ?? '', state?.[i + 1] ?? '');
        }
        if (fields.get('num-slaves') !== '1' || fields.get('num-other-sentinels') !== '2') {
          return false;
        }
      }
      return true;
    }, 20_000);
    const master = admin(masterPort ?? 0);
    const replica = admin(replicaPort ?? 0);
    clients.push(master, replica);
    await replicaCaughtUp(master, replica);
  } catch (error) {
    await stopAll(processes, dir, clients);
    throw error;
  }

  const sentinelAddresses = sentinelPorts.map((port) => `127.0.0.1:${port}`);
  const currentMasterPort = async () => {
    const [, port] = (await clients[0]!.call(
      'SENTINEL',
      'GET-MASTER-ADDR-BY-NAME',
      masterName,
    )) as [string, string];
    return Number(port);
  };
  const byPort = (port: number) => processes.find((p) => p.port === port);

  return {
    kind: 'sentinel',
    masterName,
    env: { REDIS_SENTINELS: sentinelAddresses.join(','), REDIS_SENTINEL_MASTER: masterName },
    client: () =>
      new Redis({
        sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
        name: masterName,
        maxRetriesPerRequest: 1,
      }),
    masterPort: currentMasterPort,
    async waitForReplication() {
      const masterPort = await currentMasterPort();
      const replicaPort = data.map((d) => d.port).find((port) => port !== masterPort) ?? 0;
      const master = admin(masterPort);
      const replica = admin(replicaPort);
      try {
        await replicaCaughtUp(master, replica);
      } finally {
        master.disconnect();
        replica.disconnect();
      }
    },
    async killMaster() {
      const port = await currentMasterPort();
      const target = byPort(port);
      if (!target) throw new Error(`no process on master port ${port}`);
      await kill(target, 'SIGKILL');
      return port;
    },
    async waitForFailover(oldPort, timeoutMs = 30_000) {
      let promoted = 0;
      await waitFor(async () => {
        promoted = await currentMasterPort();
        if (promoted === oldPort) return false;
        const client = admin(promoted);
        try {
          return infoFields(await client.info('replication')).get('role') === 'master';
        } finally {
          client.disconnect();
        }
      }, timeoutMs);
      return promoted;
    },
    stop: () => stopAll(processes, dir, clients),
  };
}

/**
 * Starts a six-node Cluster on free ports (three masters, a replica each), set up by hand as
 * `redis-cli --cluster create` would: config epochs, slots, MEET, REPLICATE. A master silent for
 * 2 s is failed over to its replica; the rest of the Cluster keeps serving its own slots.
 */
export async function startRedisCluster(): Promise<ClusterTopology> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-cluster-'));
  const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  // Each node's cluster bus on a picked port too (Redis's default, port + 10000, may be taken).
  const busPorts = await Promise.all(ports.map(() => freePort()));
  // Known before they start, so that a failed start-up still stops whatever did start.
  const processes: Process[] = ports.map((port) => ({
    port,
    pidfile: join(dir, String(port), 'redis.pid'),
  }));
  const clients: Redis[] = [];
  try {
    await Promise.all(
      ports.map(async (port, index) => {
        const nodeDir = join(dir, String(port));
        await mkdir(nodeDir);
        return startProcess(
          [
            ...serverArgs(port, nodeDir, 'redis'),
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(busPorts[index]),
            '--cluster-config-file',
            join(nodeDir, 'nodes.conf'),
            '--cluster-node-timeout',
            String(NODE_TIMEOUT_MS),
            // A replica may always take over (its data is as fresh as replication made it).
            '--cluster-replica-validity-factor',
            '0',
            // The other masters keep serving while one slot range is being failed over.
            '--cluster-require-full-coverage',
            'no',
          ],
          port,
          join(nodeDir, 'redis.pid'),
        );
      }),
    );
    const nodes = ports.map(admin);
    clients.push(...nodes);
    const masters = nodes.slice(0, 3);
    const replicas = nodes.slice(3);
    const ranges = [
      [0, 5460],
      [5461, 10922],
      [10923, 16383],
    ] as const;
    const ids = await Promise.all(
      nodes.map((node) => node.call('CLUSTER', 'MYID') as Promise<string>),
    );
    await Promise.all(
      masters.map(async (master, index) => {
        await master.call('CLUSTER', 'SET-CONFIG-EPOCH', index + 1);
        const [from, to] = ranges[index] ?? [0, 0];
        await master.call('CLUSTER', 'ADDSLOTSRANGE', from, to);
      }),
    );
    await Promise.all(
      ports
        .slice(1)
        .map((port, index) =>
          nodes[0]!.call('CLUSTER', 'MEET', '127.0.0.1', port, busPorts[index + 1]!),
        ),
    );
    // A replica can only follow a master it already knows of.
    await waitFor(async () => {
      for (const node of nodes) {
        const known = ((await node.call('CLUSTER', 'NODES')) as string).trim().split('\n');
        if (known.length < 6 || known.some((line) => line.includes('handshake'))) return false;
      }
      return true;
    }, 20_000);
    await Promise.all(
      replicas.map((replica, index) => replica.call('CLUSTER', 'REPLICATE', ids[index] ?? '')),
    );
    await waitFor(async () => {
      for (const node of nodes) {
        if (
          infoFields((await node.call('CLUSTER', 'INFO')) as string).get('cluster_state') !== 'ok'
        ) {
          return false;
        }
      }
      for (const replica of replicas) {
        if (infoFields(await replica.info('replication')).get('master_link_status') !== 'up') {
          return false;
        }
      }
      return true;
    }, 20_000);
  } catch (error) {
    await stopAll(processes, dir, clients);
    throw error;
  }

  const seeds = ports.slice(0, 3).map((port) => `127.0.0.1:${port}`);
  const clusterClient = () =>
    new Cluster(
      seeds.map((seed) => ({ host: '127.0.0.1', port: Number(seed.split(':')[1]) })),
      { redisOptions: { maxRetriesPerRequest: 1 } },
    );
  const alive = async () => {
    const live: Redis[] = [];
    for (const [index, process] of processes.entries()) {
      if (isAlive(await pidOf(process))) live.push(clients[index]!);
    }
    return live;
  };
  /** Master port per slot as a live node sees it. */
  const masterPortFor = async (key: string) => {
    const [node] = await alive();
    if (!node) throw new Error('no live Cluster node');
    const slot = (await node.call('CLUSTER', 'KEYSLOT', key)) as number;
    const slots = (await node.call('CLUSTER', 'SLOTS')) as Array<
      [number, number, [string, number]]
    >;
    const range = slots.find(([from, to]) => slot >= from && slot <= to);
    if (!range) throw new Error(`slot ${slot} is not served`);
    return range[2][1];
  };

  return {
    kind: 'cluster',
    env: { REDIS_CLUSTER_NODES: seeds.join(',') },
    nodePorts: ports,
    client: clusterClient,
    masterPortFor,
    async waitForReplication() {
      for (const node of await alive()) {
        const fields = infoFields(await node.info('replication'));
        if (fields.get('role') !== 'slave') continue;
        const master = admin(Number(fields.get('master_port')));
        try {
          await replicaCaughtUp(master, node);
        } finally {
          master.disconnect();
        }
      }
    },
    async killNode(port) {
      const target = processes.find((p) => p.port === port);
      if (!target) throw new Error(`no Cluster node on port ${port}`);
      await kill(target, 'SIGKILL');
    },
    async waitForFailover(key, oldPort, timeoutMs = 30_000) {
      let promoted = 0;
      await waitFor(async () => {
        promoted = await masterPortFor(key);
        if (promoted === oldPort) return false;
        for (const node of await alive()) {
          const info = infoFields((await node.call('CLUSTER', 'INFO')) as string);
          if (info.get('cluster_state') !== 'ok') return false;
        }
        return true;
      }, timeoutMs);
      return promoted;
    },
    stop: () => stopAll(processes, dir, clients),
  };
}
