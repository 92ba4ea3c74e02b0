/*
 * Over 300 lines on purpose: the protocol half of one flow, authorization code + PKCE from the
 * authorization request (PAR or not, DPoP or not) to the verified token set; its transaction
 * type and binding are shared by both ends. What completes the session is in callback.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { sameSecret, sha256 } from '../digest.ts';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { GatehouseError, problem } from '../errors.ts';
import { PROBLEMS } from '../problems.ts';
import type { KeyValueStore } from '../session/kv.ts';
import { accessTokenExpiresAtMs, refreshTokenExpiry, type TokenSet } from '../session/model.ts';
import { UnopenableValueError, type Vault } from '../session/vault.ts';
import type { ProviderClients } from './provider-clients.ts';
import { calculateJwkThumbprint } from 'jose';
import { importDpopKey, newDpopKey, type DpopPrivateJwk } from './dpop.ts';
import { isClientRejected, openidClientGrants, type IdpGrants } from './idp-grants.ts';
import { missingTransaction, noteLoginAttempt, sealLoginAttempt } from './login-attempts.ts';
import type { PAR_MODES } from '../tenants/provider-schema.ts';
import { RESERVED_AUTHORIZATION_PARAMETERS } from '../tenants/provider-schema.ts';

/** What the server remembers between `/bff/login` and the callback; never sent to the browser. */
export interface LoginTransaction {
  tenant: string;
  provider: string;
  codeVerifier: string;
  nonce: string;
  returnTo: string;
  /** SHA-256 of the browser-binding cookie of the browser that started the login. */
  binding: string;
  /**
   * DPoP providers: the session's key, made at login start so that the authorization code is
   * bound to it too (`dpop_jkt`); the code exchange proves possession of it.
   */
  dpopKey?: DpopPrivateJwk;
  /**
   * A tenant admin's test sign-in (the admin's user digest): the callback shows what the IdP
   * answered and creates no session (the admin's own stays as it is).
   */
  testBy?: string;
}

export const LOGIN_TRANSACTION_TTL_MS = 10 * 60 * 1000;

/** Parameters the protocol owns; a provider's extra authorization parameters cannot override them. */
export { RESERVED_AUTHORIZATION_PARAMETERS };

export interface LoginDeps {
  providers: Pick<ProviderClients, 'resolve' | 'client' | 'redirectUri'>;
  transactions: KeyValueStore;
  vault: Vault;
  clock: () => number;
  /** The IdP's token endpoint (default: openid-client). */
  grants?: IdpGrants;
}

export const hashBinding = (binding: string) => sha256(binding);

export const newBrowserBinding = () => randomBytes(32).toString('base64url');

/**
 * Starts a login: fresh state, nonce and PKCE verifier, a one-time transaction stored
 * server-side (sealed) under the state and bound to the browser, and the IdP URL to redirect to.
 */
