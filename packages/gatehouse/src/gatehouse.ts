/*
 * Over 300 lines on purpose: the composition root builds every part in one function, in
 * dependency order, so that which store, client and limit each part gets is read in one place.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Express } from 'express';
import type { CustomFetch } from 'openid-client';
import type { Clock } from './clock.ts';
import type { GatehouseConfig } from './config/schema.ts';
import type { GatehouseContext } from './context.ts';
import { adminRouter } from './admin/routes.ts';
import { createApp, serverListener, sessionMiddleware } from './http/app.ts';
import { registerInternals } from './internals.ts';
import { ConnectionDrain, type DrainResult } from './http/drain.ts';
import { createWebSocketProxy, type WebSocketProxy } from './http/websocket-upgrade.ts';
import { createLogger } from './observability/logger.ts';
import { OutageLog } from './observability/outages.ts';
import { NO_METRICS, PrometheusMetrics, type Metrics } from './observability/metrics.ts';
import { timedRegistryStore } from './tenants/timed-registry-store.ts';
import { listenMetrics, type MetricsSnapshot } from './observability/metrics-server.ts';
import { RateLimits } from './http/rate-limit.ts';
import { AuditLog } from './observability/audit.ts';
import { MemoryAuditStore, RedisAuditStore } from './observability/audit-stores.ts';
import { ProviderClients } from './oidc/provider-clients.ts';
import { ProviderWarmUp } from './oidc/provider-warm-up.ts';
import { BackchannelLogout } from './oidc/backchannel.ts';
import { TokenRefresher } from './oidc/refresh.ts';
import { UpstreamPools } from './proxy/upstream-pools.ts';
import { isWebSocketUpgrade } from './proxy/websocket-handshake.ts';
import {
  KEY_VALUE_OPERATIONS,
  MemoryKeyValueStore,
  RedisKeyValueStore,
  type KeyValueStore,
} from './session/kv.ts';
import { cookieNames } from './session/cookie-names.ts';
import { openClaims, sessionUser } from './session/model.ts';
import { SessionService } from './session/service.ts';
import { SessionTestControls } from './session/test-controls.ts';
import { SessionStore } from './session/session-store.ts';
import { withStoreErrors } from './session/store-errors.ts';
import { ExpressSessionStore } from './http/express-session-store.ts';
import { Vault } from './session/vault.ts';
import { KeyCheck, checkedKeys, type KeyCheckState } from './session/key-check.ts';
import { isMadeUpKey } from './config/made-up-keys.ts';
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
import { ClientKeys } from './tenants/client-keys.ts';
import { MemoryRegistryStore } from './tenants/registry-store.ts';
import { DownstreamTokenMinter } from './tokens/downstream-tokens.ts';
import { SigningKeyRing } from './tokens/key-ring.ts';

/**
 * What `createGatehouse` may be given instead of building it from the config; every field is
 * optional.
 *
 * @example
 * let now = Date.now();
 * const gatehouse = createGatehouse(config, { logger: createLogger('silent'), clock: () => now });
 */
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

/**
 * Limits on slow clients; the defaults are documented in the README.
 *
 * @example
 * await gatehouse.listen(3000, '0.0.0.0', { headersTimeoutMs: 10_000 });
 */
export interface ListenOptions {
  /** Time a client has to send a request's headers (default 30 s); 408 past it. */
  headersTimeoutMs?: number;
  /** Time a client has to send a whole request, body included (default 10 min); 408 past it. */
  requestTimeoutMs?: number;
  /** How often those two limits are checked (default 5 s). */
  checkIntervalMs?: number;
}

/**
 * One running Gatehouse: its Express app, and the server life cycle around it.
 *
 * @example
 * const gatehouse = createGatehouse(config);
 * const server = await gatehouse.listen(config.port, config.host);
 * process.once('SIGTERM', async () => {
 *   await gatehouse.drain(server, config.shutdownGraceSeconds * 1000);
 *   await gatehouse.close();
 * });
 */
