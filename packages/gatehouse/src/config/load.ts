import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import type { z } from 'zod';
import {
  configSchema,
  type ConfigInput,
  type GatehouseConfig,
  type ParsedConfig,
} from './schema.ts';
import { developmentDefaults } from './dev-defaults.ts';
import { SECRET_AUTH_METHODS } from '../tenants/provider-schema.ts';
import { isPlainHttpDevIdp } from './dev-idp.ts';
import { validParts } from './valid-parts.ts';
import { resolveClientSecretFiles, resolveSecretFileVariables } from './secret-files.ts';
import {
  checkGatehouseRoutes,
  checkSigningKeys,
  checkSigningKeysInProduction,
  parseSigningKeysEnv,
  resolveSigningKeys,
} from '../tokens/signing-key-config.ts';

/**
 * Every problem found in the configuration, reported together (`problems`, one line each, a
 * path then what is wrong; README "Configuration").
 *
 * @example
 * try {
 *   loadConfig({ env: process.env });
 * } catch (error) {
 *   if (error instanceof ConfigError) console.error(error.problems.join('\n'));
 * }
 */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`Invalid Gatehouse configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Where {@link loadConfig} reads from: the environment (which names the config file in
 * `GATEHOUSE_CONFIG`), or an input built in memory.
 *
 * @example
 * loadConfig({ env: { GATEHOUSE_MODE: 'development' }, input: { mode: 'development', publicUrl: 'http://localhost:3000' } });
 */
export interface LoadConfigOptions {
  env?: Record<string, string | undefined>;
  /** Overrides the file named by `GATEHOUSE_CONFIG` (tests build configs in memory). */
  input?: ConfigInput;
  readFile?: (path: string) => string;
}

/**
 * A loaded configuration and the warnings to log at start-up.
 *
 * @example
 * const { config, warnings }: LoadedConfig = loadConfig({ env: process.env });
 * for (const warning of warnings) logger.warn(warning);
 */
export interface LoadedConfig {
  config: GatehouseConfig;
  /** Loud, non-fatal notes for the start-up log (development fallbacks). */
  warnings: string[];
}

/**
 * Reads the config file (`GATEHOUSE_CONFIG`), applies environment overrides, validates everything
 * at once and returns a deeply frozen result. Throws {@link ConfigError} listing every problem.
 *
 * @example
 * const { config, warnings } = loadConfig({ env: process.env });
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  // `SESSION_SECRET_FILE` and the like: Docker / Kubernetes secrets.
  const env = resolveSecretFileVariables(options.env ?? {}, problems);

  const rawInput = options.input ?? readConfigFile(env, options.readFile ?? readUtf8, problems);
  // Client secrets given as `{ "file": "/run/secrets/…" }`.
  const fileInput = rawInput && (resolveClientSecretFiles(rawInput, problems) as ConfigInput);
  const mode =
    env.GATEHOUSE_MODE ?? fileInput?.mode ?? defaultMode(env, Boolean(fileInput) && !options.input);
  if (!env.GATEHOUSE_MODE && fileInput?.mode === 'development' && env.NODE_ENV === 'production') {
    // `pnpm start` (NODE_ENV=production) with a development config file: refuse to guess.
    problems.push(
      'mode: the config file says "development" but NODE_ENV=production; set GATEHOUSE_MODE to choose',
    );
    throw new ConfigError(problems);
  }
  const publicUrl = env.PUBLIC_URL ?? fileInput?.publicUrl ?? 'http://localhost:3000';
  const base: Record<string, unknown> =
    fileInput ??
    (mode === 'development'
      ? developmentDefaults(
          publicUrl,
          env.DEV_IDP_ORIGIN ?? 'http://localhost:4000',
          env.DEMO_API_URL ?? 'http://localhost:4001',
        )
      : {});
  const merged = applyEnvironment({ ...base, mode }, env, problems);
  // Before the schema: a shape error must not hide what production is missing.
  checkProductionInput(merged, problems);
  checkRedisInput(merged, problems);
  checkSigningKeysInProduction(merged, problems);

  const parsed = configSchema.safeParse(merged, { error: readableIssue });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    // The later checks still run on what is valid, so one run reports every problem.
    const parts = validParts(merged) as ParsedConfig;
    for (const check of configChecks) runOnParts(check, parts, problems);
    throw new ConfigError(problems);
  }
  const config = parsed.data;
  for (const check of configChecks) check(config, problems);
  const secrets = resolveSecrets(config, warnings);
  const signingKeys = resolveSigningKeys(config, warnings);
  if (problems.length > 0) throw new ConfigError(problems);
  if (config.testControls) {
    warnings.push(
      'test controls are on (GATEHOUSE_TEST_CONTROLS): a signed-in session can expire, revoke and fail itself at /bff/test-controls; never in production',
    );
  }

  warnings.push(...gatewayWarnings(config));
  const result: GatehouseConfig = {
    ...config,
    ...secrets,
    signingKeys,
    secureCookies: new URL(config.publicUrl).protocol === 'https:',
    gateway: {
      ...config.gateway,
      enabled: config.gateway.enabled ?? config.mode === 'development',
    },
  };
  return { config: deepFreeze(result), warnings };
}

/**
 * Without an explicit mode: NODE_ENV decides; a config file that names no mode means a
 * deployment, so production (fail safe: its checks run); otherwise development (`pnpm dev`).
 */
function defaultMode(
  env: Record<string, string | undefined>,
  configFile: boolean,
): 'production' | 'development' {
  if (env.NODE_ENV === 'production') return 'production';
  if (env.NODE_ENV === 'development') return 'development';
  return configFile ? 'production' : 'development';
}

function readUtf8(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Human sentences for the zod messages an operator meets most, without echoing a value. */
function readableIssue(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code !== 'invalid_type' || issue.input !== undefined) return undefined;
  if (issue.path?.length === 1 && issue.path[0] === 'publicUrl') {
    return 'is required: set PUBLIC_URL to the origin users reach Gatehouse at, e.g. https://app.example.com';
  }
  return 'is required';
}

/**
 * A check on the valid parts of an input that failed the schema: a field it needs may be
 * missing there, and its problem is then reported once the schema's errors are fixed.
 */
function runOnParts(check: ConfigCheck, parts: ParsedConfig, problems: string[]): void {
  const found: string[] = [];
  try {
    check(parts, found);
  } catch {
    return;
  }
  problems.push(...found);
}

function readConfigFile(
  env: Record<string, string | undefined>,
  readFile: (path: string) => string,
  problems: string[],
): ConfigInput | undefined {
  const path = env.GATEHOUSE_CONFIG;
  if (!path) return undefined;
  let text: string;
  try {
    text = readFile(path);
  } catch {
    problems.push(`GATEHOUSE_CONFIG (${path}): cannot be read`);
    throw new ConfigError(problems);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the file around the fault, which may be a secret.
    problems.push(`GATEHOUSE_CONFIG (${path}): is not valid JSON${jsonSyntaxErrorAt(text)}`);
    throw new ConfigError(problems);
  }
  // `null` would otherwise fall back to the development defaults without a word.
  if (!isRecord(parsed)) {
    problems.push(`GATEHOUSE_CONFIG (${path}): must contain a JSON object`);
    throw new ConfigError(problems);
  }
  return parsed as ConfigInput;
}

/** Where the first syntax error is (1-based line and column) and what kind, never the text. */
function jsonSyntaxErrorAt(text: string): string {
  const errors: ParseError[] = [];
  parseJsonc(text, errors, { disallowComments: true, allowTrailingComma: false });
  const first = errors[0];
  if (!first) return '';
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  return `: ${printParseErrorCode(first.error)} at line ${line}, column ${column}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Environment variables win over the file; each one is parsed and reported on its own. */
function applyEnvironment(
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
        problems.push(`GATEHOUSE_ENCRYPTION_KEYS[${index}]: expected "<kid>:<base64url key>"`);
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

/**
 * Which Redis fields belong together; on the unvalidated input, so that these problems are
 * reported together with shape errors. A standalone server's credentials and TLS live in its URL.
 */
function checkRedisInput(input: Record<string, unknown>, problems: string[]): void {
  const { redis } = input;
  if (redis === undefined) {
    if (input.mode === 'production') {
      problems.push(
        'REDIS_URL: required in production mode (or REDIS_SENTINELS + REDIS_SENTINEL_MASTER, or REDIS_CLUSTER_NODES): sessions must survive restarts',
      );
    }
    return;
  }
  if (!isRecord(redis)) return; // the schema reports the shape
  const topologies = (['url', 'sentinels', 'clusterNodes'] as const).filter(
    (field) => redis[field] !== undefined,
  );
  if (topologies.length === 0) {
    problems.push(
      'redis: choose one topology: REDIS_URL (redis.url), REDIS_SENTINELS + REDIS_SENTINEL_MASTER (redis.sentinels, redis.sentinelMaster) or REDIS_CLUSTER_NODES (redis.clusterNodes)',
    );
  } else if (topologies.length > 1) {
    problems.push(
      `redis: exactly one topology, not ${topologies.map((field) => `redis.${field}`).join(' and ')}`,
    );
  }
  const sentinel = redis.sentinels !== undefined;
  if (sentinel && redis.sentinelMaster === undefined) {
    problems.push('REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS (redis.sentinelMaster)');
  }
  for (const field of ['sentinelMaster', 'sentinelPassword'] as const) {
    if (!sentinel && redis[field] !== undefined) {
      problems.push(`redis.${field}: only with REDIS_SENTINELS (redis.sentinels)`);
    }
  }
  if (redis.url !== undefined) {
    for (const field of ['username', 'password', 'tls'] as const) {
      if (redis[field] !== undefined) {
        problems.push(
          `redis.${field}: a standalone server takes it in REDIS_URL (redis://user:password@host:port, rediss:// for TLS)`,
        );
      }
    }
  }
}

function parseTrustProxy(value: string): boolean | number | string {
  if (value === 'true') return true;
  if (value === 'false' || value === '') return false;
  return /^\d+$/.test(value) ? Number(value) : value;
}

type ConfigCheck = (config: ParsedConfig, problems: string[]) => void;

const isLoopbackHost = (hostname: string) =>
  hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname);

