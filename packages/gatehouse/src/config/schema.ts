import { compile as compileTrustedProxies } from 'proxy-addr';
import { z } from 'zod';
import { MAX_TOKEN_LIFETIME_SECONDS, signingKeySchema } from '../tokens/signing-key-config.ts';
import { providerInputSchema } from '../tenants/provider-schema.ts';

export const slug = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, 'must be a lowercase slug (a-z, 0-9, -)');

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

// `abort`: zod runs later refinements after a failed one, and `new URL` would then throw.
const httpUrl = z
  .string()
  .refine((value) => URL.canParse(value), { message: 'must be an absolute URL', abort: true })
  .refine((value) => ['http:', 'https:'].includes(new URL(value).protocol), 'must be http(s)');

/**
 * A `trust proxy` list, checked by the same compiler express uses, so that a value accepted here
 * is never refused at start-up.
 */
export const trustedProxyList = z.string().refine(
  (value) => {
    try {
      compileTrustedProxies(value.split(',').map((entry) => entry.trim()));
      return true;
    } catch {
      return false;
    }
  },
  {
    message:
      'must be true, false, a hop count, or a comma list of IP addresses, CIDR subnets or the names loopback, linklocal, uniquelocal',
  },
);

const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** At most `points` requests per `durationSeconds` and key. */
export const limitSchema = z.strictObject({
  points: z.number().int().min(1).max(1_000_000),
  durationSeconds: z.number().int().min(1).max(86_400),
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

export const routeSchema = z.strictObject({
  /** `/api/<name>`: requests under it are forwarded with the prefix removed. */
  prefix: z.string().regex(/^\/api\/[a-z0-9][a-z0-9-]*$/, 'must look like /api/<name>'),
  upstream: httpUrl,
  tokenMode: z.enum(['user', 'optional', 'none', 'gatehouse']),
  /** `gatehouse` mode: the `aud` of the Gatehouse-signed token (required there, refused elsewhere). */
  audience: z.string().min(1).max(500).optional(),
  /** `gatehouse` mode: token lifetime, default 300 s. */
  tokenLifetimeSeconds: z
    .number()
    .int()
    .min(30)
    .max(
      MAX_TOKEN_LIFETIME_SECONDS,
      `must be at most ${MAX_TOKEN_LIFETIME_SECONDS} seconds (5 minutes)`,
    )
    .optional(),
  /**
   * `user`/`optional` mode: ask the IdP for an access token for this resource (RFC 8707
   * resource indicator) instead of the login's default one; cached per session and resource.
   */
  resource: z
    .string()
    .refine((value) => URL.canParse(value), 'must be an absolute URI')
    .optional(),
  methods: z
    .array(z.enum(methods))
    .min(1)
    .default(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
  /**
   * Connecting plus waiting for the response headers (a request body still flowing up restarts
   * it); 504 `upstream_timeout` past it.
   */
  timeoutMs: z.number().int().min(100).max(300_000).default(10_000),
  /**
   * Longest silence between two chunks of the upstream's response body before the answer is
   * cut; generous by default so event streams with heartbeats stay open.
   */
  idleTimeoutMs: z.number().int().min(1000).max(3_600_000).default(300_000),
  /** Only sessions of these tenants may use the route (all tenants when absent). */
  tenants: z.array(slug).optional(),
  /**
   * `user`/`optional` mode: the upstream accepts DPoP (RFC 9449). A session whose provider binds
   * its tokens (`dpop: true`) sends them as `Authorization: DPoP …` with a fresh `DPoP` proof per
   * call; other sessions still send Bearer tokens. Without it, a DPoP-bound session is refused
   * (403 `dpop_not_accepted`) rather than its token sent as a Bearer token. Off when absent.
   */
  dpop: z.boolean().optional(),
  /** Pass the upstream's `Set-Cookie` to the browser (off: upstream cookies would share our origin). */
  allowSetCookie: z.boolean().default(false),
  /**
   * Opt-in limit per session (per client IP without one): one Redis command more per call of
   * this route; other routes cost none.
   */
  rateLimit: limitSchema.optional(),
  /**
   * Accept WebSocket upgrades under this prefix (a `GET` with `Upgrade: websocket`, the session
   * cookie and this site's exact `Origin`), proxied to the upstream with the route's token.
   */
  websocket: z.boolean().default(false),
  /** WebSocket routes: a socket with no message either way for this long is closed (4408). */
  websocketIdleTimeoutMs: z.number().int().min(1000).max(86_400_000).default(300_000),
  /** WebSocket routes: the largest message either side may send; a larger one closes with 1009. */
  websocketMaxMessageBytes: z
    .number()
    .int()
    .min(1)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
});

/** Process-wide WebSocket settings (the per-route limits are on each route). */
export const websocketSchema = z.strictObject({
  /**
   * How often the sessions of open sockets are read again from the store (one read per session,
   * all at once); a socket whose session has ended on any instance is closed with 4401.
   */
  sessionCheckIntervalMs: z.number().int().min(100).max(60_000).default(5000),
  /** How often both legs of a socket are pinged; a leg that has not answered the last ping is cut. */
  pingIntervalMs: z.number().int().min(1000).max(600_000).default(30_000),
});

/**
 * Gateway mode (forward-auth): `/bff/authz` answers a reverse proxy's authorization subrequest
 * (nginx `auth_request`, Traefik `forwardAuth`) with the session's bearer token in a header.
 */
export const gatewaySchema = z.strictObject({
  /** Whether `/bff/authz` answers; when absent, on in development mode and off in production. */
  enabled: z.boolean().optional(),
  /**
   * The route (`<name>` of `/api/<name>`) whose token settings (`tokenMode`, `resource`,
   * `audience`, `tenants`, `methods`) apply when the subrequest names none (`?route=`). Without
   * it, such a subrequest gets the session's own access token from the sign-in.
   */
  route: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a route name (the <name> of /api/<name>)')
    .optional(),
});

const encryptionKey = z.strictObject({
  kid: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
  /** 32 random bytes, base64url. */
  key: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes, base64url encoded (43 chars)'),
});

/** `host:port`, the form of Sentinel and Cluster seed addresses (IPv6 in brackets). */
const hostPort = z
  .string()
  .regex(/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/, {
    message: 'must be host:port',
    abort: true,
  })
  .refine((value) => {
    const port = Number(value.slice(value.lastIndexOf(':') + 1));
    return port >= 1 && port <= 65535;
  }, 'port must be 1-65535');

export const redisUrlSchema = z
  .string()
  .regex(/^rediss?:\/\/[^/?#]/, 'must be a redis:// or rediss:// URL')
  .refine((value) => URL.canParse(value), 'must be a valid URL');

/**
 * The Redis topology. Which fields belong together (exactly one of `url`, `sentinels`,
 * `clusterNodes`) is checked by the loader, so that every problem is reported at once.
 */
export const redisSchema = z.strictObject({
  /** Standalone: `redis://[user:password@]host:port[/db]`, `rediss://` for TLS. */
  url: redisUrlSchema.optional(),
  /** Sentinel: the Sentinels to ask for the current master. */
  sentinels: z.array(hostPort).min(1).optional(),
  /** Sentinel: the master group name the Sentinels monitor. */
  sentinelMaster: z.string().min(1).max(200).optional(),
  /** Sentinel: the Sentinels' own password (`requirepass` of the Sentinels), if any. */
  sentinelPassword: z.string().min(1).optional(),
  /** Cluster: seed nodes; the rest of the Cluster is discovered from them. */
  clusterNodes: z.array(hostPort).min(1).optional(),
  /** Sentinel / Cluster: ACL user and password of the data nodes (a standalone URL carries them). */
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** Sentinel / Cluster: TLS to the data nodes (and to the Sentinels). */
  tls: z.boolean().optional(),
});

/** One rate limit: at most `points` requests per `durationSeconds` and key; `false`: off. */
export const rateLimitSchema = z.union([limitSchema, z.literal(false)]);

/** The default limits (README "Rate limits"). */
export const RATE_LIMIT_DEFAULTS = {
  /** `GET /bff/login` per client IP. */
  loginStart: { points: 60, durationSeconds: 60 },
  /** `GET /bff/callback/…` per client IP. */
  callback: { points: 60, durationSeconds: 60 },
  /** Failed callbacks per client IP: past it, every callback from that IP is refused. */
  failedCallback: { points: 20, durationSeconds: 600 },
  /** `/admin/api` per principal (operator, tenant API key, session, or IP when anonymous). */
  adminApi: { points: 300, durationSeconds: 60 },
  /** Provider tests (`POST …/providers/:provider/test`) per tenant. */
  providerTest: { points: 10, durationSeconds: 60 },
  /** `POST /bff/backchannel-logout/…` per provider. */
  backchannelLogout: { points: 300, durationSeconds: 60 },
} as const;

export const rateLimitsSchema = z
  .strictObject({
    loginStart: rateLimitSchema.default(RATE_LIMIT_DEFAULTS.loginStart),
    callback: rateLimitSchema.default(RATE_LIMIT_DEFAULTS.callback),
    failedCallback: rateLimitSchema.default(RATE_LIMIT_DEFAULTS.failedCallback),
    adminApi: rateLimitSchema.default(RATE_LIMIT_DEFAULTS.adminApi),
    providerTest: rateLimitSchema.default(RATE_LIMIT_DEFAULTS.providerTest),
    backchannelLogout: rateLimitSchema.default(RATE_LIMIT_DEFAULTS.backchannelLogout),
  })
  .prefault({});

/** The Prometheus listener, apart from the public one; `port: 0` switches metrics off. */
export const metricsSchema = z
  .strictObject({
    port: z.number().int().min(0).max(65535).default(9464),
    host: z.string().min(1).default('127.0.0.1'),
  })
  .prefault({});

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
  encryptionKeys: z.array(encryptionKey).min(1).optional(),
  /** Keys signing `gatehouse`-mode tokens; the first one not retired signs (rotation). */
  signingKeys: z.array(signingKeySchema).optional(),
  refreshSkewSeconds: z.number().int().min(0).max(3600).default(60),
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
 * console.log(okta.issuer, okta.tokenEndpointAuthMethod);
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