export async function beginLogin(
  deps: LoginDeps,
  request: {
    tenant: string;
    provider: string;
    returnTo: string;
    binding: string;
    loginHint?: string;
    /** Resource indicators of the routes this tenant may use. */
    resources?: string[];
    /** A tenant admin's test sign-in: who started it (see {@link LoginTransaction.testBy}). */
    testBy?: string;
  },
): Promise<URL> {
  const resolved = await deps.providers.resolve(request.tenant, request.provider);
  if (!resolved) throw problem('unknown_provider');
  const configuration = await deps.providers.client(request.tenant, request.provider);

  const state = client.randomState();
  const nonce = client.randomNonce();
  const codeVerifier = client.randomPKCECodeVerifier();
  const dpop = resolved.provider.dpop ? await newDpopKey() : undefined;
  const transaction: LoginTransaction = {
    tenant: request.tenant,
    provider: request.provider,
    codeVerifier,
    nonce,
    returnTo: request.returnTo,
    binding: hashBinding(request.binding),
    ...(dpop ? { dpopKey: dpop.jwk } : {}),
    ...(request.testBy === undefined ? {} : { testBy: request.testBy }),
  };
  // Both writes leave together: one round trip to Redis (auto-pipelined), not two.
  const [sealedTransaction, sealedNote] = await Promise.all([
    deps.vault.seal(transaction),
    sealLoginAttempt(deps, { returnTo: request.returnTo, startedAt: deps.clock() }),
  ]);
  await Promise.all([
    deps.transactions.put(`tx:${state}`, sealedTransaction, LOGIN_TRANSACTION_TTL_MS),
    noteLoginAttempt(deps, state, sealedNote),
  ]);

  const extra = Object.entries(resolved.provider.authorizationParams).filter(
    ([name]) => !RESERVED_AUTHORIZATION_PARAMETERS.has(name),
  );
  const parameters = new URLSearchParams({
    ...Object.fromEntries(extra),
    // A test sign-in asks for credentials even when the IdP already knows the browser: the
    // admin may try the provider with any account of theirs.
    ...(request.testBy === undefined
      ? {}
      : { prompt: withLoginPrompt(resolved.provider.authorizationParams.prompt) }),
    ...(request.loginHint ? { login_hint: request.loginHint } : {}),
    redirect_uri: deps.providers.redirectUri(request.tenant, request.provider),
    scope: resolved.provider.scopes.join(' '),
    state,
    nonce,
    code_challenge: pkceChallenge(codeVerifier),
    code_challenge_method: 'S256',
    // RFC 9449 §10: the code can only be redeemed with a proof signed by this session's key.
    ...(dpop ? { dpop_jkt: await calculateJwkThumbprint(dpop.jwk) } : {}),
  });
  // RFC 8707: ask up front for every API the tenant's routes name, so that refreshes can later
  // narrow a token to one of them.
  for (const resource of request.resources ?? []) parameters.append('resource', resource);
  if (!usesPar(resolved.provider.par, parMetadata(configuration))) {
    return client.buildAuthorizationUrl(configuration, parameters);
  }
  // RFC 9126: the parameters go to the OP's PAR endpoint (client authenticated); the browser
  // only carries `client_id` and the `request_uri` it answered.
  try {
    return await client.buildAuthorizationUrlWithPAR(configuration, parameters);
  } catch (error) {
    // Nothing of the browser's is in a PAR answer: one Gatehouse cannot use (no `request_uri`,
    // a field of the wrong type, not JSON) is the IdP failing, not a sign-in refused.
    throw loginError(error);
  }
}

/**
 * The PKCE `S256` challenge of a verifier: BASE64URL(SHA256(ASCII(code_verifier))), RFC 7636
 * §4.2, with node:crypto's synchronous SHA-256 (openid-client's helper runs WebCrypto's
 * `digest`, a job on libuv's pool, for these 43 bytes).
 */
export function pkceChallenge(codeVerifier: string): string {
  return createHash('sha256').update(codeVerifier, 'ascii').digest('base64url');
}

/**
 * What {@link usesPar} reads of a configuration's server metadata, once per configuration
 * (openid-client's `serverMetadata()` answers a deep copy of the whole document each call).
 */
const parEndpoints = new WeakMap<
  client.Configuration,
  Pick<client.ServerMetadata, 'pushed_authorization_request_endpoint'>
>();
function parMetadata(
  configuration: client.Configuration,
): Pick<client.ServerMetadata, 'pushed_authorization_request_endpoint'> {
  let metadata = parEndpoints.get(configuration);
  if (!metadata) {
    const endpoint = configuration.serverMetadata().pushed_authorization_request_endpoint;
    metadata = endpoint === undefined ? {} : { pushed_authorization_request_endpoint: endpoint };
    parEndpoints.set(configuration, metadata);
  }
  return metadata;
}

/** What {@link checkCallbackParameters} reads of a configuration, once per configuration. */
interface CallbackMetadata {
  server: Pick<client.ServerMetadata, 'issuer' | 'authorization_response_iss_parameter_supported'>;
  client: Pick<client.ClientMetadata, 'client_id'>;
}
const callbackMetadataOf = new WeakMap<client.Configuration, CallbackMetadata>();
function callbackMetadata(configuration: client.Configuration): CallbackMetadata {
  let metadata = callbackMetadataOf.get(configuration);
  if (!metadata) {
    const { issuer, authorization_response_iss_parameter_supported: issSupported } =
      configuration.serverMetadata();
    metadata = {
      server: {
        issuer,
        ...(issSupported === undefined
          ? {}
          : { authorization_response_iss_parameter_supported: issSupported }),
      },
      client: { client_id: configuration.clientMetadata().client_id },
    };
    callbackMetadataOf.set(configuration, metadata);
  }
  return metadata;
}

/**
 * Whether the authorization request is pushed (RFC 9126): `required` always (failing clearly
 * when the OP has no PAR endpoint), `auto` when the OP advertises one, `off` never.
 */
