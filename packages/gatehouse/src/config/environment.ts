import { parseSigningKeysEnv } from '../tokens/signing-key-config.ts';

/** A JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Environment variables win over the file; each one is parsed and reported on its own. */
export function applyEnvironment(
  input: Record<string, unknown>,
  env: Record<string, string | undefined>,
  problems: string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...input };
  if (env.PORT) out.port = /^\d+$/.test(env.PORT) ? Number(env.PORT) : env.PORT;
  if (env.HOST) out.host = env.HOST;
  if (env.PUBLIC_URL) out.publicUrl = env.PUBLIC_URL;
  applyRedisEnvironment(out, env, problems);
  if (env.LOG_LEVEL) out.logLevel = env.LOG_LEVEL;
  if (env.ACCESS_LOG_SAMPLE_RATE) {
    const rate = env.ACCESS_LOG_SAMPLE_RATE.trim();
    out.accessLogSampleRate = /^(?:\d+(?:\.\d*)?|\.\d+)$/.test(rate) ? Number(rate) : rate;
  }
  if (env.GATEHOUSE_WORKERS) {
    const workers = env.GATEHOUSE_WORKERS.trim();
    out.workers = /^\d+$/.test(workers) ? Number(workers) : workers;
  }
  if (env.GATEHOUSE_STATIC_DIR) out.staticDir = env.GATEHOUSE_STATIC_DIR;
  if (env.GATEHOUSE_ADMIN_TOKEN) out.adminToken = env.GATEHOUSE_ADMIN_TOKEN;
  if (env.TRUST_PROXY !== undefined) out.trustProxy = parseTrustProxy(env.TRUST_PROXY);
  applyGatewayEnvironment(out, env, problems);
  if (env.SHUTDOWN_GRACE_SECONDS) {
    const grace = env.SHUTDOWN_GRACE_SECONDS;
    out.shutdownGraceSeconds = /^\d+$/.test(grace) ? Number(grace) : grace;
  }
  if (env.PROVIDER_WARM_UP_SECONDS) {
    const seconds = env.PROVIDER_WARM_UP_SECONDS.trim();
    out.providerWarmUpSeconds = /^\d+$/.test(seconds) ? Number(seconds) : seconds;
  }
  applyMetricsEnvironment(out, env);
  applyRateLimitEnvironment(out, env, problems);
  applyAuditEnvironment(out, env);
  const clientKeysEnv = {
    activationDelaySeconds: env.CLIENT_KEY_ACTIVATION_SECONDS,
    overlapSeconds: env.CLIENT_KEY_OVERLAP_SECONDS,
  };
  for (const [field, value] of Object.entries(clientKeysEnv)) {
    if (!value) continue;
    const clientKeys = (out.clientKeys ?? {}) as Record<string, unknown>;
    out.clientKeys = { ...clientKeys, [field]: /^\d+$/.test(value) ? Number(value) : value };
  }
  const websocketEnv = {
    sessionCheckIntervalMs: env.WEBSOCKET_SESSION_CHECK_MS,
    pingIntervalMs: env.WEBSOCKET_PING_INTERVAL_MS,
  };
  for (const [field, value] of Object.entries(websocketEnv)) {
    if (!value) continue;
    const websocket = (out.websocket ?? {}) as Record<string, unknown>;
    out.websocket = { ...websocket, [field]: /^\d+$/.test(value) ? Number(value) : value };
  }
  if (env.GATEHOUSE_TEST_CONTROLS !== undefined) {
    const value = env.GATEHOUSE_TEST_CONTROLS.trim().toLowerCase();
    if (['1', 'true'].includes(value)) out.testControls = true;
    else if (['0', 'false', ''].includes(value)) out.testControls = false;
    else problems.push('GATEHOUSE_TEST_CONTROLS: must be 1 or 0 (true or false)');
  }
  if (env.SESSION_SECRET) {
    const session = (out.session ?? {}) as Record<string, unknown>;
    out.session = { ...session, secrets: env.SESSION_SECRET.split(',').map((s) => s.trim()) };
  }
  if (env.GATEHOUSE_SIGNING_KEYS) {
    out.signingKeys = parseSigningKeysEnv(env.GATEHOUSE_SIGNING_KEYS, problems);
  }
  if (env.GATEHOUSE_ENCRYPTION_KEYS) {
    out.encryptionKeys = env.GATEHOUSE_ENCRYPTION_KEYS.split(',').map((entry, index) => {
      const [kid, key, extra] = entry.trim().split(':');
      if (!kid || !key || extra !== undefined) {
        problems.push(`GATEHOUSE_ENCRYPTION_KEYS.${index}: expected "<kid>:<base64url key>"`);
      }
      return { kid, key };
    });
  }
  return out;
}

