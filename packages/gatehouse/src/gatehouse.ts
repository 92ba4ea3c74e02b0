import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Express } from 'express';
import type { CustomFetch } from 'openid-client';
import type { Clock } from './clock.ts';
import type { GatehouseConfig } from './config/schema.ts';
import type { GatehouseContext } from './context.ts';
import { createApp } from './http/app.ts';
import { ConnectionDrain, type DrainResult } from './http/drain.ts';
import { createLogger } from './observability/logger.ts';
import { OutageLog } from './observability/outages.ts';
import { ProviderClients } from './oidc/provider-clients.ts';
import { BackchannelLogout } from './oidc/backchannel.ts';
import { TokenRefresher } from './oidc/refresh.ts';
import { UpstreamPools } from './proxy/upstream-pools.ts';
import {
  MemoryKeyValueStore,
  RedisKeyValueStore,
  withKeyValueErrors,
  type KeyValueStore,
} from './session/kv.ts';
import { cookieNames } from './session/cookie-names.ts';
import { SessionService } from './session/service.ts';
import { SessionTestControls } from './session/test-controls.ts';
import { MemorySessionStore, createRedisSessionStore, withStoreErrors } from './session/stores.ts';
import { Vault } from './session/vault.ts';
import {
  closeRedis,
  createRedisClient,
  describeRedis,
  logRedisConnection,
  type RedisClient,
} from './session/redis-connection.ts';
import { createGuardedFetch } from './tenants/guarded-fetch.ts';
import { createProviderChecker } from './tenants/provider-checks.ts';
import { RedisRegistryStore } from './tenants/redis-registry-store.ts';
import { TenantRegistry } from './tenants/registry.ts';
import { MemoryRegistryStore } from './tenants/registry-store.ts';
import { DownstreamTokenMinter } from './tokens/downstream-tokens.ts';
import { SigningKeyRing } from './tokens/key-ring.ts';

export interface GatehouseDeps {
  logger?: Logger;
  /** An existing ioredis client or Cluster; otherwise one is created from `config.redis`. */
  redis?: RedisClient;
  clock?: Clock;
  /** Replaces the guarded fetch for provider traffic (tests of the guard itself only). */
  providerFetch?: CustomFetch;
  /** Lease of the per-session lock (refresh, slide); renewed while held. Default 5000 ms. */
  lockLeaseMs?: number;
}

/** Limits on slow clients; the defaults are documented in the README. */
export interface ListenOptions {
  /** Time a client has to send a request's headers (default 30 s); 408 past it. */
  headersTimeoutMs?: number;
  /** Time a client has to send a whole request, body included (default 10 min); 408 past it. */
  requestTimeoutMs?: number;
  /** How often those two limits are checked (default 5 s). */
  checkIntervalMs?: number;
}

export interface Gatehouse {
  app: Express;
  context: GatehouseContext;
  /** The Redis client in use, if any. */
  redis: RedisClient | undefined;
  /**
   * Listens on `port` (0 = any free port) with a keep-alive timeout longer than a load
   * balancer's or a client's idle timeout (65 s), so a reused connection is never closed by
   * Gatehouse at the moment a request arrives on it, and with limits on slow clients.
   */
  listen(port: number, host?: string, options?: ListenOptions): Promise<Server>;
  /**
   * Graceful shutdown of `server`: stop accepting, `/readyz` 503, `Connection: close` on every
   * answer, idle keep-alive connections closed, event streams ended; resolves when every
   * connection is closed, destroying what is left after `graceMs`. Then call {@link close}.
   */
  drain(server: Server, graceMs: number): Promise<DrainResult>;
  close(): Promise<void>;
}

/** Longer than the idle timeouts of common load balancers (60 s) and of undici/browsers. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** Real clients send headers in milliseconds; a slow trickle of them is an attack. */
const HEADERS_TIMEOUT_MS = 30_000;
/**
 * The whole request, body included (only until it is received: a long answer such as an event
 * stream is not limited). Room for large uploads over slow links; a stalled one ends here.
 */
const REQUEST_TIMEOUT_MS = 600_000;
const CONNECTIONS_CHECK_INTERVAL_MS = 5_000;

/**
 * Builds one isolated Gatehouse instance from a validated config: stores (Redis when
 * `config.redis` names a topology, memory otherwise), provider clients, the refresher and the
 * Express app. Nothing listens until the caller does `app.listen`.
 *
 * @example
 * const { config } = loadConfig({ env: process.env });
 * const gatehouse = createGatehouse(config);
 * await gatehouse.listen(config.port);
 */