export function usesPar(
  mode: (typeof PAR_MODES)[number],
  metadata: Pick<client.ServerMetadata, 'pushed_authorization_request_endpoint'>,
): boolean {
  const advertised = typeof metadata.pushed_authorization_request_endpoint === 'string';
  if (mode === 'required' && !advertised) throw problem('par_unavailable');
  return mode !== 'off' && advertised;
}

/** `prompt` with `login` added (and `none`, which contradicts it, dropped). */
function withLoginPrompt(prompt: string | undefined): string {
  const values = (prompt ?? '').split(' ').filter((value) => value !== '' && value !== 'none');
  return [...new Set(['login', ...values])].join(' ');
}

export interface CompletedLogin {
  transaction: LoginTransaction;
  tokens: TokenSet;
  claims: Record<string, unknown>;
  /** When the refresh token dies (epoch ms), if the IdP said. */
  refreshExpiresAt?: number;
  /** The DPoP key the IdP bound the tokens to, when the provider uses DPoP. */
  dpopKey?: DpopPrivateJwk;
}

/** The callback's `state`; a repeated or array-like parameter is refused. */
function callbackState(params: URLSearchParams): string | null {
  for (const name of new Set(params.keys())) {
    if (params.getAll(name).length > 1 || /[[\]]/.test(name)) {
      throw problem('invalid_callback');
    }
  }
  return params.get('state');
}

/** A callback's login transaction being taken from the store (read and deleted at once). */
export interface TakenTransaction {
  /** The callback URL it was taken for, and that URL's `state` (checked: one, not array-like). */
  callbackUrl: URL;
  state: string;
  sealed: Promise<string | undefined>;
}

/**
 * Starts taking the transaction a callback names, before {@link completeLogin} runs: the
 * adapter sends it with the callback's rate limits, in one round trip. Any answer uses the
 * transaction up (see completeLogin), a refusal by a limit too. Nothing is taken for a
 * callback without `state` or one completeLogin refuses for its query.
 */
export function takeCallbackTransaction(
  deps: Pick<LoginDeps, 'transactions'>,
  callbackUrl: URL,
): TakenTransaction | undefined {
  let state: string | null;
  try {
    state = callbackState(callbackUrl.searchParams);
  } catch {
    return undefined;
  }
  if (!state) return undefined;
  const sealed = deps.transactions.take(`tx:${state}`);
  // Awaited by completeLogin, or never (a limit refused): a failure is that caller's to see.
  sealed.catch(() => undefined);
  return { callbackUrl, state, sealed };
}

/**
 * Completes a login at `/bff/callback/:tenant/:provider`. The transaction is consumed before
 * anything is checked, so every answer — good or bad — uses it up; a missing, reused or
 * foreign state fails closed.
 */
