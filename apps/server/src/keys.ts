import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Fresh secrets, each in the exact form its variable takes. */
export interface FreshKeys {
  /** Cookie-signing secret: 32 random bytes, hex (64 characters). */
  SESSION_SECRET: string;
  /** `<kid>:<32 random bytes, base64url>`. */
  GATEHOUSE_ENCRYPTION_KEYS: string;
  /** JSON array with one `{ kid, privateJwk }`: an EC P-256 (ES256) private JWK. */
  GATEHOUSE_SIGNING_KEYS: string;
  /** The operator's bearer token for the admin API: 32 random bytes, hex. */
  GATEHOUSE_ADMIN_TOKEN: string;
}

/** A key id that says when it was made (rotation lists read oldest to newest) and is unique. */
function keyId(prefix: string, now: Date): string {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '');
  return `${prefix}-${day}-${randomBytes(3).toString('hex')}`;
}

/** Generates every secret Gatehouse takes, with node:crypto's CSPRNG and key generator. */
export function generateKeys(now = new Date()): FreshKeys {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingKey = { kid: keyId('sig', now), privateJwk: privateKey.export({ format: 'jwk' }) };
  return {
    SESSION_SECRET: randomBytes(32).toString('hex'),
    GATEHOUSE_ENCRYPTION_KEYS: `${keyId('enc', now)}:${randomBytes(32).toString('base64url')}`,
    GATEHOUSE_SIGNING_KEYS: JSON.stringify([signingKey]),
    GATEHOUSE_ADMIN_TOKEN: randomBytes(32).toString('hex'),
  };
}

const USAGE = `Usage: gatehouse keys [--dir <directory>]

Prints fresh secrets as NAME='value' lines (for a shell or a compose .env file):
SESSION_SECRET, GATEHOUSE_ENCRYPTION_KEYS, GATEHOUSE_SIGNING_KEYS, GATEHOUSE_ADMIN_TOKEN.
With --dir, writes each to its own file (mode 0600) instead, named after the variable in lower
case, for the <NAME>_FILE variables (Docker and Kubernetes secrets).
To rotate, add the new encryption or signing key beside the current ones (README, Key rotation).
`;

/**
 * `gatehouse keys`: prints the secrets (or writes them to `--dir`), and returns the exit code.
 * Nothing is ever written to a file that already exists.
 */
export function keysCommand(args: readonly string[], out: NodeJS.WritableStream): number {
  if (args.includes('--help') || args.includes('-h')) {
    out.write(USAGE);
    return 0;
  }
  const dirAt = args.indexOf('--dir');
  const dir = dirAt === -1 ? undefined : args[dirAt + 1];
  const known = dirAt === -1 ? args.length === 0 : args.length === 2 && Boolean(dir);
  if (!known) {
    process.stderr.write(USAGE);
    return 2;
  }
  const keys = generateKeys();
  if (!dir) {
    for (const [name, value] of Object.entries(keys)) out.write(`${name}='${value}'\n`);
    return 0;
  }
  const files = Object.entries(keys).map(([name, value]: [string, string]) => ({
    path: join(dir, name.toLowerCase()),
    value,
  }));
  const existing = files.find(({ path }) => existsSync(path));
  if (existing) {
    process.stderr.write(`${existing.path}: exists already; nothing written\n`);
    return 1;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const { path, value } of files) {
    try {
      writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      process.stderr.write(`${path}: ${(error as Error).message}\n`);
      return 1;
    }
    out.write(`${path}\n`);
  }
  return 0;
}
