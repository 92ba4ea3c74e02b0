/*
 * Over 300 lines on purpose: the catalogue of provider checks (names, fields, order), the runner
 * that reports every one of them, and each check's function share the subject, verdict and
 * metadata types; splitting the checks out would make those types travel in a circle.
 */
import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import type { CustomFetch } from 'openid-client';
import { GatehouseError } from '../errors.ts';
import { isPlainHttpDevIdp } from '../config/dev-idp.ts';
import type { ClientKeyAlgorithm } from './client-key-model.ts';
import { chooseClientKeyAlgorithm, type ClientSigningKey } from './client-keys.ts';
import {
  ID_TOKEN_SIGNING_ALGORITHMS,
  type PAR_MODES,
  SECRET_AUTH_METHODS,
  type IdTokenSigningAlgorithm,
  type PkceMode,
  type TokenEndpointAuthMethod,
} from './provider-schema.ts';

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
  'credentials_rejected',
] as const;
export type ProviderCheck = (typeof PROVIDER_CHECKS)[number];

/** The provider field each check concerns (null: none the tenant admin could change). */
const CHECK_FIELDS: Readonly<Record<ProviderCheck, string | null>> = {
  issuer_scheme: 'issuer',
  discovery_failed: 'issuer',
  issuer_mismatch: 'issuer',
  code_flow_unsupported: null,
  pkce_unsupported: 'pkce',
  jwks_unavailable: null,
  auth_method_unsupported: 'tokenEndpointAuthMethod',
  par_mismatch: 'par',
  id_token_alg_unsupported: 'idTokenSignedResponseAlg',
  credentials_rejected: 'clientSecret',
};

/** One check's outcome: its stable name, pass or fail, a sentence and the field it concerns. */
export interface ProviderCheckResult {
  name: ProviderCheck;
  ok: boolean;
  message: string;
  field: string | null;
}

/**
 * The one answer for every failure to fetch a document: refused address, closed port, timeout,
 * TLS error or an error status all read the same, so the API is no port scanner.
 */
export const DISCOVERY_UNREACHABLE =
  'The discovery document could not be fetched from the issuer, or is not valid JSON.';
export const JWKS_UNREACHABLE =
  'The JWKS could not be fetched from jwks_uri, or is not valid JSON.';

/**
 * A failed check: 422 `provider_check_failed` with the (first failed) check's name and a safe
 * detail, and every check's outcome when they ran.
 */