function checkPublicUrl(config: ParsedConfig, problems: string[]): void {
  const url = new URL(config.publicUrl);
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    problems.push(
      'publicUrl: must be an origin only (scheme, host, port), e.g. https://app.example.com',
    );
  }
}

/** Works on the unvalidated input, so it runs (and reports) even when the schema fails. */
function checkProductionInput(input: Record<string, unknown>, problems: string[]): void {
  if (input.mode !== 'production') return;
  const { publicUrl, session, encryptionKeys, devIdpOrigins } = input;
  if (
    typeof publicUrl === 'string' &&
    URL.canParse(publicUrl) &&
    new URL(publicUrl).protocol !== 'https:'
  ) {
    problems.push('publicUrl: production mode requires an https PUBLIC_URL');
  }
  if (session === undefined) problems.push('SESSION_SECRET: required in production mode');
  if (encryptionKeys === undefined) {
    problems.push('GATEHOUSE_ENCRYPTION_KEYS: required in production mode');
  }
  if (Array.isArray(devIdpOrigins) && devIdpOrigins.length > 0) {
    problems.push('devIdpOrigins: not allowed in production mode');
  }
  if (input.testControls !== undefined && input.testControls !== false) {
    problems.push(
      'testControls: test controls (GATEHOUSE_TEST_CONTROLS) are never allowed in production mode',
    );
  }
  const secrets: unknown = isRecord(session) ? session.secrets : undefined;
  for (const secret of Array.isArray(secrets) ? (secrets as unknown[]) : []) {
    if (typeof secret === 'string' && looksLikePlaceholder(secret)) {
      problems.push('SESSION_SECRET: looks like a placeholder; use 32+ random characters');
    }
  }
  checkProductionAdminToken(input.adminToken, problems);
}

