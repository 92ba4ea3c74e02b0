import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { entryLabel } from './paths.ts';

/**
 * The variables whose value may instead come from a file named by `<VARIABLE>_FILE` (Docker and
 * Kubernetes secrets).
 */
export const SECRET_FILE_VARIABLES = [
  'SESSION_SECRET',
  'GATEHOUSE_ENCRYPTION_KEYS',
  'GATEHOUSE_SIGNING_KEYS',
  'GATEHOUSE_ADMIN_TOKEN',
  'REDIS_PASSWORD',
  'REDIS_SENTINEL_PASSWORD',
] as const;

/** A secret file larger than this is refused unread (a few RSA keys take a few KiB). */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * Reads one secret file: a regular file of at most {@link MAX_SECRET_FILE_BYTES}, UTF-8, with its
 * trailing line breaks removed (`echo … > file` adds one). Returns the value or a problem that
 * names the file but never repeats what it contains.
 */
export function readSecretFile(path: string): { value: string } | { problem: string } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    return { problem: `cannot be read (${errorCode(error)})` };
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { problem: 'is not a regular file' };
    if (stat.size > MAX_SECRET_FILE_BYTES) {
      return { problem: `is larger than ${MAX_SECRET_FILE_BYTES} bytes` };
    }
    // One byte more than the cap: a file that grew since fstat is still caught.
    const buffer = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length > MAX_SECRET_FILE_BYTES) {
        return { problem: `is larger than ${MAX_SECRET_FILE_BYTES} bytes` };
      }
    }
    const value = buffer
      .subarray(0, length)
      .toString('utf8')
      .replace(/[\r\n]+$/, '');
    if (value.trim() === '') return { problem: 'is empty' };
    return { value };
  } catch (error) {
    return { problem: `cannot be read (${errorCode(error)})` };
  } finally {
    closeSync(fd);
  }
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'error';
}

/**
 * The environment with every `<VARIABLE>_FILE` of {@link SECRET_FILE_VARIABLES} read into
 * `<VARIABLE>`. Both set is a problem (which one wins would be a guess), and so is a file that
 * cannot be used.
 */
export function resolveSecretFileVariables(
  env: Record<string, string | undefined>,
  problems: string[],
  read: (path: string) => { value: string } | { problem: string } = readSecretFile,
): Record<string, string | undefined> {
  const out = { ...env };
  for (const name of SECRET_FILE_VARIABLES) {
    const path = env[`${name}_FILE`];
    if (path === undefined || path === '') continue;
    if (env[name] !== undefined && env[name] !== '') {
      problems.push(`${name} and ${name}_FILE: set one of them, not both`);
      continue;
    }
    const result = read(path);
    if ('problem' in result) problems.push(`${name}_FILE (${path}): ${result.problem}`);
    else out[name] = result.value;
  }
  return out;
}

/**
 * Client secrets in the config file may be `{ "file": "/run/secrets/…" }`: read here, before the
 * schema sees the providers. Works on the raw input; anything else is left to the schema.
 */
export function resolveClientSecretFiles(
  input: Record<string, unknown>,
  problems: string[],
  read: (path: string) => { value: string } | { problem: string } = readSecretFile,
): Record<string, unknown> {
  const tenants = input.tenants;
  if (!Array.isArray(tenants)) return input;
  return {
    ...input,
    tenants: tenants.map((tenant: unknown, t) => {
      if (!isRecord(tenant) || !Array.isArray(tenant.providers)) return tenant;
      return {
        ...tenant,
        providers: tenant.providers.map((provider: unknown, p) => {
          if (!isRecord(provider) || !isRecord(provider.clientSecret)) return provider;
          const reference = provider.clientSecret;
          const where = `tenants.${entryLabel('tenants', tenant.id, t)}.providers.${entryLabel('providers', provider.id, p)}.clientSecret`;
          const keys = Object.keys(reference);
          if (keys.length !== 1 || typeof reference.file !== 'string' || reference.file === '') {
            problems.push(`${where}: must be a string or { "file": "<path>" }`);
            return { ...provider, clientSecret: undefined };
          }
          const result = read(reference.file);
          if ('problem' in result) {
            problems.push(`${where} (${reference.file}): ${result.problem}`);
            return { ...provider, clientSecret: undefined };
          }
          return { ...provider, clientSecret: result.value };
        }),
      };
    }),
  };
}

/** A config entry's id when it is a string, else its index. */

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
