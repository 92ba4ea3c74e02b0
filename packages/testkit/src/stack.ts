import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import {
  createGatehouse,
  loadConfig,
  type ConfigInput,
  type Gatehouse,
  type GatehouseDeps,
} from '@gatehouse/core';
import { startDemoApi, type TrustedIssuer } from '@gatehouse/demo-api';
import {
  DEMO_API_RESOURCE,
  defaultRealms,
  startDevIdp,
  startDevIdpProcess,
  type DevIdpOptions,
  type DevIdpProcess,
  type DevIdpRealm,
  type RunningDevIdp,
} from '@gatehouse/dev-idp';
import { pino } from 'pino';
import { freePort } from './ports.ts';
import type { RedisTopology } from './redis-topologies.ts';

export interface StackOptions {
  /** Share this Redis (standalone, Sentinel or Cluster) between all instances; memory stores when absent. */
  redis?: RedisTopology;
  /** How many Gatehouse instances (sharing the stores when Redis is given). */
  instances?: number;
  devIdp?: Omit<DevIdpOptions, 'port' | 'realms'>;
  /** Adjusts the generated config (routes, timeouts, tenants…). */
  configure?: (input: ConfigInput) => ConfigInput;
  /** Extra dependencies for every instance; the logger defaults to a silent one. */
  deps?: Omit<GatehouseDeps, 'redis'>;
  staticDir?: string;
  /**
   * Pretend a TLS-terminating proxy sits in front: public URLs are `https://localhost:<port>`,
   * `trust proxy` is on, and requests must carry `X-Forwarded-Proto: https` to get cookies.
   */
  behindTlsProxy?: boolean;
  /**
   * More Gatehouse callbacks for the dev IdP to accept, for providers created at run time
   * through the admin API: each `{ realm, tenant, provider }` adds
   * `/bff/callback/<tenant>/<provider>` to that realm's first client.
   */
  extraCallbacks?: Array<{ realm: '' | '/globex'; tenant: string; provider: string }>;
  /**
   * More dev IdP realms (after acme's and globex's), given every instance's public origin: say
   * one requiring PAR with a private_key_jwt client whose `jwks_uri` is Gatehouse's. The demo
   * API trusts their tokens too.
   */
  extraRealms?: (gatehouseOrigins: readonly string[]) => DevIdpRealm[];
  /** Serve Prometheus metrics on a free port per instance (`metricsOrigin`); off by default. */
  metrics?: boolean;
  /**
   * Keep the rate limits on (the defaults, or what `configure` sets); off by default, since a
   * suite signs in from one address far more often than a person would.
   */
  rateLimits?: boolean;
  /**
   * The first instance's PUBLIC_URL when another server fronts it on another origin — an SPA's
   * Vite server with `gatehouseDevProxy()`, say (`http://localhost:<vite port>`): the IdP's
   * redirect URIs, the cookie and the Origin check are then that origin's.
   */
  publicUrl?: string;
  /**
   * More issuers whose access tokens the demo API accepts (the dev IdP's realms and the first
   * instance are always trusted): other OPs a test starts, such as provider personalities.
   */
  trustedIssuers?: TrustedIssuer[];
}

export interface RunningGatehouse {
  /** Where it listens (plain http on loopback). */
  origin: string;
  /** Its PUBLIC_URL (differs from `origin` only behind the pretend TLS proxy). */
  publicOrigin: string;
  gatehouse: Gatehouse;
  server: Server;
  /** `http://127.0.0.1:<port>` of its metrics listener, with `metrics: true`. */
  metricsOrigin?: string;
}

/** `startStack`'s options for a dev IdP in a process of its own. */
export interface ProcessStackOptions extends StackOptions {
  /**
   * Run the dev IdP in a Node process of its own (as a real IdP runs apart from Gatehouse)
   * instead of in this one: its work then never waits on Gatehouse's event loop, nor Gatehouse's
   * on its. `stack.idp` is then a `DevIdpProcess`, whose counters and delay go over the control
   * API (`devIdp: { controlApi: true }`). The vitest suites keep the in-process IdP, whose
   * counters they read synchronously.
   */
  devIdpProcess: true;
}

/** What the stack uses of the dev IdP, in this process or in its own. */
type DevIdp = RunningDevIdp | DevIdpProcess;

export interface Stack<Idp extends DevIdp = RunningDevIdp> {
  idp: Idp;
  api: { origin: string; close(): Promise<void> };
  gatehouses: RunningGatehouse[];
  /** The first instance's origin. */
  origin: string;
  close(): Promise<void>;
}

/** 32 fixed test bytes per key: tests are reproducible and these keys protect nothing. */
const TEST_ENCRYPTION_KEYS = 'test1:' + Buffer.alloc(32, 7).toString('base64url');

/**
 * Starts the whole stack in-process on free ports: the dev IdP (realms acme and /globex), the
 * demo API trusting it, and N Gatehouse instances in development mode wired to both.
 */