/** The operator token may call every admin endpoint: long and random, or absent (no operator). */
function checkProductionAdminToken(token: unknown, problems: string[]): void {
  if (typeof token !== 'string') return;
  if (token.length < 32) {
    problems.push('GATEHOUSE_ADMIN_TOKEN: must be at least 32 characters in production mode');
  } else if (looksLikePlaceholder(token)) {
    problems.push('GATEHOUSE_ADMIN_TOKEN: looks like a placeholder; use 32+ random characters');
  }
}

// Placeholder words, or too few distinct characters ("aaaa…", "1234…"). A bare substring "dev"
// is not enough: one random base64url secret in a thousand contains it.
const PLACEHOLDER_WORDS =
  /(?:^|[^a-z0-9])dev(?:[^a-z0-9]|$)|change-?me|placeholder|secret|password|example/i;
const looksLikePlaceholder = (secret: string) =>
  PLACEHOLDER_WORDS.test(secret) || new Set(secret).size < 8;

function checkDevIdpOrigins(config: ParsedConfig, problems: string[]): void {
  for (const origin of config.devIdpOrigins) {
    const url = new URL(origin);
    if (!isLoopbackHost(url.hostname) || url.origin !== origin.replace(/\/$/, '')) {
      problems.push(
        `devIdpOrigins: "${origin}" must be a bare loopback origin (http://localhost:4000)`,
      );
    }
  }
}

