import { randomBytes } from 'node:crypto';
import type { GatehouseConfig } from '../config/schema.ts';
import { userDigest } from '../digest.ts';
import type { Metrics } from '../observability/metrics.ts';
import { deviceInfo, summaryOf } from '../session/device-summary.ts';
import { filterClaims, type SessionRecord } from '../session/model.ts';
import type { SessionService } from '../session/service.ts';
import type { TenantRegistry } from '../tenants/registry.ts';
import { completeLogin, type LoginDeps, type TakenTransaction } from './login.ts';

/**
 * The callback's use case (`/bff/callback/:tenant/:provider`): the login completed
 * (`completeLogin`: transaction, binding, code exchange), then either a tenant admin's test
 * sign-in (no session touched) or a new session: its record (claims filtered and sealed, the
 * user kept only as a digest, tokens sealed, the tenant's timeouts, the device), a fresh session
 * id, the save, then the indexes. The browser's session itself is the adapter's
 * ({@link BrowserSession}); nothing here knows the HTTP framework.
 *
 * @example
 * const outcome = await finishCallback(deps, { tenant, provider, query: '?code=…&state=…', binding, userAgent }, browserSession);
 * if (outcome.kind === 'signed-in') redirect(outcome.returnTo);
 */

/** What the callback needs: the login's dependencies and what a new session is made of. */
export interface CallbackDeps extends LoginDeps {
  /** Tenant overrides of the session timeouts (config or admin API). */
  registry: Pick<TenantRegistry, 'tenant'>;
  /** The deployment's session timeouts. */
  config: { readonly session: Pick<GatehouseConfig['session'], TimeoutName> };
  sessions: Pick<SessionService, 'startSession'>;
  metrics: Pick<Metrics, 'loginSucceeded' | 'sessionCreated'>;
}

type TimeoutName = 'idleTimeoutSeconds' | 'absoluteTimeoutSeconds';

/** The callback request, as the adapter parsed it. */
export interface CallbackRequest {
  tenant: string;
  provider: string;
  /** The callback's query string (`?code=…&state=…`, or `''`), appended to the configured redirect URI. */
  query: string;
  /** The login-binding cookie, if the browser sent one. */
  binding: string | undefined;
  /** The browser's `User-Agent`, for the session's device summary. */
  userAgent: string | undefined;
  /** The transaction's take, if the adapter started it already (`takeCallbackTransaction`). */
  taking?: TakenTransaction | undefined;
}

/** The URL the IdP sent the browser back to: the configured redirect URI and the callback's query. */
export function callbackUrlOf(
  deps: Pick<CallbackDeps, 'providers'>,
  tenant: string,
  provider: string,
  query: string,
): URL {
  // The redirect URI comes from configuration, never from Host / X-Forwarded-Host.
  return new URL(`${deps.providers.redirectUri(tenant, provider)}${query}`);
}

/**
 * The browser's session as the adapter keeps it (in express-session's format): replaced by a new
 * one (a fresh id, never a pre-login one) holding the record, then saved; the browser learns the
 * new id only once the save succeeded.
 */
export interface BrowserSession {
  /** Replaces the browser's session by a new one holding `record`; returns the new session id. */
  renew(record: SessionRecord, maxAgeMs: number): Promise<string>;
  /** Writes the renewed session to the store. */
  save(): Promise<void>;
}

/** How a callback ended: a signed-in session, or a tenant admin's test of the provider. */
export type CallbackOutcome =
  | { kind: 'signed-in'; record: SessionRecord; returnTo: string }
  | {
      kind: 'tested';
      /** The admin who started the test (user digest). */
      testBy: string;
      /** What the IdP answered (the ID token's claims). */
      claims: Record<string, unknown>;
      provider: { id: string; displayName: string };
    };

