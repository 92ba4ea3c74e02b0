import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { madeUpKey } from '../config/made-up-keys.ts';

/** The only algorithms Gatehouse signs downstream tokens with. */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** Upper bound of a downstream token's lifetime; also how long a retired key stays published. */
export const MAX_TOKEN_LIFETIME_SECONDS = 300;
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 300;

const MIN_RSA_BITS = 2048;

export const signingKeySchema = z.strictObject({
  kid: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ -'),
  /** A private JWK (EC P-256 or RSA); checked in depth by {@link checkSigningKeys}. */
  privateJwk: z.record(z.string(), z.unknown()),
  /**
   * From this instant the key no longer signs; it stays in the JWKS for
   * {@link MAX_TOKEN_LIFETIME_SECONDS} more so that its tokens still verify. A future instant
   * schedules a rotation: the next key in the list is already published before it signs.
   */
  retiredAt: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }).optional(),
});

export type SigningKeyConfig = z.output<typeof signingKeySchema>;

/** The parts of a config these checks need (structural, so there is no import cycle). */
interface SigningKeyCheckInput {
  mode: 'development' | 'production';
  signingKeys?: SigningKeyConfig[] | undefined;
  routes: ReadonlyArray<{
    prefix: string;
    tokenMode: string;
    audience?: string | undefined;
    tokenLifetimeSeconds?: number | undefined;
  }>;
}

/**
 * `GATEHOUSE_SIGNING_KEYS`: a JSON array of `{ kid, privateJwk, retiredAt? }`. The value is a
 * secret, so a parse error never repeats it.
 */
export function parseSigningKeysEnv(raw: string, problems: string[]): unknown {
  try {
    const parsed: unknown = JSON.parse(raw);
    if (Array.isArray(parsed)) return parsed;
  } catch {
    // reported below without the value
  }
  problems.push('GATEHOUSE_SIGNING_KEYS: must be a JSON array of { kid, privateJwk, retiredAt? }');
  return undefined;
}

/** Production: a `gatehouse`-mode route needs configured keys (runs on the unvalidated input). */
export function checkSigningKeysInProduction(
  input: Record<string, unknown>,
  problems: string[],
): void {
  if (input.mode !== 'production' || input.signingKeys !== undefined) return;
  const routes: unknown[] = Array.isArray(input.routes) ? (input.routes as unknown[]) : [];
  const usesGatehouseTokens = routes.some(
    (route) =>
      typeof route === 'object' &&
      route !== null &&
      (route as { tokenMode?: unknown }).tokenMode === 'gatehouse',
  );
  if (usesGatehouseTokens) {
    problems.push(
      'GATEHOUSE_SIGNING_KEYS: required in production mode when a route uses tokenMode "gatehouse"',
    );
  }
}

/** `gatehouse` routes need an audience; the token options make no sense on other modes. */
export function checkGatehouseRoutes(config: SigningKeyCheckInput, problems: string[]): void {
  for (const route of config.routes) {
    const where = `routes.${route.prefix}`;
    if (route.tokenMode === 'gatehouse') {
      if (!route.audience) problems.push(`${where}.audience: required for tokenMode "gatehouse"`);
      continue;
    }
    if (route.audience !== undefined) {
      problems.push(`${where}.audience: only allowed with tokenMode "gatehouse"`);
    }
    if (route.tokenLifetimeSeconds !== undefined) {
      problems.push(`${where}.tokenLifetimeSeconds: only allowed with tokenMode "gatehouse"`);
    }
  }
}

/** Every problem of the configured signing keys, without ever echoing key material. */
export function checkSigningKeys(config: SigningKeyCheckInput, problems: string[]): void {
  const keys = config.signingKeys;
  if (!keys) return;
  if (keys.length === 0) problems.push('signingKeys: must contain at least one key');
  const kids = new Set<string>();
  for (const [index, key] of keys.entries()) {
    // Named as every configuration problem names a list entry (config/paths.ts): by its kid
    // when that is a plain name, else by its position.
    const named = /^[A-Za-z0-9_-]{1,64}$/.test(key.kid) && !/^\d+$/.test(key.kid);
    const where = `signingKeys.${named ? key.kid : index}`;
    if (kids.has(key.kid)) problems.push(`${where}: duplicate kid`);
    kids.add(key.kid);
    for (const problem of privateJwkProblems(key.privateJwk)) {
      problems.push(`${where}.privateJwk: ${problem}`);
    }
  }
  if (keys.length > 0 && keys.every((key) => key.retiredAt !== undefined)) {
    problems.push('signingKeys: at least one key must have no retiredAt (it signs after rotation)');
  }
}

function privateJwkProblems(jwk: Record<string, unknown>): string[] {
  const alg = algorithmOf(jwk);
  if (!alg) {
    return ['key type not allowed: use EC P-256 (ES256) or RSA of 2048+ bits (RS256)'];
  }
  if (jwk.d === undefined) {
    return ['is a public key; a private JWK (with "d") is needed to sign'];
  }
  const problems: string[] = [];
  if (jwk.alg !== undefined && jwk.alg !== alg) {
    problems.push(`alg not allowed: this key signs ${alg} only (ES256 or RS256)`);
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') problems.push('use must be "sig" when present');
  const key = importPrivateJwk(jwk);
  if (!key) {
    problems.push('not a valid private JWK');
  } else if (alg === 'RS256' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    problems.push(`RSA key too short: at least ${MIN_RSA_BITS} bits`);
  }
  return problems;
}

/** ES256 for EC P-256, RS256 for RSA; anything else (oct, OKP, other curves) is refused. */
export function algorithmOf(jwk: Record<string, unknown>): SigningAlgorithm | undefined {
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'RSA') return 'RS256';
  return undefined;
}

/** Node's importer: synchronous, so the config stays a plain synchronous check. */
export function importPrivateJwk(jwk: Record<string, unknown>): KeyObject | undefined {
  try {
    // Node's JsonWebKey is an open record; the importer itself checks every member.
    const key = createPrivateKey({ key: jwk, format: 'jwk' });
    return key.asymmetricKeyType === 'ec' || key.asymmetricKeyType === 'rsa' ? key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The configured keys, or in development mode without any a fresh ES256 key for this process
 * (with a loud warning: tokens stop verifying after a restart and differ per instance).
 */
export function resolveSigningKeys(
  config: SigningKeyCheckInput,
  warnings: string[],
): SigningKeyConfig[] {
  if (config.signingKeys) return config.signingKeys;
  if (config.mode !== 'development') return [];
  warnings.push(
    'GATEHOUSE_SIGNING_KEYS is not set: signing downstream tokens with a random per-process ES256 key (development only).',
  );
  return [generateDevelopmentKey()];
}

function generateDevelopmentKey(): SigningKeyConfig {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return madeUpKey({
    kid: `dev-${randomBytes(6).toString('base64url')}`,
    privateJwk: { ...privateKey.export({ format: 'jwk' }) },
  });
}