function checkTenants(config: ParsedConfig, problems: string[]): void {
  const tenantIds = new Set<string>();
  const domains = new Map<string, string>();
  const hosts = new Map<string, string>();
  for (const tenant of config.tenants) {
    if (tenantIds.has(tenant.id)) problems.push(`tenants: duplicate tenant id "${tenant.id}"`);
    tenantIds.add(tenant.id);
    const idle = tenant.session?.idleTimeoutSeconds ?? config.session?.idleTimeoutSeconds ?? 1800;
    const absolute =
      tenant.session?.absoluteTimeoutSeconds ?? config.session?.absoluteTimeoutSeconds ?? 43_200;
    if (absolute < idle) {
      problems.push(
        `tenants.${tenant.id}.session: the absolute timeout must not be shorter than the idle timeout`,
      );
    }
    for (const domain of tenant.emailDomains) {
      const owner = domains.get(domain);
      if (owner) {
        problems.push(`tenants.${tenant.id}.emailDomains: "${domain}" also belongs to "${owner}"`);
      }
      domains.set(domain, tenant.id);
    }
    for (const host of tenant.hosts ?? []) {
      const owner = hosts.get(host);
      if (owner) problems.push(`tenants.${tenant.id}.hosts: "${host}" also belongs to "${owner}"`);
      hosts.set(host, tenant.id);
    }
    const providerIds = new Set<string>();
    for (const provider of tenant.providers) {
      const where = `tenants.${tenant.id}.providers.${provider.id}`;
      if (providerIds.has(provider.id)) problems.push(`${where}: duplicate provider id`);
      providerIds.add(provider.id);
      checkProviderIssuer(config, provider.issuer, where, problems);
      const needsSecret = SECRET_AUTH_METHODS.has(provider.tokenEndpointAuthMethod);
      if (needsSecret && !provider.clientSecret) {
        problems.push(`${where}.clientSecret: required for ${provider.tokenEndpointAuthMethod}`);
      }
      if (!needsSecret && provider.clientSecret) {
        problems.push(
          `${where}.clientSecret: must be absent for ${provider.tokenEndpointAuthMethod}`,
        );
      }
    }
  }
  if (config.defaultTenant && !tenantIds.has(config.defaultTenant)) {
    problems.push(`defaultTenant: unknown tenant "${config.defaultTenant}"`);
  }
}

function checkProviderIssuer(
  config: ParsedConfig,
  issuer: string,
  where: string,
  problems: string[],
): void {
  const url = new URL(issuer);
  if (url.protocol === 'https:') return;
  // Loopback again here, so that a non-loopback dev origin also flags every issuer on it.
  if (!isPlainHttpDevIdp(url, config) || !isLoopbackHost(url.hostname)) {
    problems.push(
      `${where}.issuer: must be https (http only for a configured dev IdP origin in development mode)`,
    );
  }
}

function checkRoutes(config: ParsedConfig, problems: string[]): void {
  const prefixes = new Set<string>();
  const tenantIds = new Set(config.tenants.map((t) => t.id));
  for (const route of config.routes) {
    if (prefixes.has(route.prefix)) problems.push(`routes: duplicate prefix "${route.prefix}"`);
    prefixes.add(route.prefix);
    const upstream = new URL(route.upstream);
    if (upstream.search || upstream.hash || upstream.username || upstream.password) {
      problems.push(
        `routes.${route.prefix}.upstream: must not carry a query, fragment or credentials`,
      );
    }
    for (const tenant of route.tenants ?? []) {
      if (!tenantIds.has(tenant)) {
        problems.push(`routes.${route.prefix}.tenants: unknown tenant "${tenant}"`);
      }
    }
    if (route.tenants && (route.tokenMode === 'none' || route.tokenMode === 'optional')) {
      // Anonymous calls carry no tenant: such a route could not keep other tenants out.
      problems.push(`routes.${route.prefix}.tenants: only for tokenMode "user" or "gatehouse"`);
    }
    if (route.resource && route.tokenMode !== 'user' && route.tokenMode !== 'optional') {
      problems.push(`routes.${route.prefix}.resource: only for tokenMode "user" or "optional"`);
    }
  }
}

