import { isRecord } from './environment.ts';

/**
 * Which Redis fields belong together; on the unvalidated input, so that these problems are
 * reported together with shape errors. A standalone server's credentials and TLS live in its URL.
 */
export function checkRedisInput(input: Record<string, unknown>, problems: string[]): void {
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

/** Works on the unvalidated input, so it runs (and reports) even when the schema fails. */
export function checkProductionInput(input: Record<string, unknown>, problems: string[]): void {
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
