import { z } from 'zod';
import { MAX_TOKEN_LIFETIME_SECONDS } from '../tokens/signing-key-config.ts';
import { httpUrl, slug } from './fields.ts';

const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** At most `points` requests per `durationSeconds` and key. */
export const limitSchema = z.strictObject({
  points: z.number().int().min(1).max(1_000_000),
  durationSeconds: z.number().int().min(1).max(86_400),
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