export async function completeLogin(
  deps: LoginDeps,
  request: {
    tenant: string;
    provider: string;
    callbackUrl: URL;
    binding: string | undefined;
    /** The transaction's take, already started for this `callbackUrl` ({@link takeCallbackTransaction}). */
    taking?: TakenTransaction | undefined;
  },
): Promise<CompletedLogin> {
  const params = request.callbackUrl.searchParams;
  // A take started for this very URL has checked its `state` already.
  const taking = request.taking?.callbackUrl === request.callbackUrl ? request.taking : undefined;
  const state = taking ? taking.state : callbackState(params);
  const sealed = taking
    ? await taking.sealed
    : state
      ? await deps.transactions.take(`tx:${state}`)
      : undefined;
  if (!sealed) throw await missingTransaction(deps, state, LOGIN_TRANSACTION_TTL_MS);
  // Sealed under a key retired since (a rotation mid-login), or damaged: as if it had expired.
  let transaction: LoginTransaction;
  try {
    transaction = await deps.vault.open<LoginTransaction>(sealed);
  } catch (error) {
    throw error instanceof UnopenableValueError ? problem('login_transaction_invalid') : error;
  }

  if (!request.binding || !sameSecret(hashBinding(request.binding), transaction.binding)) {
    throw problem('login_transaction_invalid', {
      detail: 'This sign-in attempt was started in another browser.',
    });
  }
  if (transaction.tenant !== request.tenant || transaction.provider !== request.provider) {
    throw problem('login_transaction_invalid', {
      detail: 'The sign-in response came back to the wrong provider.',
    });
  }
  if (params.has('error')) {
    const idpError = params.get('error') ?? '';
    // The IdP's own words go to the log (where an operator can diagnose them), never to the
    // page: only a registered error code is shown, and in a sentence of ours.
    throw problem('login_failed', {
      detail: `${idpErrorSentence(idpError)} ${idpSaid(idpError)}`,
      cause: new IdpErrorResponse(idpError, params.get('error_description') ?? undefined),
    });
  }

  const configuration = await deps.providers.client(request.tenant, request.provider);
  checkCallbackParameters(configuration, request.callbackUrl, state ?? undefined);
  try {
    const grants = deps.grants ?? openidClientGrants;
    const dpopKey = transaction.dpopKey;
    const response = await grants.authorizationCode(
      configuration,
      request.callbackUrl,
      {
        pkceCodeVerifier: transaction.codeVerifier,
        expectedState: state ?? undefined,
        expectedNonce: transaction.nonce,
        idTokenExpected: true,
      },
      dpopKey
        ? { DPoP: client.getDPoPHandle(configuration, await importDpopKey(dpopKey)) }
        : undefined,
    );
    // A DPoP provider whose IdP answers with Bearer tokens did not bind them: refused rather
    // than kept as tokens that any holder could use.
    if (dpopKey && response.token_type !== 'dpop') {
      throw problem('login_failed', {
        detail: 'The identity provider did not bind the tokens to this sign-in (DPoP).',
        cause: new Error(`DPoP was requested; the token type is ${response.token_type}`),
      });
    }
    const claims = response.claims();
    if (!claims) {
      throw problem('idp_unavailable', {
        cause: new Error('The identity provider returned no ID token.'),
      });
    }
    const now = deps.clock();
    const refreshExpiresAt = refreshTokenExpiry(response, now);
    return {
      transaction,
      tokens: toTokenSet(response, undefined, now),
      claims: { ...claims },
      ...(refreshExpiresAt ? { refreshExpiresAt } : {}),
      ...(dpopKey ? { dpopKey } : {}),
    };
  } catch (error) {
    throw loginError(error);
  }
}

/**
 * The callback's own parameters, checked apart before the code exchange with oauth4webapi's
 * `validateAuthResponse` (which openid-client's grant runs again on the same parameters): an
 * `iss` of another issuer (RFC 9207), a JARM `response`, implicit or hybrid parameters, no
 * `code`. They came with the browser, so a refusal is the callback's (400 `login_failed`), and
 * whatever openid-client refuses after this is the token endpoint's answer. openid-client
 * reports both with the same codes (`OAUTH_INVALID_RESPONSE`, say), so the two are told apart
 * here, by when they happen.
 */
function checkCallbackParameters(
  configuration: client.Configuration,
  callbackUrl: URL,
  state: string | undefined,
): void {
  const { server, client: clientMetadata } = callbackMetadata(configuration);
  let parameters: URLSearchParams;
  try {
    parameters = oauth.validateAuthResponse(
      server,
      clientMetadata,
      callbackUrl.searchParams,
      state,
    );
  } catch (error) {
    throw problem('login_failed', { cause: error });
  }
  if (!parameters.get('code')) {
    throw problem('login_failed', { cause: new Error('the callback carries no code') });
  }
}

/**
 * openid-client's codes for an ID token it read and refused: a claim that does not match (`iss`,
 * `aud`, `azp`, `nonce`), a time that does not (`exp`, `nbf`), no key of the IdP's for it.
 */
const ID_TOKEN_REFUSALS = new Set([
  'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  'OAUTH_KEY_SELECTION_FAILED',
]);

/**
 * Whether openid-client refused an ID token it could read (a JWT whose header and claims are
 * JSON objects), as a forged or mixed-up one is refused: one of {@link ID_TOKEN_REFUSALS}, or an
 * `OAUTH_INVALID_RESPONSE` (the code it shares with a token answer it cannot read at all) that
 * oauth4webapi raised with the token's header, claims or signature as its cause: an unexpected
 * algorithm, a bad signature, a claim missing or of the wrong type.
 */
function idTokenRefused(error: client.ClientError): boolean {
  if (error.code !== undefined && ID_TOKEN_REFUSALS.has(error.code)) return true;
  if (error.code !== 'OAUTH_INVALID_RESPONSE' || !(error.cause instanceof Error)) return false;
  const detail: unknown = error.cause.cause;
  return (
    typeof detail === 'object' &&
    detail !== null &&
    ('header' in detail || 'claims' in detail || 'signature' in detail)
  );
}

/**
 * Maps openid-client failures of a PAR request and of the code exchange (the callback's own
 * parameters are checked before it, by {@link checkCallbackParameters}): an OAuth error the IdP
 * returns and an ID token refused are 400, the IdP failing 502.
 */
