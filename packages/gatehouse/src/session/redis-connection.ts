import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { describe } from '../observability/outages.ts';
import type { StoreHealth } from './store-health.ts';

/**
 * Where Redis is: exactly one of `url`, `sentinels` (with `sentinelMaster`) or `clusterNodes`.
 * The config's `redis` field has this shape (validated there); the session layer needs only it.
 */
export interface RedisTopology {
  url?: string | undefined;
  sentinels?: readonly string[] | undefined;
  sentinelMaster?: string | undefined;
  sentinelPassword?: string | undefined;
  clusterNodes?: readonly string[] | undefined;
  username?: string | undefined;
  password?: string | undefined;
  tls?: boolean | undefined;
}

/**
 * Any of the three topologies: a standalone or Sentinel-managed server, or a Cluster (an
 * ioredis client). Give one to `createGatehouse` to share a connection; otherwise Gatehouse
 * opens its own from `config.redis`.
 *
 * @example
 * const redis: RedisClient = new Redis(process.env.REDIS_URL!);
 * const gatehouse = createGatehouse(config, { redis });
 */
export type RedisClient = Redis | Cluster;

/**
 * ioredis reconnect back-off, capped at 500 ms. A command issued while Redis is down waits for
 * the next reconnect attempt and no more (`maxRetriesPerRequest: 0`), so the cap bounds how long
 * a request takes to answer 503 during an outage; a blip shorter than that is ridden out.
 */
function redisRetryDelay(attempt: number): number {
  return Math.min(attempt * 50, 500);
}

/** What every data connection shares: fail a command fast instead of queueing it for long. */
const COMMAND_OPTIONS = {
  maxRetriesPerRequest: 0,
  connectTimeout: 2000,
  commandTimeout: 2000,
  // Commands issued in the same tick leave in one write (many concurrent session reads).
  enableAutoPipelining: true,
} satisfies RedisOptions;

/** `host:port` (IPv6 in brackets) as ioredis wants it. */
function hostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return {
    host: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
    port: Number(address.slice(colon + 1)),
  };
}

/**
 * Creates the ioredis client for the configured topology, all three with the same outage
 * behaviour: a command fails at the next failed reconnect attempt (≤ 500 ms) or after 2 s,
 * never later, so a request answers 503 instead of hanging.
 *
 * - standalone: `new Redis(url)`;
 * - Sentinel: `new Redis({ sentinels, name })`, which asks the Sentinels for the master on every
 *   (re)connection and drops the connection when they announce a failover;
 * - Cluster: `new Cluster(seeds)`. Its offline queue is off: while no node is reachable a
 *   command fails at once (a Cluster would otherwise queue it until the Cluster is back). While
 *   one master is lost, a command for its slots is retried for about 1.6 s (16 redirections,
 *   100 ms apart), then fails; once a replica has taken over, the slots are re-read and served.
 */