export class ProviderCheckFailed extends GatehouseError {
  readonly check: ProviderCheck;
  constructor(
    check: ProviderCheck,
    detail: string,
    options: { cause?: unknown; checks?: readonly ProviderCheckResult[] } = {},
  ) {
    // The cause (the precise network error) goes to the log only, never to the client.
    super('provider_check_failed', {
      detail,
      extra: { check, ...(options.checks ? { checks: options.checks } : {}) },
      cause: options.cause,
    });
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

/** What the checks look at: the provider's settings, and its secret for the credentials check. */
export interface ProviderCheckSubject {
  issuer: string;
  clientId: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  pkce: PkceMode;
  idTokenSignedResponseAlg?: IdTokenSigningAlgorithm | undefined;
  /** The secret the credentials check presents (secret methods only). */
  clientSecret?: string | undefined;
  /**
   * private_key_jwt: the key the credentials check signs its client assertion with (the
   * provider's signing key, made for a candidate that has none yet), of the algorithm chosen
   * from the OP's discovery.
   */
  clientAssertionKey?: ((algorithm: ClientKeyAlgorithm) => Promise<ClientSigningKey>) | undefined;
  /** private_key_jwt: Gatehouse's JWKS URL for this provider, named when the OP refuses the key. */
  jwksUri?: string | undefined;
  /** The provider's redirect URI, sent with the dummy code as a real exchange would. */
  redirectUri: string;
  /** Pushed authorization requests: required, so that no caller checks a provider as `auto` by omission. */
  par: (typeof PAR_MODES)[number];
}

/** What discovery said, once it could be read. */
export interface DiscoverySummary {
  issuer: string;
  authorizationEndpoint: string | null;
  tokenEndpoint: string | null;
  endSessionEndpoint: string | null;
  backchannelLogoutSupported: boolean;
  /** The ID token algorithm sign-ins will expect (configured, or chosen from discovery). */
  idTokenSigningAlg: IdTokenSigningAlgorithm | null;
}

/** Every check, named, in order: `ok` when all of them passed. */
export interface ProviderCheckReport {
  ok: boolean;
  checks: ProviderCheckResult[];
  discovery: DiscoverySummary | null;
}

export interface ProviderChecker {
  /** Every check, in order; never throws for a failed check (see {@link assertChecksPassed}). */
  (subject: ProviderCheckSubject): Promise<ProviderCheckReport>;
  /** Only the local `issuer_scheme` check (no network), for providers saved disabled. */
  checkIssuerScheme(issuer: string): void;
}

/** Throws {@link ProviderCheckFailed} for the first failed check, carrying every outcome. */
export function assertChecksPassed(report: ProviderCheckReport): void {
  const failed = report.checks.find((check) => !check.ok);
  if (failed) {
    throw new ProviderCheckFailed(failed.name, failed.message, { checks: report.checks });
  }
}

// Per OpenID Connect Discovery 1.0 §3: the defaults when the metadata is absent.
const DEFAULT_AUTH_METHODS = ['client_secret_basic'];

/** A code no provider issued: the token endpoint must refuse it, after authenticating us. */
const DUMMY_CODE = 'gatehouse-credentials-check';

const listed = (values: readonly string[]) => values.slice(0, 10).join(', ') || 'nothing';

/**
 * Builds the checks run on every provider create and update, by `…/test` and by
 * `…/provider-checks`: https issuer (http only for a configured dev IdP origin in development),
 * discovery through the guarded fetch, the exact `issuer`, code flow, PKCE S256, a fetchable
 * JWKS, the auth method, the ID token algorithm, and the client credentials (a dummy
 * authorization code at the token endpoint: `invalid_grant` means they were accepted).
 *
 * @example
 * const check = createProviderChecker({ fetch: guardedFetch, mode: 'production', devIdpOrigins: [] });
 * const report = await check({ issuer: 'https://login.example.com', clientId: 'gh', … });
 * assertChecksPassed(report);
 */
export function createProviderChecker(options: ProviderCheckOptions): ProviderChecker {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const isAllowedUrl = (url: URL) => url.protocol === 'https:' || isPlainHttpDevIdp(url, options);
  const SCHEME_MESSAGE =
    'The issuer must be an https URL (http only for a configured dev IdP in development mode).';

  const checkIssuerScheme = (issuer: string) => {
    const url = URL.parse(issuer);
    if (!url || !isAllowedUrl(url)) throw new ProviderCheckFailed('issuer_scheme', SCHEME_MESSAGE);
  };

  return Object.assign(
    async (subject: ProviderCheckSubject): Promise<ProviderCheckReport> => {
      const checks: ProviderCheckResult[] = [];
      const pass = (name: ProviderCheck, message: string) =>
        checks.push({ name, ok: true, message, field: CHECK_FIELDS[name] });
      const fail = (name: ProviderCheck, message: string, field = CHECK_FIELDS[name]) =>
        checks.push({ name, ok: false, message, field });
      const report = (discovery: DiscoverySummary | null): ProviderCheckReport => {
        // Checks that could not run are reported too, as not passed.
        for (const name of PROVIDER_CHECKS) {
          if (!checks.some((check) => check.name === name)) {
            fail(name, 'Not checked: the discovery document could not be used.');
          }
        }
        const order = (check: ProviderCheckResult) => PROVIDER_CHECKS.indexOf(check.name);
        checks.sort((a, b) => order(a) - order(b));
        return { ok: checks.every((check) => check.ok), checks, discovery };
      };

      const issuerUrl = URL.parse(subject.issuer);
      if (!issuerUrl || !isAllowedUrl(issuerUrl)) {
        fail('issuer_scheme', SCHEME_MESSAGE);
        return report(null);
      }
      pass('issuer_scheme', `The issuer uses ${issuerUrl.protocol.slice(0, -1)}.`);

      const discoveryUrl = `${subject.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const metadata = await fetchJson(options.fetch, discoveryUrl, timeoutMs).catch(
        () => undefined,
      );
      if (!isRecord(metadata)) {
        fail('discovery_failed', DISCOVERY_UNREACHABLE);
        return report(null);
      }
      const authorizationEndpoint = endpoint(metadata, 'authorization_endpoint', isAllowedUrl);
      const tokenEndpoint = endpoint(metadata, 'token_endpoint', isAllowedUrl);
      if (!authorizationEndpoint || !tokenEndpoint) {
        const missing = authorizationEndpoint ? 'token_endpoint' : 'authorization_endpoint';
        fail('discovery_failed', `The discovery document has no valid https ${missing}.`);
      } else {
        pass('discovery_failed', 'The discovery document was read.');
      }

      if (metadata.issuer !== subject.issuer) {
        const announced = typeof metadata.issuer === 'string' ? metadata.issuer.slice(0, 300) : '';
        fail(
          'issuer_mismatch',
          `The discovery document names the issuer "${announced}"; register exactly that value.`,
        );
        return report(null);
      }
      pass('issuer_mismatch', 'The discovery document names exactly this issuer.');

      if (stringList(metadata.response_types_supported).includes('code')) {
        pass('code_flow_unsupported', 'The provider supports the authorization code flow.');
      } else {
        fail(
          'code_flow_unsupported',
          'The provider does not list "code" in response_types_supported.',
        );
      }

      checkPkce(subject, metadata, pass, fail);

      const jwksProblem = await checkJwks(options.fetch, metadata.jwks_uri, timeoutMs);
      if (jwksProblem) fail('jwks_unavailable', jwksProblem);
      else pass('jwks_unavailable', "The provider's signing keys (JWKS) could be read.");

      const methods =
        metadata.token_endpoint_auth_methods_supported === undefined
          ? DEFAULT_AUTH_METHODS
          : stringList(metadata.token_endpoint_auth_methods_supported);
      const methodSupported = methods.includes(subject.tokenEndpointAuthMethod);
      if (methodSupported) {
        pass(
          'auth_method_unsupported',
          `The provider supports ${subject.tokenEndpointAuthMethod} at its token endpoint.`,
        );
      } else {
        fail(
          'auth_method_unsupported',
          `The provider does not support ${subject.tokenEndpointAuthMethod} (it lists: ${listed(methods)}).`,
        );
      }
      // PAR: `required` needs the OP's endpoint; an OP that requires PAR refuses `off`.
      try {
        checkPar(subject.par, metadata);
        pass('par_mismatch', 'Pushed authorization requests fit what the provider offers.');
      } catch (error) {
        if (!(error instanceof ProviderCheckFailed)) throw error;
        fail('par_mismatch', error.message);
      }

      const algorithms = idTokenAlgorithmsOf(metadata);
      const alg = subject.idTokenSignedResponseAlg ?? chooseIdTokenAlgorithm(algorithms);
      if (alg && algorithms.includes(alg)) {
        pass(
          'id_token_alg_unsupported',
          subject.idTokenSignedResponseAlg
            ? `The provider signs ID tokens with ${alg}, as configured.`
            : `ID tokens are expected signed with ${alg}, chosen from the provider's list (${listed(algorithms)}).`,
        );
      } else if (subject.idTokenSignedResponseAlg) {
        fail(
          'id_token_alg_unsupported',
          `The provider does not sign ID tokens with ${subject.idTokenSignedResponseAlg} (it lists: ${listed(algorithms)}).`,
        );
      } else {
        fail(
          'id_token_alg_unsupported',
          `The provider signs ID tokens with no asymmetric algorithm Gatehouse accepts (it lists: ${listed(algorithms)}).`,
        );
      }

      if (!tokenEndpoint) {
        fail('credentials_rejected', 'Not checked: the provider has no valid token endpoint.');
      } else if (!methodSupported) {
        fail(
          'credentials_rejected',
          `Not checked: the provider does not support ${subject.tokenEndpointAuthMethod}.`,
          'tokenEndpointAuthMethod',
        );
      } else {
        const outcome = await checkCredentials(
          subject,
          metadata,
          options,
          isPlainHttpDevIdp(new URL(tokenEndpoint), options),
          timeoutMs,
        );
        const field = SECRET_AUTH_METHODS.has(subject.tokenEndpointAuthMethod)
          ? 'clientSecret'
          : 'tokenEndpointAuthMethod';
        if (outcome.ok) pass('credentials_rejected', outcome.message);
        else fail('credentials_rejected', outcome.message, field);
      }

      return report({
        issuer: subject.issuer,
        authorizationEndpoint,
        tokenEndpoint,
        endSessionEndpoint:
          typeof metadata.end_session_endpoint === 'string' ? metadata.end_session_endpoint : null,
        backchannelLogoutSupported: metadata.backchannel_logout_supported === true,
        idTokenSigningAlg: alg && algorithms.includes(alg) ? alg : null,
      });
    },
    { checkIssuerScheme },
  );
}

