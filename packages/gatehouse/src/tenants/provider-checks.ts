import type { CustomFetch } from 'openid-client';
import { GatehouseError } from '../errors.ts';
import type { TokenEndpointAuthMethod } from './model.ts';
import { isPlainHttpDevIdp } from '../config/dev-idp.ts';

/** The checks a provider must pass before it is stored, in the order they run. */
export const PROVIDER_CHECKS = [
  'issuer_scheme',
  'discovery_failed',
  'issuer_mismatch',
  'code_flow_unsupported',
  'pkce_unsupported',
  'jwks_unavailable',
  'auth_method_unsupported',
  'par_mismatch',
  'id_token_alg_unsupported',
] as const;
export type ProviderCheck = (typeof PROVIDER_CHECKS)[number];

/** The ID token signing algorithm Gatehouse pins for every provider (see ProviderClients). */
export const ID_TOKEN_ALGORITHM = 'RS256';

/**
 * The one answer for every failure to fetch a document: refused address, closed port, timeout,
 * TLS error or an error status all read the same, so the API is no port scanner.
 */
export const DISCOVERY_UNREACHABLE =
  'The discovery document could not be fetched from the issuer, or is not valid JSON.';
export const JWKS_UNREACHABLE =
  'The JWKS could not be fetched from jwks_uri, or is not valid JSON.';

/** A failed check: 422 `provider_check_failed` with the check's name and a safe detail. */
export class ProviderCheckFailed extends GatehouseError {
  readonly check: ProviderCheck;
  constructor(check: ProviderCheck, detail: string, options: { cause?: unknown } = {}) {
    // The cause (the precise network error) goes to the log only, never to the client.
    super('provider_check_failed', { detail, extra: { check }, cause: options.cause });
    this.name = 'ProviderCheckFailed';
    this.check = check;
  }
}

export interface ProviderCheckOptions {
  /** The guarded fetch (all tenant-provider traffic goes through it). */
  fetch: CustomFetch;
  mode: 'development' | 'production';
  /** Development only: origins whose issuers may use http. */
  devIdpOrigins: readonly string[];
  timeoutMs?: number;
}

export interface ProviderCheckSubject {
  issuer: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  /** Pushed authorization requests (absent: `auto`). */
  par?: 'auto' | 'required' | 'off';
}

/** What a passing provider looks like from discovery (shown by the test endpoint). */
export interface ProviderCheckReport {
  checks: ProviderCheck[];
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  endSessionEndpoint: string | undefined;
  backchannelLogoutSupported: boolean;
}

export interface ProviderChecker {
  /** Every check, in order; throws {@link ProviderCheckFailed} at the first failure. */
  (subject: ProviderCheckSubject): Promise<ProviderCheckReport>;
  /** Only the local `issuer_scheme` check (no network), for providers saved disabled. */
  checkIssuerScheme(issuer: string): void;
}

// Per OpenID Connect Discovery 1.0 §3: the default when the metadata is absent.
const DEFAULT_AUTH_METHODS = ['client_secret_basic'];

/**
 * Builds the checks run on every provider create and update (and by `…/test`): https issuer
 * (http only for a configured dev IdP origin in development), discovery through the guarded
 * fetch, the exact `issuer`, code flow, PKCE S256, a fetchable JWKS and the auth method.
 * Throws {@link ProviderCheckFailed} at the first failure.
 *
 * @example
 * const check = createProviderChecker({ fetch: guardedFetch, mode: 'production', devIdpOrigins: [] });
 * await check({ issuer: 'https://login.example.com', tokenEndpointAuthMethod: 'client_secret_basic' });
 */