/**
 * `/bff/authz` answers with a bearer token, so only the gateway may reach it: a `trust proxy`
 * of `true` or a hop count trusts whatever peer connects, not only the gateway.
 */
function gatewayWarnings(config: ParsedConfig): string[] {
  const enabled = config.gateway.enabled ?? config.mode === 'development';
  const trustsAnyPeer =
    config.trustProxy === true || (typeof config.trustProxy === 'number' && config.trustProxy > 0);
  if (!enabled || !trustsAnyPeer) return [];
  return [
    "gateway mode is on and TRUST_PROXY trusts any peer (true or a hop count): every client that reaches Gatehouse directly can ask /bff/authz for a token; name the gateway's addresses instead (TRUST_PROXY=10.0.0.5 or a subnet)",
  ];
}

/** The gateway's default route must be a configured route. */
function checkGateway(config: ParsedConfig, problems: string[]): void {
  const route = config.gateway?.route;
  if (route === undefined) return;
  if (!config.routes.some((r) => r.prefix === `/api/${route}`)) {
    problems.push(`gateway.route: no route has the prefix "/api/${route}"`);
  }
}

const configChecks: ConfigCheck[] = [
  checkPublicUrl,
  checkDevIdpOrigins,
  checkTenants,
  checkRoutes,
  checkGateway,
  checkGatehouseRoutes,
  checkSigningKeys,
  checkSessionAndKeys,
  checkWorkers,
];

/** Workers share nothing but Redis: sessions and secrets must be the same in every one. */
function checkWorkers(config: ParsedConfig, problems: string[]): void {
  if (config.workers === 1) return;
  if (!config.redis) {
    problems.push(
      'GATEHOUSE_WORKERS: more than one worker needs Redis (REDIS_URL, …) to share sessions',
    );
  }
  if (!config.session) {
    problems.push(
      'GATEHOUSE_WORKERS: more than one worker needs SESSION_SECRET (the same in every worker)',
    );
  }
  if (!config.encryptionKeys) {
    problems.push(
      'GATEHOUSE_WORKERS: more than one worker needs GATEHOUSE_ENCRYPTION_KEYS (the same in every worker)',
    );
  }
}

function checkSessionAndKeys(config: ParsedConfig, problems: string[]): void {
  const { session, encryptionKeys } = config;
  if (session && session.absoluteTimeoutSeconds < session.idleTimeoutSeconds) {
    problems.push('session.absoluteTimeoutSeconds: must not be shorter than idleTimeoutSeconds');
  }
  const kids = new Set(encryptionKeys?.map((k) => k.kid));
  if (encryptionKeys && kids.size !== encryptionKeys.length) {
    problems.push('encryptionKeys: duplicate kid');
  }
}

/** Development mode may run without secrets: random ones, per process, with a loud warning. */
function resolveSecrets(
  config: ParsedConfig,
  warnings: string[],
): Pick<GatehouseConfig, 'session' | 'encryptionKeys'> {
  const session = config.session ?? {
    secrets: [randomBytes(32).toString('base64url')],
    idleTimeoutSeconds: 1800,
    absoluteTimeoutSeconds: 43_200,
  };
  if (!config.session) {
    warnings.push(
      'SESSION_SECRET is not set: using a random per-process secret (development only).',
    );
  }
  const encryptionKeys = config.encryptionKeys ?? [
    { kid: 'dev', key: randomBytes(32).toString('base64url') },
  ];
  if (!config.encryptionKeys) {
    warnings.push(
      'GATEHOUSE_ENCRYPTION_KEYS is not set: using a random per-process key (development only).',
    );
  }
  return { session, encryptionKeys };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