type Metadata = Record<string, unknown>;
type Verdict = (name: ProviderCheck, message: string) => void;

/**
 * S256 listed: passes. Not listed at all: passes only with `pkce: 'assume-supported'` (Entra ID
 * and Cognito enforce PKCE without announcing it). Methods listed without S256: fails either way.
 */
function checkPkce(
  subject: ProviderCheckSubject,
  metadata: Metadata,
  pass: Verdict,
  fail: Verdict,
) {
  const announced = metadata.code_challenge_methods_supported;
  const methods = stringList(announced);
  if (methods.includes('S256')) {
    pass('pkce_unsupported', 'The provider supports PKCE with S256.');
  } else if (!Array.isArray(announced) && subject.pkce === 'assume-supported') {
    pass(
      'pkce_unsupported',
      'The provider does not announce its PKCE methods; PKCE with S256 is sent anyway (assume-supported).',
    );
  } else if (!Array.isArray(announced)) {
    fail(
      'pkce_unsupported',
      'The provider does not list "S256" in code_challenge_methods_supported; PKCE is required. If it supports PKCE without announcing it (Entra ID, Cognito), choose pkce "assume-supported".',
    );
  } else {
    fail(
      'pkce_unsupported',
      `The provider does not list "S256" in code_challenge_methods_supported (it lists: ${listed(methods)}); PKCE with S256 is required.`,
    );
  }
}

