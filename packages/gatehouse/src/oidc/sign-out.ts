import * as client from 'openid-client';
import type { AuditLog, AuditOrigin } from '../observability/audit.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { KeyValueStore } from '../session/kv.ts';
import { openClaims, sessionUser, type SessionRecord, type TokenSet } from '../session/model.ts';
import type { SessionService } from '../session/service.ts';
import type { Vault } from '../session/vault.ts';
import type { Provider } from '../tenants/model.ts';
import { endSessionUrl, rememberLogout } from './logout.ts';
import type { ProviderClients } from './provider-clients.ts';

/**
 * Logout's use case: the session ends everywhere (the browser's session through the adapter,
 * the audit trail, the indexes), its tokens are revoked at the IdP (best effort, once the
 * session is gone), and the answer says where the browser goes: the IdP's end-session URL with
 * a freshly stored `state`, or straight back to the app. Nothing here knows the HTTP framework;
 * the IdP is reached through {@link IdpRevocation} and the provider's client.
 *
 * @example
 * const { redirectTo } = await signOut(deps, { sid, record, returnTo: '/', origin, log }, endBrowserSession);
 */

/** Token revocation at the IdP (RFC 7009): the seam that lets the use case run against a fake. */
export interface IdpRevocation {
  revoke(
    configuration: client.Configuration,
    token: string,
    hint: 'access_token' | 'refresh_token',
  ): Promise<void>;
}

/** The real revocation: openid-client against the provider's revocation endpoint. */
export const openidClientRevocation: IdpRevocation = {
  revoke: (configuration, token, hint) =>
    client.tokenRevocation(configuration, token, { token_type_hint: hint }),
};

export interface SignOutDeps {
  providers: Pick<ProviderClients, 'resolve' | 'client'>;
  vault: Pick<Vault, 'open'>;
  /** Where the logout's `state` is kept until the IdP sends the browser back. */
  transactions: Pick<KeyValueStore, 'put'>;
  sessions: Pick<SessionService, 'ended' | 'unindexSession'>;
  metrics: Pick<Metrics, 'sessionsEnded'>;
  audit: Pick<AuditLog, 'record'>;
  /** The post-logout redirect URI is `<publicOrigin>/bff/signed-out`. */
  publicOrigin: string;
  /** The IdP's revocation endpoint (default: openid-client). */
  revocation?: IdpRevocation;
}

export interface SignOutRequest {
  /** The session's id and its record. */
  sid: string;
  record: SessionRecord;
  /** Where in the app the browser lands afterwards (already validated). */
  returnTo: string;
  /** The request id and client address, for the audit trail. */
  origin: AuditOrigin;
  /** The request's logger: an IdP that cannot end its session or revoke a token is logged here. */
  readonly log: LogLines;
}

