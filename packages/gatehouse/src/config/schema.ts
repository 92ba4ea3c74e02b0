import { z } from 'zod';
import { signingKeySchema } from '../tokens/signing-key-config.ts';
import { providerInputSchema } from '../tenants/provider-schema.ts';
import { httpUrl, slug } from './fields.ts';
import { gatewaySchema, routeSchema, websocketSchema } from './route-schema.ts';
import {
  encryptionKeySchema,
  metricsSchema,
  rateLimitsSchema,
  redisSchema,
  trustedProxyList,
} from './deployment-schema.ts';

export const emailDomain = z
  .string()
  .toLowerCase()
  .regex(/^[a-z0-9.-]+\.[a-z]{2,}$/, 'must be a domain name such as example.com');

/** A DNS host name (no port): the tenant's own host names, for picking it at `/bff/login`. */
export const hostName = z
  .string()
  .toLowerCase()
  .regex(
    /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/,
    'must be a host name such as app.example.com',
  );

/** A tenant's own session timeouts, overriding the deployment's. */
export const tenantSessionSchema = z.strictObject({
  idleTimeoutSeconds: z
    .number()
    .int()
    .min(60)
    .max(7 * 24 * 3600)
    .optional(),
  absoluteTimeoutSeconds: z
    .number()
    .int()
    .min(300)
    .max(90 * 24 * 3600)
    .optional(),
});

/**
 * Claims an admin rule may test. Only claims kept in the session (see `filterClaims`) can be
 * checked later, and an identity claim such as `email` says nothing about authority.
 */
export const ADMIN_RULE_CLAIMS = ['roles', 'groups', 'sub'] as const;

/** Which signed-in users of a tenant administer it (default: `roles` contains `gatehouse-admin`). */
export const adminRuleSchema = z.strictObject({
  claim: z.enum(ADMIN_RULE_CLAIMS),
  value: z.string().min(1).max(200),
});

/**
 * A provider of the config file: the one provider model (`tenants/provider-schema.ts`), as the
 * admin API's create body (`displayName` defaults to the id).
 */
export const providerSchema = providerInputSchema;

export const tenantSchema = z.strictObject({
  id: slug,
  name: z.string().min(1).max(100),
  emailDomains: z.array(emailDomain).default([]),
  hosts: z.array(hostName).optional(),
  adminRule: adminRuleSchema.optional(),
  providers: z.array(providerSchema).default([]),
  /** This tenant's own session timeouts, overriding the deployment's. */
  session: tenantSessionSchema.optional(),
});

export const configSchema = z.strictObject({
  mode: z.enum(['development', 'production']),
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(3000),
  publicUrl: httpUrl,
  /**
   * express `trust proxy`: true/false, a hop count, or a comma list of addresses, CIDR subnets
   * and the names `loopback`, `linklocal`, `uniquelocal`.
   */
  trustProxy: z.union([z.boolean(), z.number().int().min(0), trustedProxyList]).default(false),
  /**
   * Where sessions and shared state live: one of a standalone server (`url`), a Sentinel group
   * (`sentinels` + `sentinelMaster`) or a Cluster (`clusterNodes`). Memory stores when absent
   * (development only). The older `redisUrl` field is read as `redis.url`.
   */
  redis: redisSchema.optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * The share (0–1) of proxied calls answered below 400 that get an access-log line; every other
   * request, and every 4xx/5xx answer, always gets one.
   */
  accessLogSampleRate: z.number().min(0).max(1).default(0.01),
  /**
   * `apps/server` processes: 1 (no cluster), a number of workers, or `auto` (one per core).
   */
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default(1),
  session: z
    .strictObject({
      /** Cookie-signing secrets, newest first (older ones still verify: rotation). */
      secrets: z.array(z.string().min(32, 'must be at least 32 characters')).min(1),
      idleTimeoutSeconds: z.number().int().min(60).default(1800),
      absoluteTimeoutSeconds: z.number().int().min(300).default(43_200),
    })
    .optional(),
  /** Token encryption keys, current first; older ones still decrypt (rotation). */
  encryptionKeys: z.array(encryptionKeySchema).min(1).optional(),
  /** Keys signing `gatehouse`-mode tokens; the first one not retired signs (rotation). */
  signingKeys: z.array(signingKeySchema).optional(),
  refreshSkewSeconds: z.number().int().min(0).max(3600).default(60),
  /**
   * At start-up each enabled provider's discovery document and key set are fetched ahead of the
   * first sign-in; `/readyz` waits for that at most this long. 0: no warm-up.
   */
  providerWarmUpSeconds: z.number().int().min(0).max(60).default(3),
  /** Development only: exact dev IdP origins that may be reached over http on loopback. */
  devIdpOrigins: z.array(httpUrl).default([]),
  defaultTenant: slug.optional(),
  /** The operator's bearer token for the admin API (`GATEHOUSE_ADMIN_TOKEN`); no operator when absent. */
  adminToken: z.string().min(1).optional(),
  tenants: z.array(tenantSchema).default([]),
  routes: z.array(routeSchema).default([]),
  /** Forward-auth for reverse proxies (`/bff/authz`). */
  gateway: gatewaySchema.default({}),
  /** Directory of the built SPA to serve (index.html fallback for client-side routes). */
  staticDir: z.string().optional(),
  /**
   * On SIGTERM/SIGINT: how long in-flight requests may take to finish before the remaining
   * connections are closed.
   */
  shutdownGraceSeconds: z.number().int().min(0).max(3600).default(10),
  /** Prometheus metrics on their own listener (`METRICS_PORT`, `METRICS_HOST`). */
  metrics: metricsSchema,
  /** Per-key request limits (`RATE_LIMIT_*`); see README "Rate limits". */
  rateLimits: rateLimitsSchema,
  /** The signing keys of private_key_jwt providers (README, private_key_jwt). */
  clientKeys: z
    .strictObject({
      /**
       * A rotated key is published at once and signs this many seconds later, once every OP has
       * fetched the JWKS again (OPs cache it: oidc-provider for at least 60 s).
       */
      activationDelaySeconds: z.number().int().min(0).max(86_400).default(300),
      /** The superseded key stays published this long after its successor signs, then retires. */
      overlapSeconds: z
        .number()
        .int()
        .min(0)
        .max(90 * 86_400)
        .default(86_400),
    })
    .default({ activationDelaySeconds: 300, overlapSeconds: 86_400 }),
  /** Retention of each tenant's audit trail (Redis stream, or memory without Redis). */
  audit: z
    .strictObject({
      /** Most events kept per tenant (Redis trims approximately: whole stream nodes). */
      maxEvents: z.number().int().min(1).max(10_000_000).default(100_000),
      /** Events older than this many days are dropped; 0 keeps them until `maxEvents` pushes them out. */
      maxAgeDays: z.number().int().min(0).max(36_500).default(90),
    })
    .default({ maxEvents: 100_000, maxAgeDays: 90 }),
  websocket: websocketSchema.default({ sessionCheckIntervalMs: 5000, pingIntervalMs: 30_000 }),
  /**
   * Development only (`GATEHOUSE_TEST_CONTROLS=1`): the `/bff/test-controls` routes with which
   * end-to-end tests expire, revoke or fail their own session. Production refuses to start with it.
   */
  testControls: z.boolean().default(false),
});