/** The ID token algorithms a provider announces (RS256 when it announces none: OIDC's default). */
export function idTokenAlgorithmsOf(metadata: Metadata): string[] {
  const algorithms = stringList(metadata.id_token_signing_alg_values_supported);
  return algorithms.length > 0 ? algorithms : ['RS256'];
}

/** RS256 when the provider lists it, else the first asymmetric algorithm it lists. */
export function chooseIdTokenAlgorithm(
  algorithms: readonly string[],
): IdTokenSigningAlgorithm | undefined {
  if (algorithms.includes('RS256')) return 'RS256';
  return (ID_TOKEN_SIGNING_ALGORITHMS as readonly string[]).find((alg) =>
    algorithms.includes(alg),
  ) as IdTokenSigningAlgorithm | undefined;
}

/**
 * Presents the client's credentials at the token endpoint with a dummy authorization code,
 * through openid-client and the guarded fetch. `invalid_grant`: the credentials were accepted
 * (only the code was refused); `invalid_client` or a 401: they were not; anything else is not
 * conclusive, and not a failure.
 */
async function checkCredentials(
  subject: ProviderCheckSubject,
  metadata: Metadata,
  options: ProviderCheckOptions,
  plainHttp: boolean,
  timeoutMs: number,
): Promise<{ ok: boolean; message: string }> {
  const method = subject.tokenEndpointAuthMethod;
  if (SECRET_AUTH_METHODS.has(method) && !subject.clientSecret) {
    return { ok: false, message: `No client secret is available for ${method}.` };
  }
  let auth: client.ClientAuth;
  if (method === 'client_secret_basic') auth = client.ClientSecretBasic(subject.clientSecret);
  else if (method === 'client_secret_post') auth = client.ClientSecretPost(subject.clientSecret);
  else if (subject.clientAssertionKey) {
    const algorithm = chooseClientKeyAlgorithm(
      stringList(metadata.token_endpoint_auth_signing_alg_values_supported),
    );
    auth = client.PrivateKeyJwt(await subject.clientAssertionKey(algorithm));
  } else {
    return {
      ok: true,
      message: `Not conclusive: no key is available to try ${method}.`,
    };
  }
  let configuration: client.Configuration;
  try {
    configuration = new client.Configuration(
      metadata as client.ServerMetadata,
      subject.clientId,
      {},
      auth,
    );
  } catch {
    return { ok: true, message: 'Not conclusive: the client could not be set up for a try.' };
  }
  configuration[client.customFetch] = options.fetch;
  configuration.timeout = Math.max(1, Math.round(timeoutMs / 1000));
  if (plainHttp) client.allowInsecureRequests(configuration);
  try {
    await client.genericGrantRequest(configuration, 'authorization_code', {
      code: DUMMY_CODE,
      redirect_uri: subject.redirectUri,
      code_verifier: randomBytes(32).toString('base64url'),
    });
    return {
      ok: true,
      message: 'Not conclusive: the provider accepted a dummy authorization code.',
    };
  } catch (error) {
    const status = errorStatus(error);
    const code = await errorCode(error);
    // A body nobody read (an HTML 404, say) is released, not left to the garbage collector.
    const cause: unknown = error instanceof Error ? error.cause : undefined;
    if (cause instanceof Response && !cause.bodyUsed) await cause.body?.cancel().catch(() => {});
    if (code === 'invalid_grant') {
      return {
        ok: true,
        message: `The provider accepted the client credentials with ${method} (it refused only the dummy authorization code).`,
      };
    }
    if ((code === 'invalid_client' || status === 401) && method === 'private_key_jwt') {
      return {
        ok: false,
        message: `The provider does not accept Gatehouse's key for private_key_jwt${code ? ` (${code})` : ` (HTTP ${status})`}: register ${subject.jwksUri ?? "this provider's JWKS URL"} as the client's JWKS URL (jwks_uri) at the provider; if it is registered already, the provider has not fetched the key yet — test again in a minute.`,
      };
    }
    if (code === 'invalid_client' || status === 401) {
      return {
        ok: false,
        message: `The provider rejected the client credentials with ${method}${code ? ` (${code})` : ` (HTTP ${status})`}: check the client ID and secret, and that the client is registered for ${method}.`,
      };
    }
    // RFC 6749: the client may not use the authorization code grant — and some OPs (glewlwyd)
    // answer so to wrong credentials. Either way no sign-in can work with these settings.
    if (code === 'unauthorized_client') {
      return {
        ok: false,
        message: `The provider refused this client for the authorization code grant with ${method} (unauthorized_client): check the client ID and secret, and that the client may use the authorization code flow.`,
      };
    }
    const what = code ? `answered ${code}` : status ? `answered HTTP ${status}` : 'did not answer';
    return {
      ok: true,
      message: `Not conclusive: the token endpoint ${what} to a dummy authorization code.`,
    };
  }
}

