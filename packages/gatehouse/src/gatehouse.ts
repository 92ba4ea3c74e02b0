import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import type { Express } from 'express';
import type { CustomFetch } from 'openid-client';
import type { GatehouseConfig } from './config/schema.ts';
import type { GatehouseContext } from './context.ts';
import { createApp } from './http/app.ts';
import { cookieNames } from './http/cookies.ts';
import { createLogger } from './observability/logger.ts';
import { OutageLog } from './observability/outages.ts';
import { ProviderClients } from './oidc/provider-clients.ts';
import { BackchannelLogout } from './oidc/backchannel.ts';
import { TokenRefresher } from './oidc/refresh.ts';
import {
  MemoryKeyValueStore,
  RedisKeyValueStore,
  withKeyValueErrors,
  type KeyValueStore,
} from './session/kv.ts';
import { SessionService } from './session/service.ts';
import {
  MemorySessionStore,
  createRedisSessionStore,
  withStoreErrors,
  type Clock,
} from './session/stores.ts';
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

export interface Gatehouse {
  app: Express;
  context: GatehouseContext;
  /** The Redis client in use, if any. */
  redis: RedisClient | undefined;
  /**
   * Listens on `port` (0 = any free port) with keep-alive timeouts longer than a load
   * balancer's or a client's idle timeout (65 s / 66 s), so a reused connection is never closed
   * by Gatehouse at the moment a request arrives on it.
   */
  listen(port: number, host?: string): Promise<Server>;
  close(): Promise<void>;
}

/** Longer than the idle timeouts of common load balancers (60 s) and of undici/browsers. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

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
  const upstreams = new Agent({ connections: 128, keepAliveTimeout: 10_000 });
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
    signingKeys,
    downstreamTokens: new DownstreamTokenMinter({ keys: signingKeys, issuer: publicOrigin, clock }),
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
    listen(port, host) {
      return new Promise((resolve, reject) => {
        const server = createServer(app);
        server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
        server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server);
        });
      });
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