export async function finishCallback(
  deps: CallbackDeps,
  request: CallbackRequest,
  session: BrowserSession,
): Promise<CallbackOutcome> {
  const { tenant, provider } = request;
  // The URL the adapter's take of the transaction was started for, if it started one.
  const callbackUrl =
    request.taking?.callbackUrl ?? callbackUrlOf(deps, tenant, provider, request.query);
  // Before the code exchange: a back-channel logout of the user received after this moment may
  // have crossed this sign-in (SessionService.startSession).
  const exchangeStartedAtMs = deps.clock();
  const login = await completeLogin(deps, {
    tenant,
    provider,
    callbackUrl,
    binding: request.binding,
    taking: request.taking,
  });
  if (login.transaction.testBy !== undefined) {
    // The admin's test: what the IdP answered, and no session touched (none created, none
    // replaced: `renew` and `save` are not called).
    const resolved = await deps.providers.resolve(tenant, provider);
    return {
      kind: 'tested',
      testBy: login.transaction.testBy,
      claims: login.claims,
      provider: { id: provider, displayName: resolved?.provider.displayName ?? provider },
    };
  }
  const now = deps.clock();
  const claims = login.claims;
  const timeouts = await sessionTimeouts(deps, tenant);
  const agent = deviceInfo(request.userAgent);
  const [sealedClaims, sealedTokens, sealedDpopKey] = await Promise.all([
    deps.vault.seal(filterClaims({ ...claims, sub: String(claims.sub) })),
    deps.vault.seal(login.tokens),
    login.dpopKey ? deps.vault.seal(login.dpopKey) : undefined,
  ]);
  const record: SessionRecord = {
    v: 2,
    tenant,
    provider,
    issuer: String(claims.iss),
    user: userDigest(String(claims.iss), String(claims.sub)),
    ...(typeof claims.sid === 'string' ? { idpSid: claims.sid } : {}),
    // Identity claims are sealed at rest like the tokens; `/bff/user` opens them.
    claims: sealedClaims,
    tokens: sealedTokens,
    accessTokenExpiresAtMs: login.tokens.expiresAtMs,
    // The DPoP key the tokens are bound to, sealed like them (a DPoP provider only).
    ...(sealedDpopKey ? { dpopKey: sealedDpopKey } : {}),
    createdAtMs: now,
    lastSeenAtMs: now,
    absoluteExpiresAtMs: now + timeouts.absoluteTimeoutSeconds * 1000,
    ...(timeouts.idleTimeoutSeconds !== deps.config.session.idleTimeoutSeconds
      ? { idleTimeoutMs: timeouts.idleTimeoutSeconds * 1000 }
      : {}),
    ...(login.refreshExpiresAt ? { refreshExpiresAtMs: login.refreshExpiresAt } : {}),
    handle: randomBytes(16).toString('base64url'),
    device: summaryOf(agent),
    deviceInfo: agent,
  };
  // Never adopt a pre-login session id: a fresh one for the signed-in session.
  const sid = await session.renew(record, timeouts.absoluteTimeoutSeconds * 1000);
  // The session, then its index entries (see `SessionService.startSession`: a listing meanwhile
  // must not prune them). A failure of either is a 503 with no cookie, and the session written
  // is deleted again: no browser ever holds a session that back-channel logout cannot find. A
  // back-channel logout of this IdP session that came meanwhile ends it there.
  await deps.sessions.startSession(sid, record, () => session.save(), exchangeStartedAtMs);
  deps.metrics.loginSucceeded(tenant, provider);
  deps.metrics.sessionCreated(tenant);
  return { kind: 'signed-in', record, returnTo: login.transaction.returnTo };
}

/** The deployment's timeouts with the tenant's own overrides (config or admin API) applied. */
async function sessionTimeouts(
  deps: Pick<CallbackDeps, 'registry' | 'config'>,
  tenantId: string,
): Promise<Record<TimeoutName, number>> {
  const overrides = (await deps.registry.tenant(tenantId))?.session;
  return {
    idleTimeoutSeconds: overrides?.idleTimeoutSeconds ?? deps.config.session.idleTimeoutSeconds,
    absoluteTimeoutSeconds:
      overrides?.absoluteTimeoutSeconds ?? deps.config.session.absoluteTimeoutSeconds,
  };
}