function loginError(error: unknown): GatehouseError {
  if (error instanceof GatehouseError) return error;
  // Ours, from inside openid-client (the client assertion's key read from the store).
  if (error instanceof client.ClientError && error.cause instanceof GatehouseError) {
    return error.cause;
  }
  // The IdP refused Gatehouse's client credentials (RFC 6749 `invalid_client`, or a bare 401
  // challenge): neither the user's fault nor an outage; an admin must fix the provider.
  if (isClientRejected(error)) return problem('idp_client_rejected', { cause: error });
  if (error instanceof client.ClientError) {
    // A forged or mixed-up ID token (RFC 9700 §4.4, §4.5: the nonce and issuer checks) is
    // refused like the sign-in it came with.
    if (idTokenRefused(error)) return problem('login_failed', { cause: error });
    // Any other answer openid-client cannot use is the IdP failing, as at a refresh: not JSON,
    // not a JSON object, a member missing or of the wrong type, a token type other than Bearer
    // or DPoP, an ID token that is not a JWT; and time-outs, aborts, 5xx without a body.
    return problem('idp_unavailable', { cause: error });
  }
  // The IdP's own failures (5xx, time-outs, blocked or failed fetches) are a bad gateway, not a
  // bad request. `use_dpop_nonce` here means the IdP refused the retry with the very nonce it
  // had asked for (openid-client retries once): the IdP is misbehaving, the sign-in itself is
  // not at fault.
  if (
    error instanceof client.ResponseBodyError &&
    (error.status >= 500 ||
      ['server_error', 'temporarily_unavailable', 'use_dpop_nonce'].includes(error.error))
  ) {
    return problem('idp_unavailable', { cause: error });
  }
  // An OAuth error the IdP returns (`invalid_grant`: a code spent, expired or not this
  // browser's PKCE verifier's).
  if (error instanceof client.ResponseBodyError) {
    return problem('login_failed', {
      detail: `${PROBLEMS.login_failed.message} ${idpSaid(error.error)}`,
      cause: error,
    });
  }
  return problem('idp_unavailable', { cause: error });
}

export function toTokenSet(
  response: client.TokenEndpointResponse,
  previous?: TokenSet,
  now = Date.now(),
): TokenSet {
  return {
    accessToken: response.access_token,
    // A refresh response without a new refresh token keeps the old one (no rotation at that IdP).
    refreshToken: response.refresh_token ?? previous?.refreshToken,
    idToken: response.id_token ?? previous?.idToken,
    expiresAtMs: accessTokenExpiresAtMs(response, now),
    scope: response.scope ?? previous?.scope,
  };
}

/**
 * An error the IdP sent back to the callback (`error`, `error_description`): kept as the cause
 * of the `login_failed` answer so that the log line says what the IdP said.
 */
export class IdpErrorResponse extends Error {
  readonly error: string;
  readonly errorDescription: string | undefined;

  constructor(error: string, errorDescription: string | undefined) {
    super(`the identity provider answered ${error}`);
    this.name = 'IdpErrorResponse';
    this.error = error;
    this.errorDescription = errorDescription;
  }
}

/** What the sign-in page says for each error an authorization server may return (RFC 6749, OIDC Core). */
const IDP_ERROR_SENTENCES: Readonly<Record<string, string>> = {
  access_denied: 'The sign-in was cancelled or the identity provider refused it.',
  login_required: 'The identity provider needs you to sign in again.',
  interaction_required: 'The identity provider needs you to sign in again.',
  consent_required: 'The identity provider needs your consent first.',
  account_selection_required: 'The identity provider needs you to choose an account.',
  temporarily_unavailable: 'The identity provider is busy; try again in a moment.',
  server_error: 'The identity provider had a problem; try again in a moment.',
};

function idpErrorSentence(error: string): string {
  return Object.hasOwn(IDP_ERROR_SENTENCES, error)
    ? (IDP_ERROR_SENTENCES[error] ?? '')
    : 'The identity provider did not sign you in.';
}

/**
 * The IdP's error code in a form safe to show: only an RFC 6749 style code (letters, digits,
 * `_`, `.`, `-`, at most 64 characters) is quoted; anything else (free text a hostile IdP or a
 * forged link could use to phish) is not. The `error_description` is never shown, only logged.
 */
export function idpSaid(error: string): string {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(error)
    ? `The identity provider said: ${error}.`
    : 'The identity provider gave an error.';
}
