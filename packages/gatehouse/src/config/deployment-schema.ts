import { compile as compileTrustedProxies } from 'proxy-addr';
import { z } from 'zod';
import { limitSchema } from './route-schema.ts';

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

/** One token encryption key: its id and 32 random bytes. */
export const encryptionKeySchema = z.strictObject({
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