/** The HTTP status behind an openid-client error, when a response came back at all. */
function errorStatus(error: unknown): number | undefined {
  if (
    error instanceof client.ResponseBodyError ||
    error instanceof client.WWWAuthenticateChallengeError
  ) {
    return error.status;
  }
  // A response that is no OAuth error body (an HTML 404, say) is the error's cause.
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  return cause instanceof Response ? cause.status : undefined;
}

/**
 * The OAuth error code of a refusal: from the error body, or, for a 401 with a
 * `WWW-Authenticate` challenge, from the challenge or the body behind it.
 */
async function errorCode(error: unknown): Promise<string | undefined> {
  if (error instanceof client.ResponseBodyError) return safeCode(error.error);
  if (!(error instanceof client.WWWAuthenticateChallengeError)) return undefined;
  const challenged = error.cause.find((challenge) => challenge.parameters.error)?.parameters.error;
  if (challenged) return safeCode(challenged);
  const body: unknown = await error.response.json().catch(() => undefined);
  return isRecord(body) ? safeCode(body.error) : undefined;
}

/** An OAuth error code as the provider sent it, if it looks like one (it reaches a message). */
function safeCode(code: unknown): string | undefined {
  return typeof code === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(code)
    ? code
    : undefined;
}

/** Undefined when the JWKS could be read and has keys, else why not. */
async function checkJwks(
  fetch: CustomFetch,
  jwksUri: unknown,
  timeoutMs: number,
): Promise<string | undefined> {
  if (typeof jwksUri !== 'string' || !URL.canParse(jwksUri)) {
    return 'The discovery document has no valid jwks_uri.';
  }
  let jwks: unknown;
  try {
    jwks = await fetchJson(fetch, jwksUri, timeoutMs);
  } catch {
    return JWKS_UNREACHABLE;
  }
  if (!isRecord(jwks) || !Array.isArray(jwks.keys)) return JWKS_UNREACHABLE;
  if (!jwks.keys.some((key) => isRecord(key) && typeof key.kty === 'string')) {
    return 'The JWKS has no keys.';
  }
  return undefined;
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
): string | null {
  const value = metadata[name];
  const url = typeof value === 'string' ? URL.parse(value) : null;
  return url && isAllowedUrl(url) ? (value as string) : null;
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