export function createProviderChecker(options: ProviderCheckOptions): ProviderChecker {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const isAllowedUrl = (url: URL) => url.protocol === 'https:' || isPlainHttpDevIdp(url, options);

  const checkIssuerScheme = (issuer: string) => {
    const url = URL.parse(issuer);
    if (!url || !isAllowedUrl(url)) {
      throw new ProviderCheckFailed(
        'issuer_scheme',
        'The issuer must be an https URL (http only for a configured dev IdP in development mode).',
      );
    }
  };

  return Object.assign(
    async (subject: ProviderCheckSubject): Promise<ProviderCheckReport> => {
      checkIssuerScheme(subject.issuer);
      const discoveryUrl = `${subject.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const metadata = await fetchJson(options.fetch, discoveryUrl, timeoutMs);
      if (!isRecord(metadata))
        throw new ProviderCheckFailed('discovery_failed', DISCOVERY_UNREACHABLE);

      if (metadata.issuer !== subject.issuer) {
        const announced = typeof metadata.issuer === 'string' ? metadata.issuer.slice(0, 300) : '';
        throw new ProviderCheckFailed(
          'issuer_mismatch',
          `The discovery document names the issuer "${announced}"; register exactly that value.`,
        );
      }
      const authorizationEndpoint = endpoint(metadata, 'authorization_endpoint', isAllowedUrl);
      const tokenEndpoint = endpoint(metadata, 'token_endpoint', isAllowedUrl);
      if (!stringList(metadata.response_types_supported).includes('code')) {
        throw new ProviderCheckFailed(
          'code_flow_unsupported',
          'The provider does not list "code" in response_types_supported.',
        );
      }
      if (!stringList(metadata.code_challenge_methods_supported).includes('S256')) {
        throw new ProviderCheckFailed(
          'pkce_unsupported',
          'The provider does not list "S256" in code_challenge_methods_supported; PKCE is required.',
        );
      }
      await checkJwks(options.fetch, metadata.jwks_uri, timeoutMs);
      const methods =
        metadata.token_endpoint_auth_methods_supported === undefined
          ? DEFAULT_AUTH_METHODS
          : stringList(metadata.token_endpoint_auth_methods_supported);
      if (!methods.includes(subject.tokenEndpointAuthMethod)) {
        throw new ProviderCheckFailed(
          'auth_method_unsupported',
          `The provider does not support ${subject.tokenEndpointAuthMethod} (it lists: ${methods.slice(0, 10).join(', ') || 'nothing'}).`,
        );
      }
      checkPar(subject.par ?? 'auto', metadata);
      // Gatehouse expects RS256 ID tokens (the OIDC default); an IdP that says it signs with
      // something else only would fail every login, so refuse it here, not at sign-in time.
      const algorithms = stringList(metadata.id_token_signing_alg_values_supported);
      if (algorithms.length > 0 && !algorithms.includes(ID_TOKEN_ALGORITHM)) {
        throw new ProviderCheckFailed(
          'id_token_alg_unsupported',
          `The provider does not sign ID tokens with ${ID_TOKEN_ALGORITHM} (it lists: ${algorithms.slice(0, 10).join(', ')}).`,
        );
      }
      return {
        checks: [...PROVIDER_CHECKS],
        issuer: subject.issuer,
        authorizationEndpoint,
        tokenEndpoint,
        endSessionEndpoint:
          typeof metadata.end_session_endpoint === 'string'
            ? metadata.end_session_endpoint
            : undefined,
        backchannelLogoutSupported: metadata.backchannel_logout_supported === true,
      };
    },
    { checkIssuerScheme },
  );
}

async function checkJwks(fetch: CustomFetch, jwksUri: unknown, timeoutMs: number): Promise<void> {
  if (typeof jwksUri !== 'string' || !URL.canParse(jwksUri)) {
    throw new ProviderCheckFailed(
      'jwks_unavailable',
      'The discovery document has no valid jwks_uri.',
    );
  }
  let jwks: unknown;
  try {
    jwks = await fetchJson(fetch, jwksUri, timeoutMs);
  } catch (error) {
    const cause = error instanceof ProviderCheckFailed ? error.cause : error;
    throw new ProviderCheckFailed('jwks_unavailable', JWKS_UNREACHABLE, { cause });
  }
  if (!isRecord(jwks) || !Array.isArray(jwks.keys)) {
    throw new ProviderCheckFailed('jwks_unavailable', JWKS_UNREACHABLE);
  }
  if (!jwks.keys.some((key) => isRecord(key) && typeof key.kty === 'string')) {
    throw new ProviderCheckFailed('jwks_unavailable', 'The JWKS has no keys.');
  }
}

/** GET + JSON; every failure is the same generic `discovery_failed` (callers may re-label it). */
async function fetchJson(fetch: CustomFetch, url: string, timeoutMs: number): Promise<unknown> {
  try {
    const response = await fetch(url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      body: undefined,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new Error(`status ${response.status}`);
    }
    const body: unknown = await response.json();
    return body;
  } catch (error) {
    throw new ProviderCheckFailed('discovery_failed', DISCOVERY_UNREACHABLE, { cause: error });
  }
}

function endpoint(
  metadata: Record<string, unknown>,
  name: string,
  isAllowedUrl: (url: URL) => boolean,
): string {
  const value = metadata[name];
  const url = typeof value === 'string' ? URL.parse(value) : null;
  if (!url || !isAllowedUrl(url)) {
    throw new ProviderCheckFailed(
      'discovery_failed',
      `The discovery document has no valid https ${name}.`,
    );
  }
  return value as string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * RFC 9126: `required` needs the OP's PAR endpoint; `off` cannot work with an OP that refuses
 * authorization requests not pushed first (`require_pushed_authorization_requests`).
 */
export function checkPar(
  par: 'auto' | 'required' | 'off',
  metadata: Record<string, unknown>,
): void {
  const endpoint = typeof metadata.pushed_authorization_request_endpoint === 'string';
  if (par === 'required' && !endpoint) {
    throw new ProviderCheckFailed(
      'par_mismatch',
      'The provider has no pushed_authorization_request_endpoint; set par to "auto" or "off".',
    );
  }
  if (par === 'off' && metadata.require_pushed_authorization_requests === true) {
    throw new ProviderCheckFailed(
      'par_mismatch',
      'The provider requires pushed authorization requests (PAR); set par to "auto" or "required".',
    );
  }
}