/** The two levels the use case writes at (a pino logger is one). */
export interface LogLines {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Where the browser goes after the logout: the IdP's end-session URL, or `returnTo`. */
export interface SignedOut {
  redirectTo: string;
}

/**
 * Ends the session: the IdP's part is prepared first (its `state` stored before anything ends,
 * so a store failure loses nothing and the user can simply try again), then
 * `endBrowserSession` (the adapter destroys the browser's session and clears its cookie), the
 * metric, the audit trail and the indexes, then the revocation, which never turns a logout into
 * an error. `endBrowserSession` says whether this request is the one that ended the session:
 * when another ended it first (a second tab signing out at the same moment, a back-channel
 * logout), the metric and the audit trail have heard of that end already.
 */
export async function signOut(
  deps: SignOutDeps,
  request: SignOutRequest,
  endBrowserSession: () => Promise<boolean>,
): Promise<SignedOut> {
  const { sid, record } = request;
  const idp = await idpLogout(deps, request);
  if (await endBrowserSession()) {
    deps.metrics.sessionsEnded('logout');
    const actor = { kind: 'user' as const, id: sessionUser(record) };
    deps.audit.record({
      tenant: record.tenant,
      actor,
      action: 'sign-out',
      target: `provider:${record.provider}`,
      outcome: 'success',
      ...request.origin,
    });
    deps.sessions.ended(record, { reason: 'logout', by: actor, ...request.origin });
  }
  await deps.sessions.unindexSession(sid, record);
  // Best effort from here: revocation never turns logout into an error.
  if (idp.revoke) await idp.revoke();
  return { redirectTo: idp.url ?? request.returnTo };
}

/**
 * The IdP's side of a logout: the end-session (or Cognito) URL with a freshly stored `state`,
 * and the revocation of the session's tokens to run once the session is gone. An IdP that
 * cannot be reached (discovery), or tokens that cannot be opened, leave only the local logout.
 */
async function idpLogout(
  deps: SignOutDeps,
  request: SignOutRequest,
): Promise<{ url?: string; revoke?: () => Promise<void> }> {
  const { record } = request;
  let configuration: client.Configuration;
  let tokens: TokenSet;
  let provider: Provider | undefined;
  try {
    provider = (await deps.providers.resolve(record.tenant, record.provider))?.provider;
    configuration = await deps.providers.client(record.tenant, record.provider);
    tokens = await deps.vault.open<TokenSet>(record.tokens);
  } catch (error) {
    // An outage or a retired key, not a bug: the reason, without a stack.
    request.log.warn(
      {
        tenant: record.tenant,
        provider: record.provider,
        reason: error instanceof Error ? error.message : String(error),
      },
      'logout: could not end the IdP session',
    );
    return {};
  }
  const revoke = () =>
    revokeTokens(deps.revocation ?? openidClientRevocation, request, configuration, tokens);
  if (!provider) return { revoke };
  const settings = provider;
  const postLogoutRedirectUri = `${deps.publicOrigin}/bff/signed-out`;
  // Cognito's `/logout` sends no state back: the app is reached at `/`.
  const needsState =
    settings.logout === 'end-session' && !!configuration.serverMetadata().end_session_endpoint;
  const state = needsState ? await rememberLogout(deps.transactions, request.returnTo) : '';
  const url = endSessionUrl(configuration, settings, {
    idToken: tokens.idToken,
    logoutHint: tokens.idToken ? undefined : await loginHintOf(deps, record),
    postLogoutRedirectUri,
    state,
  });
  return { ...(url ? { url: url.href } : {}), revoke };
}

/** The `login_hint` claim some IdPs (Entra ID) put in the ID token, for `logout_hint`. */
async function loginHintOf(
  deps: Pick<SignOutDeps, 'vault'>,
  record: SessionRecord,
): Promise<string | undefined> {
  const claims = await openClaims(deps.vault, record).catch(() => undefined);
  const hint = claims?.login_hint;
  return typeof hint === 'string' ? hint : undefined;
}

/**
 * An IdP that answers `unsupported_token_type` cannot revoke that token (a JWT access token
 * simply expires): expected at every logout, so one info line. Anything else (IdP unreachable,
 * another error) is a warning; neither needs a stack.
 */
function logRevocationFailure(
  log: LogLines,
  where: { tenant: string; provider: string; token: string },
  reason: unknown,
): void {
  if (reason instanceof client.ResponseBodyError && reason.error === 'unsupported_token_type') {
    log.info({ ...where, error: reason.error }, 'logout: the IdP does not revoke this token');
    return;
  }
  const detail =
    reason instanceof client.ResponseBodyError
      ? { error: reason.error, status: reason.status }
      : { reason: reason instanceof Error ? reason.message : String(reason) };
  log.warn({ ...where, ...detail }, 'logout: token revocation failed');
}

async function revokeTokens(
  revocation: IdpRevocation,
  request: SignOutRequest,
  configuration: client.Configuration,
  tokens: TokenSet,
): Promise<void> {
  if (!configuration.serverMetadata().revocation_endpoint) return;
  const revocations: Array<Promise<void>> = [
    revocation.revoke(configuration, tokens.accessToken, 'access_token'),
  ];
  if (tokens.refreshToken) {
    revocations.push(revocation.revoke(configuration, tokens.refreshToken, 'refresh_token'));
  }
  const results = await Promise.allSettled(revocations);
  const where = { tenant: request.record.tenant, provider: request.record.provider };
  for (const [index, result] of results.entries()) {
    if (result.status === 'fulfilled') continue;
    const token = index === 0 ? 'access_token' : 'refresh_token';
    logRevocationFailure(request.log, { ...where, token }, result.reason);
  }
}