/**
 * The config file's shape (`GATEHOUSE_CONFIG`, or `loadConfig({ input })`): what may be written,
 * defaults not yet applied.
 *
 * @example
 * const input: ConfigInput = {
 *   mode: 'development',
 *   publicUrl: 'http://localhost:3000',
 *   routes: [{ prefix: '/api/demo', upstream: 'http://localhost:4001', tokenMode: 'user' }],
 * };
 */
export type ConfigInput = z.input<typeof configSchema> & {
  /** The older spelling of `redis: { url }`, still read. */
  redisUrl?: string;
};
export type ParsedConfig = z.output<typeof configSchema>;
/**
 * One IdP of a tenant in the config file, as validated (the one provider model).
 *
 * @example
 * const okta: ProviderConfig = config.tenants[0]!.providers[0]!;
 * logger.info({ issuer: okta.issuer, method: okta.tokenEndpointAuthMethod }, 'provider');
 */
export type ProviderConfig = z.output<typeof providerSchema>;
/**
 * One tenant of the config file, as validated: its id, how it is recognised (email domains,
 * hosts), its providers and admin rule.
 *
 * @example
 * const acme: TenantConfig | undefined = config.tenants.find((tenant) => tenant.id === 'acme');
 */
export type TenantConfig = z.output<typeof tenantSchema>;
/**
 * One proxied API route (`/api/<name>` → upstream) with its token mode and limits, as validated.
 *
 * @example
 * const demo: RouteConfig | undefined = config.routes.find((route) => route.prefix === '/api/demo');
 */
export type RouteConfig = z.output<typeof routeSchema>;
/**
 * The Redis topology: a standalone `url`, `sentinels` + `sentinelMaster`, or `clusterNodes`.
 *
 * @example
 * const redis: RedisConfig = { sentinels: ['10.0.0.1:26379'], sentinelMaster: 'gatehouse' };
 */
export type RedisConfig = z.output<typeof redisSchema>;
export type GatewayConfig = Omit<z.output<typeof gatewaySchema>, 'enabled'> & { enabled: boolean };
export type RateLimitsConfig = z.output<typeof rateLimitsSchema>;
export type RateLimitName = keyof RateLimitsConfig;

/**
 * The validated, frozen configuration; secrets are always present after loading.
 *
 * @example
 * const { config } = loadConfig({ env: process.env });
 * const gatehouse = createGatehouse(config);
 */
export type GatehouseConfig = Readonly<
  Omit<ParsedConfig, 'session' | 'encryptionKeys' | 'signingKeys' | 'gateway'> & {
    session: NonNullable<ParsedConfig['session']>;
    encryptionKeys: NonNullable<ParsedConfig['encryptionKeys']>;
    /** Empty only when no key is configured outside development mode (no `gatehouse` routes). */
    signingKeys: NonNullable<ParsedConfig['signingKeys']>;
    /** Whether the public URL is https (cookie prefix, Secure, SameSite=Strict). */
    secureCookies: boolean;
    /** Gateway mode with its default resolved by the mode. */
    gateway: GatewayConfig;
  }
>;
