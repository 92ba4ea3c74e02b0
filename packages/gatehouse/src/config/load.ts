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
import { validParts } from './valid-parts.ts';
import { resolveClientSecretFiles, resolveSecretFileVariables } from './secret-files.ts';
import { applyEnvironment, isRecord } from './environment.ts';
import { checkProductionInput, checkRedisInput } from './input-checks.ts';
import { configChecks, gatewayWarnings, type ConfigCheck } from './checks.ts';
import { configPath } from './paths.ts';
import { checkSigningKeysInProduction, resolveSigningKeys } from '../tokens/signing-key-config.ts';
import { madeUpKey } from './made-up-keys.ts';

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
      problems.push(`${configPath(merged, issue.path)}: ${issue.message}`);
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
  // A kid of its own too: what an earlier process sealed (in a Redis that outlived it) then reads
  // as sealed under a retired key, which ends the session cleanly (401), where the same kid with
  // another key would fail to open on every call.
  const encryptionKeys = config.encryptionKeys ?? [
    madeUpKey({
      kid: `dev-${randomBytes(6).toString('base64url')}`,
      key: randomBytes(32).toString('base64url'),
    }),
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