export interface Gatehouse {
  /** The whole HTTP surface (`/bff`, `/api`, `/admin/api`, health); {@link listen} serves it. */
  app: Express;
  /** The Redis client in use, if any. */
  redis: RedisClient | undefined;
  /** Proxied WebSockets: how many are open, how many legs are paused by backpressure. */
  websockets: Pick<WebSocketProxy, 'stats'>;
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
  /**
   * Starts the Prometheus listener (`GET /metrics`) on `config.metrics` (`METRICS_PORT`,
   * `METRICS_HOST`), apart from the public one; undefined when metrics are off (port 0).
   * {@link close} stops it.
   */
  listenMetrics(): Promise<Server | undefined>;
  /**
   * This instance's metrics as data, for a cluster's primary to merge with the other workers'
   * (`listenMergedMetrics`); empty when metrics are off.
   */
  metricsSnapshot(): Promise<MetricsSnapshot>;
  /**
   * The start-up warm-up, begun by the first {@link listen}: each enabled provider's discovery
   * document and key set, fetched through the client its sign-ins use. Resolves when it is
   * done, or `providerWarmUpSeconds` after it began (until then `/readyz` answers 503
   * `starting`); never rejects (a provider that fails is logged and discovered at its first
   * sign-in).
   */
  warmedUp(): Promise<void>;
  /**
   * After an encryption key promotion: moves the dynamic providers' client secrets to the
   * current key; resolves with how many were re-sealed. Best effort (the next start tries again).
   */
  resealClientSecrets(): Promise<number>;
  /**
   * After an encryption key promotion: moves every provider's private_key_jwt signing keys to
   * the current key; resolves with how many were re-sealed. Best effort (the next start tries again).
   */
  resealClientKeys(): Promise<number>;
  /**
   * The key check (README, Key rotation), begun when the instance is created, with Redis only:
   * each configured encryption and signing kid's fingerprint is compared with the one the
   * instances sharing Redis stored. Resolves with the state after its first attempt (a few
   * milliseconds; at most about 2 s when Redis does not answer): `passed`, `mismatch` (logged
   * by kid: the caller should stop, the server exits 2) or `pending` (Redis does not answer; it
   * is tried again every second and `/readyz` answers 503 until it has passed). Never rejects.
   */
  checkKeys(): Promise<KeyCheckState>;
  /** Resolves once the key check has passed or found a mismatch. */
  keysChecked(): Promise<'passed' | 'mismatch'>;
  /** Closes the stores, pools and listeners this instance opened (call after {@link drain}). */
  close(): Promise<void>;
}