export async function startStack(options: ProcessStackOptions): Promise<Stack<DevIdpProcess>>;
export async function startStack(options?: StackOptions): Promise<Stack>;
export async function startStack(
  options: StackOptions & { devIdpProcess?: true } = {},
): Promise<Stack<DevIdp>> {
  const count = options.instances ?? 1;
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const origins = ports.map((port) => `http://localhost:${port}`);
  const publicOrigins = ports.map((port, index) =>
    index === 0 && options.publicUrl !== undefined
      ? options.publicUrl
      : `${options.behindTlsProxy ? 'https' : 'http'}://localhost:${port}`,
  );

  const extraRealms = options.extraRealms?.(publicOrigins) ?? [];
  const idpOptions: DevIdpOptions = {
    ...options.devIdp,
    port: 0,
    realms: [...realmsFor(publicOrigins, options.extraCallbacks ?? []), ...extraRealms],
  };
  const idp: DevIdp = options.devIdpProcess
    ? await startDevIdpProcess(idpOptions)
    : await startDevIdp(idpOptions);
  const api = await startDemoApi({
    port: 0,
    trustedIssuers: [
      ...[{ path: '' }, { path: '/globex' }, ...extraRealms].map((realm) => ({
        issuer: idp.issuer(realm.path),
        jwksUri: `${idp.issuer(realm.path)}/jwks`,
        // Every resource the dev IdP issues tokens for is served by the demo API.
        audience: Object.keys(options.devIdp?.resources ?? { [DEMO_API_RESOURCE]: {} }),
        // Access tokens are RS256 unless the IdP signs with another algorithm (not in a realm
        // that lists its own ID token algorithms).
        ...(options.devIdp?.signingAlg &&
        !('idTokenSigningAlgs' in realm && realm.idTokenSigningAlgs)
          ? { algorithms: [options.devIdp.signingAlg] }
          : {}),
      })),
      // Gatehouse-signed tokens (the dev config's `/api/demo-gh`, same audience) of the first
      // instance; its JWKS is fetched lazily, so Gatehouse listening only later is fine.
      {
        issuer: publicOrigins[0] ?? '',
        jwksUri: `${origins[0] ?? ''}/.well-known/jwks.json`,
        audience: DEMO_API_RESOURCE,
        algorithms: ['ES256', 'RS256'],
      },
      ...(options.trustedIssuers ?? []),
    ],
  });

  const gatehouses: RunningGatehouse[] = [];
  for (const [index, origin] of origins.entries()) {
    const metricsPort = options.metrics ? await freePort() : 0;
    const env = {
      GATEHOUSE_MODE: 'development',
      PUBLIC_URL: publicOrigins[index] ?? origin,
      ...(options.behindTlsProxy ? { TRUST_PROXY: 'loopback' } : {}),
      PORT: String(ports[index]),
      DEV_IDP_ORIGIN: idp.origin,
      DEMO_API_URL: api.origin,
      SESSION_SECRET: 'test-session-secret-0123456789abcdef',
      GATEHOUSE_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      ...options.redis?.env,
      ...(options.staticDir ? { GATEHOUSE_STATIC_DIR: options.staticDir } : {}),
      METRICS_PORT: String(metricsPort),
      ...(options.rateLimits ? {} : { RATE_LIMITS: 'off' }),
    };
    const base = loadConfig({ env });
    const { secureCookies: _derived, ...plain } = structuredClone(base.config);
    const input = options.configure ? options.configure(plain) : undefined;
    const { config } = input ? loadConfig({ env, input }) : base;
    const gatehouse = createGatehouse(config, {
      logger: pino({ level: 'silent' }),
      ...options.deps,
    });
    await redisReady(gatehouse);
    const server = await gatehouse.listen(ports[index] ?? 0, '127.0.0.1');
    // Started as a deployment is: the providers' discovery documents and keys fetched ahead
    // (the warm-up `/readyz` waits for), then the first readiness probe of a load balancer.
    await gatehouse.warmedUp();
    await fetch(`${origin}/readyz`).then(
      (response) => response.arrayBuffer(),
      () => undefined,
    );
    await gatehouse.listenMetrics();
    gatehouses.push({
      origin,
      publicOrigin: publicOrigins[index] ?? origin,
      gatehouse,
      server,
      ...(metricsPort ? { metricsOrigin: `http://127.0.0.1:${metricsPort}` } : {}),
    });
  }

  return {
    idp,
    api,
    gatehouses,
    origin: origins[0] ?? '',
    async close() {
      for (const { server, gatehouse } of gatehouses) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        await gatehouse.close();
      }
      await api.close();
      await idp.close();
    },
  };
}

/**
 * Until the instance's Redis client is connected: a Cluster client refuses commands until then
 * (no offline queue), and a test's first request must not race the connection.
 */
async function redisReady(gatehouse: Gatehouse): Promise<void> {
  const redis = gatehouse.redis;
  if (!redis || redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Redis did not become ready in 10 s')), 10_000);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The default realms, with every instance's callback and logout URIs registered. */
function realmsFor(origins: string[], extraCallbacks: NonNullable<StackOptions['extraCallbacks']>) {
  const [first, ...others] = origins.map((gatehouseOrigin) => defaultRealms({ gatehouseOrigin }));
  if (!first) throw new Error('at least one instance');
  return first.map((realm, r) => ({
    ...realm,
    clients: realm.clients.map((client, c) => ({
      ...client,
      redirect_uris: [
        client.redirect_uris,
        ...others.map((o) => o[r]?.clients[c]?.redirect_uris ?? []),
        c === 0
          ? extraCallbacks
              .filter((extra) => extra.realm === realm.path)
              .flatMap((extra) =>
                origins.map((origin) => `${origin}/bff/callback/${extra.tenant}/${extra.provider}`),
              )
          : [],
      ].flat(),
      post_logout_redirect_uris: [
        client.post_logout_redirect_uris ?? [],
        ...others.map((o) => o[r]?.clients[c]?.post_logout_redirect_uris ?? []),
      ].flat(),
    })),
  }));
}

export function serverPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}