export function createGatehouse(config: GatehouseConfig, deps: GatehouseDeps = {}): Gatehouse {
  const logger = deps.logger ?? createLogger(config.logLevel);
  const clock = deps.clock ?? Date.now;
  const ownsRedis = !deps.redis && Boolean(config.redis);
  const redis = deps.redis ?? (config.redis ? createRedisClient(config.redis) : undefined);
  // One line when Redis stops answering (a lost connection or failing commands) and one when it
  // answers again, not one per reconnect attempt or per failed request.
  const redisHealth = redis
    ? logRedisConnection(redis, logger, config.redis ? describeRedis(config.redis) : 'Redis')
    : undefined;
  // The same for each IdP issuer.
  const outages = new OutageLog(logger);

  const storeOptions = { idleTimeoutSeconds: config.session.idleTimeoutSeconds, clock };
  const store = withStoreErrors(
    redis ? createRedisSessionStore(redis, storeOptions) : new MemorySessionStore(storeOptions),
    redisHealth,
  );
  const kv: KeyValueStore = withKeyValueErrors(
    redis ? new RedisKeyValueStore(redis) : new MemoryKeyValueStore({ clock }),
    redisHealth,
  );
  const guardedFetch = createGuardedFetch({
    mode: config.mode,
    allowedDevOrigins: [...config.devIdpOrigins],
  });
  const providerFetch = deps.providerFetch ?? guardedFetch;
  const vault = new Vault(config.encryptionKeys);
  const registry = new TenantRegistry({
    config,
    vault,
    clock,
    ...(redisHealth ? { health: redisHealth } : {}),
    store: redis
      ? new RedisRegistryStore(redis, {
          onError: (err) => logger.warn({ err }, 'registry subscriber error'),
        })
      : new MemoryRegistryStore(),
  });
  const providers = new ProviderClients({ config, fetch: providerFetch, registry, outages });
  const sessions = new SessionService({
    store,
    kv,
    clock,
    idleTimeoutSeconds: config.session.idleTimeoutSeconds,
    logger,
    ...(deps.lockLeaseMs ? { lockLeaseMs: deps.lockLeaseMs } : {}),
  });
  const upstreams = new UpstreamPools();
  const drain = new ConnectionDrain();
  const publicOrigin = new URL(config.publicUrl).origin;
  const signingKeys = new SigningKeyRing(config.signingKeys, clock);

  const context: GatehouseContext = {
    config,
    publicOrigin,
    logger,
    clock,
    vault,
    registry,
    providers,
    providerChecks: createProviderChecker({
      fetch: providerFetch,
      mode: config.mode,
      devIdpOrigins: config.devIdpOrigins,
    }),
    transactions: kv,
    sessions,
    refresher: new TokenRefresher({
      sessions,
      providers,
      vault,
      skewSeconds: config.refreshSkewSeconds,
      simulatedOutages: config.testControls,
    }),
    backchannel: new BackchannelLogout({
      providers,
      sessions,
      replay: kv,
      fetch: guardedFetch,
      outages,
    }),
    cookies: cookieNames(config.secureCookies),
    upstreams,
    drain,
    signingKeys,
    downstreamTokens: new DownstreamTokenMinter({ keys: signingKeys, issuer: publicOrigin, clock }),
    // loadConfig refuses testControls outside development mode; this is the second lock.
    ...(config.testControls && config.mode === 'development'
      ? { testControls: new SessionTestControls({ sessions, clock }) }
      : {}),
  };

  const app = createApp(context, {
    store,
    ping: async () => {
      if (!redis) return;
      try {
        await redis.ping();
      } catch (error) {
        redisHealth?.failed(error);
        throw error;
      }
      redisHealth?.answered();
    },
  });

  return {
    app,
    context,
    redis,
    listen(port, host, options = {}) {
      return new Promise((resolve, reject) => {
        const server = createServer(
          {
            headersTimeout: options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
            requestTimeout: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
            connectionsCheckingInterval: options.checkIntervalMs ?? CONNECTIONS_CHECK_INTERVAL_MS,
          },
          app,
        );
        server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server);
        });
      });
    },
    drain(server, graceMs) {
      return drain.drain(server, graceMs, logger);
    },
    async close() {
      redisHealth?.close();
      sessions.close();
      await upstreams.close();
      await guardedFetch.close();
      await registry.close();
      if (ownsRedis && redis) await closeRedis(redis);
    },
  };
}