/** The session operations' labels in the store metrics (`store="session"`). */
const SESSION_OPERATIONS = {
  ...KEY_VALUE_OPERATIONS,
  get: 'get',
  put: 'set',
  putIfExists: 'set_if_exists',
  delete: 'destroy',
} as const;

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

  // One registry per instance; nothing at all when metrics are off.
  const metrics: Metrics =
    config.metrics.port > 0
      ? new PrometheusMetrics(config.routes.map((route) => route.prefix))
      : NO_METRICS;

  // One store port (Redis, or memory without it), decorated once per use: its failures are 503
  // `store_unavailable`, timed under `store="kv"` or, for the sessions, `store="session"`.
  const storePort = redis ? new RedisKeyValueStore(redis) : new MemoryKeyValueStore({ clock });
  const kv: KeyValueStore = withStoreErrors(storePort, {
    store: 'kv',
    operations: KEY_VALUE_OPERATIONS,
    health: redisHealth,
    metrics,
  });
  const sessionStore = new SessionStore(
    withStoreErrors(storePort, {
      store: 'session',
      operations: SESSION_OPERATIONS,
      health: redisHealth,
      metrics,
    }),
    { idleTimeoutMs: config.session.idleTimeoutSeconds * 1000, clock },
  );
  // express-session's view of the same sessions (`/bff`, the admin API, WebSocket upgrades).
  const store = new ExpressSessionStore(sessionStore);
  const guardedFetch = createGuardedFetch({
    mode: config.mode,
    allowedDevOrigins: [...config.devIdpOrigins],
  });
  const providerFetch = deps.providerFetch ?? guardedFetch;
  // Instances sharing Redis must mean the same bytes by each kid: the key check compares their
  // fingerprints there, and tells a value sealed under another key from a damaged one.
  const keyCheck = redis
    ? new KeyCheck({
        store: kv,
        // Not the keys development mode made up for this process: no other process has them.
        keys: checkedKeys(
          config.encryptionKeys.filter((key) => !isMadeUpKey(key)),
          config.signingKeys.filter((key) => !isMadeUpKey(key)),
        ),
        logger,
        onRequestMismatch: (kid) => metrics.encryptionKeyMismatch(kid),
      })
    : undefined;
  void keyCheck?.start();
  const vault = new Vault(
    config.encryptionKeys,
    keyCheck ? { onUnopened: (kid) => keyCheck.checkUnopened(kid) } : {},
  );
  const registryStore = timedRegistryStore(
    redis
      ? new RedisRegistryStore(redis, {
          onError: (err) => logger.warn({ err }, 'registry subscriber error'),
        })
      : new MemoryRegistryStore(),
    metrics,
  );
  const registry = new TenantRegistry({
    config,
    vault,
    clock,
    ...(redisHealth ? { health: redisHealth } : {}),
    store: registryStore,
  });
  const clientKeys = new ClientKeys({
    store: registryStore,
    vault,
    clock,
    activationDelayMs: config.clientKeys.activationDelaySeconds * 1000,
    overlapMs: config.clientKeys.overlapSeconds * 1000,
    ...(redisHealth ? { health: redisHealth } : {}),
  });
  const providers = new ProviderClients({
    config,
    fetch: providerFetch,
    registry,
    outages,
    metrics,
    clientKeys,
  });
  const warmUp = new ProviderWarmUp({
    registry,
    providers,
    logger,
    boundMs: config.providerWarmUpSeconds * 1000,
    // A sign-in's first sealing and opening (the key's import, the cipher's first use).
    firstUse: async () => vault.open(await vault.seal({ warmUp: true })),
  });
  const retention = {
    maxEvents: config.audit.maxEvents,
    maxAgeMs: config.audit.maxAgeDays * 86_400_000,
  };
  const audit = new AuditLog({
    logger,
    clock,
    store: redis
      ? new RedisAuditStore(redis, retention, { clock })
      : new MemoryAuditStore(retention, clock),
    isKnownTenant: async (tenant) => (await registry.tenant(tenant)) !== undefined,
  });
  const sessions = new SessionService({
    store: sessionStore,
    kv,
    clock,
    idleTimeoutSeconds: config.session.idleTimeoutSeconds,
    logger,
    ...(deps.lockLeaseMs ? { lockLeaseMs: deps.lockLeaseMs } : {}),
    onEnded: (record, ending) =>
      audit.record({
        tenant: record.tenant,
        actor: ending.by ?? { kind: 'system' },
        action: 'session.ended',
        target: `user:${sessionUser(record)}`,
        outcome: 'success',
        reason: ending.reason,
        requestId: ending.requestId,
        ip: ending.ip,
      }),
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
    clientKeys,
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
      metrics,
      simulatedOutages: config.testControls,
    }),
    backchannel: new BackchannelLogout({
      providers,
      sessions,
      replay: kv,
      fetch: guardedFetch,
      outages,
      metrics,
    }),
    cookies: cookieNames(config.secureCookies),
    upstreams,
    drain,
    signingKeys,
    downstreamTokens: new DownstreamTokenMinter({
      keys: signingKeys,
      issuer: publicOrigin,
      clock,
      openClaims: (session) => openClaims(vault, session),
    }),
    metrics,
    rateLimits: new RateLimits({
      config: config.rateLimits,
      routes: config.routes,
      redis,
      logger,
      metrics,
    }),
    audit,
    // loadConfig refuses testControls outside development mode; this is the second lock.
    ...(config.testControls && config.mode === 'development'
      ? { testControls: new SessionTestControls({ sessions, clock }) }
      : {}),
  };
  let metricsServer: Server | undefined;

  const app = createApp(context, {
    store,
    adminApi: adminRouter(context),
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
    starting: () => !warmUp.ready(),
    keyCheck: () => keyCheck?.state ?? 'passed',
  });

  // WebSocket routes: `Upgrade: websocket` requests, with the same session cookie and store.
  const websockets = createWebSocketProxy(context, {
    sessions: sessionMiddleware(context, store),
    trustProxy: app.get('trust proxy fn') as (address: string, hop: number) => boolean,
  });

  const gatehouse: Gatehouse = {
    app,
    redis,
    websockets,
    listen(port, host, options = {}) {
      return new Promise<Server>((resolve, reject) => {
        const server = createServer(
          {
            headersTimeout: options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
            requestTimeout: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
            connectionsCheckingInterval: options.checkIntervalMs ?? CONNECTIONS_CHECK_INTERVAL_MS,
            // Any other upgrade (such as h2c) is served as the plain request it also is.
            shouldUpgradeCallback: (req) => isWebSocketUpgrade(req.headers),
          },
          serverListener(app),
        );
        server.on('upgrade', (req, socket, head) => websockets.handleUpgrade(req, socket, head));
        server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          warmUp.start();
          resolve(server);
        });
      });
    },
    async listenMetrics() {
      if (!metrics.registry) return undefined;
      metricsServer ??= await listenMetrics(
        metrics.registry,
        config.metrics.port,
        config.metrics.host,
        logger,
      );
      return metricsServer;
    },
    async metricsSnapshot() {
      return metrics.registry ? metrics.registry.getMetricsAsJSON() : [];
    },
    async warmedUp() {
      await Promise.all([warmUp.settled(), keyCheck?.start()]);
    },
    async checkKeys() {
      return keyCheck ? keyCheck.start() : 'passed';
    },
    async keysChecked() {
      return keyCheck ? keyCheck.settled() : 'passed';
    },
    drain(server, graceMs) {
      return drain.drain(server, graceMs, logger);
    },
    resealClientSecrets() {
      return registry.resealClientSecrets();
    },
    resealClientKeys() {
      return clientKeys.resealAll(registry);
    },
    async close() {
      websockets.close();
      if (metricsServer) {
        metricsServer.closeAllConnections();
        await new Promise((resolve) => metricsServer?.close(resolve));
      }
      redisHealth?.close();
      keyCheck?.close();
      clientKeys.close();
      sessions.close();
      await upstreams.close();
      await guardedFetch.close();
      await registry.close();
      // Audit events on their way to the store land before the connection goes.
      await audit.settled();
      if (ownsRedis && redis) await closeRedis(redis);
    },
  };
  // Tests and the testkit reach the parts they inspect through `@gatehouse/core/testing`.
  registerInternals(gatehouse, context);
  return gatehouse;
}