export function createRedisClient(config: RedisTopology): RedisClient {
  const credentials = {
    ...(config.username ? { username: config.username } : {}),
    ...(config.password ? { password: config.password } : {}),
    ...(config.tls ? { tls: {} } : {}),
  };
  if (config.clusterNodes) {
    return new Cluster(config.clusterNodes.map(hostPort), {
      redisOptions: { ...COMMAND_OPTIONS, ...credentials },
      clusterRetryStrategy: redisRetryDelay,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      slotsRefreshTimeout: 2000,
    });
  }
  if (config.sentinels) {
    return new Redis({
      ...COMMAND_OPTIONS,
      ...credentials,
      retryStrategy: redisRetryDelay,
      sentinels: config.sentinels.map(hostPort),
      name: config.sentinelMaster ?? '',
      ...(config.sentinelPassword ? { sentinelPassword: config.sentinelPassword } : {}),
      ...(config.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      sentinelRetryStrategy: redisRetryDelay,
      failoverDetector: true,
    });
  }
  return new Redis(config.url ?? '', { ...COMMAND_OPTIONS, retryStrategy: redisRetryDelay });
}

/** The topology in words for log lines, without credentials. */
export function describeRedis(config: RedisTopology): string {
  if (config.clusterNodes) return `Redis Cluster (seeds ${config.clusterNodes.join(', ')})`;
  if (config.sentinels) {
    return `Redis master "${config.sentinelMaster ?? ''}" via Sentinels ${config.sentinels.join(', ')}`;
  }
  const url = new URL(config.url ?? '');
  return `Redis at ${url.protocol}//${url.host}`;
}

/** What the stores tell about each command, and how the watch ends. */
export interface RedisHealth extends StoreHealth {
  close(): void;
}

/** How often a Redis that stopped answering on an open connection is probed (PING). */
const PROBE_INTERVAL_MS = 500;

/**
 * Logs the connection's state changes, one line each: unreachable (with the first reason), and
 * connected again. ioredis emits an error per reconnect attempt; those in between are not news,
 * so a Redis that cannot be reached at start-up is one readable line, not a flood. Failing
 * commands on a connection that stays open (a frozen or overloaded server, which never drops
 * the connection) count too: the stores report every outcome to the returned health, and a
 * Redis that stopped answering is probed until it answers again.
 */
export function logRedisConnection(
  client: RedisClient,
  logger: Logger,
  description: string,
): RedisHealth {
  let connected = false;
  let down = false;
  let closed = false;
  let probe: NodeJS.Timeout | undefined;

  const recover = () => {
    clearTimeout(probe);
    probe = undefined;
    if (down || !connected) logger.info({ redis: description }, 'Redis connected');
    connected = true;
    down = false;
  };
  const scheduleProbe = () => {
    probe = setTimeout(() => {
      client.ping().then(recover, () => {
        if (down && !closed) scheduleProbe();
      });
    }, PROBE_INTERVAL_MS);
    probe.unref();
  };
  const lostMessage = () =>
    connected ? 'Redis connection lost; reconnecting' : 'cannot reach Redis; retrying';
  const fail = (message: string, error: unknown) => {
    if (down || closed) return;
    down = true;
    logger.error({ redis: description, reason: describe(error) }, message);
    // A lost connection says when it is back ('ready'); an open one that stopped answering
    // does not.
    if (client.status === 'ready') scheduleProbe();
  };

  client.on('error', (error: Error) => fail(lostMessage(), error));
  client.on('ready', recover);
  return {
    answered: () => {
      if (down) recover();
    },
    failed: (error) =>
      fail(client.status === 'ready' ? 'Redis is not answering' : lostMessage(), error),
    close: () => {
      closed = true;
      clearTimeout(probe);
    },
  };
}

export interface ChannelSubscription {
  close(): Promise<void>;
}

export interface ChannelHandlers {
  /** The subscription is (again) in effect; messages published meanwhile were missed. */
  onSubscribed: () => void;
  onMessage: () => void;
  onError: (error: unknown) => void;
}

/**
 * Subscribes to one pub/sub channel on a connection of its own and says each time the
 * subscription takes effect, so that the caller can catch up on what it missed while
 * disconnected. A standalone or Sentinel client is duplicated (the duplicate finds the current
 * master on every reconnection); on a Cluster, where a PUBLISH reaches every node, any node will
 * do: the subscriber picks the next known node whenever its own goes away.
 */
export function subscribeChannel(
  client: RedisClient,
  channel: string,
  handlers: ChannelHandlers,
): ChannelSubscription {
  let closed = false;
  let current: Redis | undefined;
  let retry: NodeJS.Timeout | undefined;
  let attempt = 0;

  // One report per failure, and none while the client itself is down (that is reported once
  // where the client is watched): an error per reconnect attempt would flood the log.
  let failing = false;
  const onError = (error: unknown) => {
    if (failing || client.status !== 'ready') return;
    failing = true;
    handlers.onError(error);
  };

  const listen = (subscriber: Redis) => {
    current = subscriber;
    subscriber.on('error', onError);
    subscriber.on('ready', () => {
      subscriber.subscribe(channel).then(() => {
        attempt = 0;
        failing = false;
        handlers.onSubscribed();
      }, onError);
    });
    subscriber.on('message', (from: string) => {
      if (from === channel) handlers.onMessage();
    });
  };

  const connectToClusterNode = (cluster: Cluster) => {
    retry = undefined;
    if (closed) return;
    const nodes = cluster.nodes('all');
    const node = nodes[attempt % Math.max(1, nodes.length)];
    attempt += 1;
    if (!node) {
      retry = setTimeout(() => connectToClusterNode(cluster), redisRetryDelay(attempt));
      return;
    }
    const subscriber = node.duplicate({
      autoResubscribe: false,
      lazyConnect: false,
      readOnly: false,
      retryStrategy: () => null,
    });
    listen(subscriber);
    subscriber.once('end', () => {
      if (!closed)
        retry = setTimeout(() => connectToClusterNode(cluster), redisRetryDelay(attempt));
    });
  };

  if (client instanceof Cluster) {
    if (client.status === 'ready') connectToClusterNode(client);
    else client.once('ready', () => connectToClusterNode(client));
  } else {
    // Our own resubscription on every `ready`, so that we know when it is in effect.
    listen(client.duplicate({ autoResubscribe: false }));
  }

  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      if (current) await closeRedis(current);
    },
  };
}

/**
 * Closes an ioredis connection or Cluster without hanging: QUIT when it is connected (pending
 * replies arrive first), a hard disconnect when it is not — a QUIT queued while Redis is down
 * would wait for a reconnect that may never come — or when QUIT takes longer than `timeoutMs`.
 */
export async function closeRedis(redis: RedisClient, timeoutMs = 1000): Promise<void> {
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      redis.disconnect();
      resolve();
    }, timeoutMs);
  });
  await Promise.race([
    redis.quit().then(
      () => undefined,
      () => redis.disconnect(),
    ),
    timeout,
  ]);
  clearTimeout(timer);
}