/** `AUDIT_MAX_EVENTS`, `AUDIT_MAX_AGE_DAYS`: override single fields of the file's `audit`. */
function applyAuditEnvironment(
  out: Record<string, unknown>,
  env: Record<string, string | undefined>,
): void {
  const number = (value: string) => (/^\d+$/.test(value) ? Number(value) : value);
  const fields: Record<string, unknown> = {
    ...(env.AUDIT_MAX_EVENTS ? { maxEvents: number(env.AUDIT_MAX_EVENTS) } : {}),
    ...(env.AUDIT_MAX_AGE_DAYS ? { maxAgeDays: number(env.AUDIT_MAX_AGE_DAYS) } : {}),
  };
  if (Object.keys(fields).length === 0) return;
  out.audit = { ...(isRecord(out.audit) ? out.audit : {}), ...fields };
}

/** `GATEHOUSE_GATEWAY` (`true`/`false`) and `GATEHOUSE_GATEWAY_ROUTE` override the file's fields. */
function applyGatewayEnvironment(
  out: Record<string, unknown>,
  env: Record<string, string | undefined>,
  problems: string[],
): void {
  const fields: Record<string, unknown> = {};
  const enabled = env.GATEHOUSE_GATEWAY;
  if (enabled !== undefined && enabled !== '') {
    if (enabled === 'true' || enabled === 'false') fields.enabled = enabled === 'true';
    else problems.push('GATEHOUSE_GATEWAY: must be "true" or "false"');
  }
  if (env.GATEHOUSE_GATEWAY_ROUTE) fields.route = env.GATEHOUSE_GATEWAY_ROUTE;
  if (Object.keys(fields).length === 0) return;
  out.gateway = { ...(isRecord(out.gateway) ? out.gateway : {}), ...fields };
}

/** `METRICS_PORT` (0: off) and `METRICS_HOST` override single fields of `metrics`. */
function applyMetricsEnvironment(
  out: Record<string, unknown>,
  env: Record<string, string | undefined>,
): void {
  const port = env.METRICS_PORT;
  const host = env.METRICS_HOST;
  if (!port && !host) return;
  out.metrics = {
    ...(isRecord(out.metrics) ? out.metrics : {}),
    ...(port ? { port: /^\d+$/.test(port) ? Number(port) : port } : {}),
    ...(host ? { host } : {}),
  };
}

/** `RATE_LIMIT_<NAME>` variables: `<points>/<seconds>` or `off`; `RATE_LIMITS=off`: all off. */
const RATE_LIMIT_VARIABLES = {
  loginStart: 'RATE_LIMIT_LOGIN_START',
  callback: 'RATE_LIMIT_CALLBACK',
  failedCallback: 'RATE_LIMIT_FAILED_CALLBACK',
  adminApi: 'RATE_LIMIT_ADMIN_API',
  providerTest: 'RATE_LIMIT_PROVIDER_TEST',
  backchannelLogout: 'RATE_LIMIT_BACKCHANNEL_LOGOUT',
} as const;

function applyRateLimitEnvironment(
  out: Record<string, unknown>,
  env: Record<string, string | undefined>,
  problems: string[],
): void {
  const limits: Record<string, unknown> = isRecord(out.rateLimits) ? { ...out.rateLimits } : {};
  let changed = false;
  if (env.RATE_LIMITS !== undefined && env.RATE_LIMITS !== '') {
    if (env.RATE_LIMITS === 'off') {
      for (const name of Object.keys(RATE_LIMIT_VARIABLES)) limits[name] = false;
      changed = true;
    } else if (env.RATE_LIMITS !== 'on') {
      problems.push('RATE_LIMITS: must be "on" or "off"');
    }
  }
  for (const [name, variable] of Object.entries(RATE_LIMIT_VARIABLES)) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    changed = true;
    if (value === 'off') {
      limits[name] = false;
      continue;
    }
    const match = /^(\d+)\/(\d+)$/.exec(value);
    if (!match) {
      problems.push(`${variable}: expected "<points>/<seconds>" (e.g. 60/60) or "off"`);
      continue;
    }
    limits[name] = { points: Number(match[1]), durationSeconds: Number(match[2]) };
  }
  if (changed) out.rateLimits = limits;
}

const REDIS_TOPOLOGY_VARIABLES = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const;

/**
 * The file's `redisUrl` becomes `redis.url`; an environment variable naming a topology replaces
 * the file's topology as a whole (a file's Sentinel list never mixes with a `REDIS_URL`), and
 * the credential variables override single fields.
 */
function applyRedisEnvironment(
  out: Record<string, unknown>,
  env: Record<string, string | undefined>,
  problems: string[],
): void {
  if (out.redisUrl !== undefined) {
    if (out.redis !== undefined) problems.push('redisUrl: give either redisUrl or redis, not both');
    else out.redis = { url: out.redisUrl };
    delete out.redisUrl;
  }
  const list = (value: string) => value.split(',').map((entry) => entry.trim());
  let redis: unknown = out.redis;
  if (REDIS_TOPOLOGY_VARIABLES.some((name) => env[name])) redis = {};
  const fields: Record<string, unknown> = {
    ...(env.REDIS_URL ? { url: env.REDIS_URL } : {}),
    ...(env.REDIS_SENTINELS ? { sentinels: list(env.REDIS_SENTINELS) } : {}),
    ...(env.REDIS_SENTINEL_MASTER ? { sentinelMaster: env.REDIS_SENTINEL_MASTER } : {}),
    ...(env.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: env.REDIS_SENTINEL_PASSWORD } : {}),
    ...(env.REDIS_CLUSTER_NODES ? { clusterNodes: list(env.REDIS_CLUSTER_NODES) } : {}),
    ...(env.REDIS_USERNAME ? { username: env.REDIS_USERNAME } : {}),
    ...(env.REDIS_PASSWORD ? { password: env.REDIS_PASSWORD } : {}),
  };
  if (env.REDIS_TLS !== undefined && env.REDIS_TLS !== '') {
    if (env.REDIS_TLS === 'true' || env.REDIS_TLS === 'false')
      fields.tls = env.REDIS_TLS === 'true';
    else problems.push('REDIS_TLS: must be "true" or "false"');
  }
  if (Object.keys(fields).length > 0) redis = { ...(isRecord(redis) ? redis : {}), ...fields };
  if (isRecord(redis)) foldPasswordIntoUrl(redis, env, problems);
  if (redis !== undefined) out.redis = redis;
}

/**
 * `REDIS_PASSWORD` (or `REDIS_PASSWORD_FILE`, a Docker secret) with a standalone `REDIS_URL`
 * that has no password: the password goes into the URL, where a standalone server takes it.
 */
function foldPasswordIntoUrl(
  redis: Record<string, unknown>,
  env: Record<string, string | undefined>,
  problems: string[],
): void {
  const password = env.REDIS_PASSWORD;
  if (!password || typeof redis.url !== 'string' || !URL.canParse(redis.url)) return;
  const url = new URL(redis.url);
  delete redis.password;
  if (url.password) {
    problems.push('REDIS_PASSWORD: REDIS_URL already carries a password; give it in one place');
    return;
  }
  url.password = password;
  redis.url = url.href;
}

function parseTrustProxy(value: string): boolean | number | string {
  if (value === 'true') return true;
  if (value === 'false' || value === '') return false;
  return /^\d+$/.test(value) ? Number(value) : value;
}
