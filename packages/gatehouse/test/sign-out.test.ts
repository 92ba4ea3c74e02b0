import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { userDigest } from '../src/digest.ts';
import type { AuditEvent } from '../src/observability/audit.ts';
import { LOGOUT_STATE_TTL_MS, takeLogout } from '../src/oidc/logout.ts';
import type { ResolvedProvider } from '../src/oidc/provider-clients.ts';
import {
  signOut,
  type IdpRevocation,
  type SignOutDeps,
  type SignOutRequest,
} from '../src/oidc/sign-out.ts';
import { MemoryKeyValueStore } from '../src/session/kv.ts';
import type { SessionRecord, TokenSet } from '../src/session/model.ts';
import { Vault } from '../src/session/vault.ts';
import type { Provider, Tenant } from '../src/tenants/model.ts';

/**
 * Logout's use case (`oidc/sign-out.ts` `signOut`) against a fake IdP (its metadata, a fake
 * revocation endpoint), a fake clock and fake session bookkeeping: the end-session redirect
 * and its state, the order in which the session ends, and revocation that never fails a logout.
 */
const ISSUER = 'https://idp.example';
const ORIGIN = 'https://app.example';
const START = 1_800_000_000_000;

function idpConfiguration(metadata: Partial<client.ServerMetadata> = {}) {
  return new client.Configuration(
    {
      issuer: ISSUER,
      authorization_endpoint: `${ISSUER}/authorize`,
      token_endpoint: `${ISSUER}/token`,
      end_session_endpoint: `${ISSUER}/session/end`,
      revocation_endpoint: `${ISSUER}/token/revocation`,
      ...metadata,
    },
    'gatehouse',
  );
}

const baseProvider = {
  id: 'dev',
  tenant: 'acme',
  issuer: ISSUER,
  clientId: 'gatehouse',
  logout: 'end-session',
  endSessionParams: {},
  enabled: true,
} as unknown as Provider;

/** What openid-client throws for an OAuth error answer. */
function oauthError(error: string, status = 400): client.ResponseBodyError {
  return new client.ResponseBodyError('server responded with an error in the response body', {
    cause: { error },
    response: new Response(null, { status }),
  });
}

class FakeRevocation implements IdpRevocation {
  constructor(events: string[]) {
    this.#events = events;
  }
  readonly #events: string[];
  readonly revoked: Array<{ token: string; hint: string }> = [];
  failWith: ((hint: string) => Error | undefined) | undefined;
  async revoke(_configuration: client.Configuration, token: string, hint: string): Promise<void> {
    this.#events.push(`revoke:${hint}`);
    this.revoked.push({ token, hint });
    const failure = this.failWith?.(hint);
    if (failure !== undefined) throw failure;
  }
}

interface LogLine {
  level: 'info' | 'warn';
  fields: Record<string, unknown>;
  message: string;
}

async function setUp(
  options: {
    provider?: Partial<Provider>;
    metadata?: Partial<client.ServerMetadata>;
    tokens?: Partial<TokenSet>;
    claims?: Record<string, unknown>;
  } = {},
) {
  const clock = { now: START };
  const events: string[] = [];
  const vault = new Vault([{ kid: 'k1', key: randomBytes(32).toString('base64url') }]);
  const transactions = new MemoryKeyValueStore({ clock: () => clock.now });
  const revocation = new FakeRevocation(events);
  const configuration = idpConfiguration(options.metadata);
  const audit: AuditEvent[] = [];
  const ended: unknown[] = [];
  const provider: Provider = { ...baseProvider, ...options.provider };
  const deps = {
    providers: {
      resolve: async (tenant: string, id: string) =>
        tenant === 'acme' && id === 'dev'
          ? ({ tenant: { id: 'acme' } as Tenant, provider } satisfies ResolvedProvider)
          : undefined,
      client: async () => configuration,
    },
    vault,
    transactions: {
      put: async (key: string, value: string, ttlMs: number) => {
        events.push('state stored');
        await transactions.put(key, value, ttlMs);
      },
    },
    sessions: {
      ended: (_record: SessionRecord, ending: unknown) => {
        events.push('ended');
        ended.push(ending);
      },
      unindexSession: async (sid: string) => {
        events.push(`unindex:${sid}`);
      },
    },
    metrics: { sessionsEnded: (reason: string) => events.push(`metric:${reason}`) },
    audit: {
      record: (event: Omit<AuditEvent, 'time'>) => {
        events.push(`audit:${event.action}`);
        audit.push(event as AuditEvent);
      },
    },
    publicOrigin: ORIGIN,
    revocation,
  } satisfies SignOutDeps;
  const record = {
    v: 2,
    tenant: 'acme',
    provider: 'dev',
    issuer: ISSUER,
    user: userDigest(ISSUER, 'alice'),
    claims: await vault.seal({ sub: 'alice', ...options.claims }),
    tokens: await vault.seal({
      accessToken: 'at-1',
      refreshToken: 'rt-1',
      idToken: 'id-1',
      expiresAtMs: START + 600_000,
      ...options.tokens,
    } satisfies TokenSet),
    accessTokenExpiresAtMs: START + 600_000,
    createdAtMs: START,
    lastSeenAtMs: START,
    absoluteExpiresAtMs: START + 3_600_000,
    handle: 'public-handle',
    device: 'Chrome on Linux',
  } as SessionRecord;
  const log: LogLine[] = [];
  const request: SignOutRequest = {
    sid: 'sid-1',
    record,
    returnTo: '/goodbye',
    origin: { requestId: 'req-1', ip: '203.0.113.9' },
    log: {
      info: (fields, message) => {
        log.push({ level: 'info', fields: fields as Record<string, unknown>, message });
      },
      warn: (fields, message) => {
        log.push({ level: 'warn', fields: fields as Record<string, unknown>, message });
      },
    },
  };
  /** Whether the browser's session was still there to end (not ended by another request). */
  const browserSession = { existed: true };
  const endBrowserSession = async () => {
    events.push('browser session ended');
    return browserSession.existed;
  };
  const run = () => signOut(deps, request, endBrowserSession);
  return { clock, events, deps, transactions, revocation, audit, ended, log, run, browserSession };
}

describe('signOut: the end-session redirect', () => {
  it('sends the browser to the IdP’s end-session URL with the ID token, the signed-out URI and a state', async () => {
    const { run } = await setUp();
    const { redirectTo } = await run();
    const url = new URL(redirectTo);
    expect(url.origin + url.pathname).toBe(`${ISSUER}/session/end`);
    expect(url.searchParams.get('client_id')).toBe('gatehouse');
    expect(url.searchParams.get('id_token_hint')).toBe('id-1');
    expect(url.searchParams.get('post_logout_redirect_uri')).toBe(`${ORIGIN}/bff/signed-out`);
    expect(url.searchParams.get('state')).toMatch(/^[\w-]{43}$/);
  });

  it('remembers where the app continues under the state, once, until the state expires', async () => {
    const first = await setUp();
    const state = new URL((await first.run()).redirectTo).searchParams.get('state') ?? '';
    expect(await takeLogout(first.transactions, state)).toBe('/goodbye');
    expect(await takeLogout(first.transactions, state)).toBeUndefined();

    const late = await setUp();
    const lateState = new URL((await late.run()).redirectTo).searchParams.get('state') ?? '';
    late.clock.now += LOGOUT_STATE_TTL_MS;
    expect(await takeLogout(late.transactions, lateState)).toBeUndefined();
  });

  it('sends the logout hint from the claims when the session has no ID token', async () => {
    const { run } = await setUp({
      tokens: { idToken: undefined },
      claims: { login_hint: 'alice-hint' },
    });
    const url = new URL((await run()).redirectTo);
    expect(url.searchParams.get('id_token_hint')).toBeNull();
    expect(url.searchParams.get('logout_hint')).toBe('alice-hint');
  });

  it('goes straight back to the app when the provider does no IdP logout, and stores no state', async () => {
    const { run, events } = await setUp({ provider: { logout: 'none' } });
    expect(await run()).toEqual({ redirectTo: '/goodbye' });
    expect(events).not.toContain('state stored');
  });

  it('goes straight back to the app when the IdP has no end-session endpoint', async () => {
    const { run, events } = await setUp({ metadata: { end_session_endpoint: undefined } });
    expect(await run()).toEqual({ redirectTo: '/goodbye' });
    expect(events).not.toContain('state stored');
  });

  it('sends Cognito’s /logout with client_id and logout_uri, and no state', async () => {
    const { run, events } = await setUp({ provider: { logout: 'cognito' } });
    const url = new URL((await run()).redirectTo);
    expect(url.pathname).toBe('/logout');
    expect(url.searchParams.get('client_id')).toBe('gatehouse');
    expect(url.searchParams.get('logout_uri')).toBe(`${ORIGIN}/bff/signed-out`);
    expect(url.searchParams.has('state')).toBe(false);
    expect(events).not.toContain('state stored');
  });
});

describe('signOut: ending the session', () => {
  it('stores the state first, ends the session, then revokes both tokens', async () => {
    const { run, events, revocation } = await setUp();
    await run();
    expect(events).toEqual([
      'state stored',
      'browser session ended',
      'metric:logout',
      'audit:sign-out',
      'ended',
      'unindex:sid-1',
      'revoke:access_token',
      'revoke:refresh_token',
    ]);
    expect(revocation.revoked).toEqual([
      { token: 'at-1', hint: 'access_token' },
      { token: 'rt-1', hint: 'refresh_token' },
    ]);
  });

  it('records the sign-out as the user’s own, with the request’s id and address', async () => {
    const { run, audit, ended } = await setUp();
    await run();
    const actor = { kind: 'user', id: userDigest(ISSUER, 'alice') };
    expect(audit).toEqual([
      {
        tenant: 'acme',
        actor,
        action: 'sign-out',
        target: 'provider:dev',
        outcome: 'success',
        requestId: 'req-1',
        ip: '203.0.113.9',
      },
    ]);
    expect(ended).toEqual([{ reason: 'logout', by: actor, requestId: 'req-1', ip: '203.0.113.9' }]);
  });

  it('a session another request ended first (a second tab) is not counted or audited again', async () => {
    const { run, events, browserSession } = await setUp();
    browserSession.existed = false;
    const { redirectTo } = await run();
    expect(new URL(redirectTo).pathname).toBe('/session/end');
    expect(events).toEqual([
      'state stored',
      'browser session ended',
      'unindex:sid-1',
      'revoke:access_token',
      'revoke:refresh_token',
    ]);
  });

  it('a store failure while storing the state ends nothing (the user can try again)', async () => {
    const { run, events, deps } = await setUp();
    deps.transactions.put = async () => {
      throw new Error('store down');
    };
    await expect(run()).rejects.toThrow('store down');
    expect(events).toEqual([]);
  });

  it('an IdP that cannot be reached leaves a local logout back to the app, logged without a stack', async () => {
    const { run, events, deps, log } = await setUp();
    deps.providers.client = async () => {
      throw new TypeError('discovery failed');
    };
    expect(await run()).toEqual({ redirectTo: '/goodbye' });
    expect(events).toEqual([
      'browser session ended',
      'metric:logout',
      'audit:sign-out',
      'ended',
      'unindex:sid-1',
    ]);
    expect(log).toEqual([
      {
        level: 'warn',
        fields: { tenant: 'acme', provider: 'dev', reason: 'discovery failed' },
        message: 'logout: could not end the IdP session',
      },
    ]);
  });

  it('revokes nothing at an IdP without a revocation endpoint', async () => {
    const { run, revocation } = await setUp({ metadata: { revocation_endpoint: undefined } });
    await run();
    expect(revocation.revoked).toEqual([]);
  });

  it('revokes only the access token of a session without a refresh token', async () => {
    const { run, revocation } = await setUp({ tokens: { refreshToken: undefined } });
    await run();
    expect(revocation.revoked).toEqual([{ token: 'at-1', hint: 'access_token' }]);
  });
});

describe('signOut: revocation never fails a logout', () => {
  it('an IdP that cannot revoke a JWT access token is one info line', async () => {
    const { run, revocation, log } = await setUp();
    revocation.failWith = (hint) =>
      hint === 'access_token' ? oauthError('unsupported_token_type') : undefined;
    expect((await run()).redirectTo).toMatch(/^https:\/\/idp\.example\/session\/end\?/);
    expect(log).toEqual([
      {
        level: 'info',
        fields: {
          tenant: 'acme',
          provider: 'dev',
          token: 'access_token',
          error: 'unsupported_token_type',
        },
        message: 'logout: the IdP does not revoke this token',
      },
    ]);
  });

  it('any other refusal or an unreachable IdP is a warning per token, and the browser still leaves', async () => {
    const { run, revocation, log } = await setUp();
    revocation.failWith = (hint) =>
      hint === 'access_token' ? oauthError('server_error', 503) : new TypeError('fetch failed');
    expect((await run()).redirectTo).toMatch(/^https:\/\/idp\.example\/session\/end\?/);
    expect(log).toEqual([
      {
        level: 'warn',
        fields: {
          tenant: 'acme',
          provider: 'dev',
          token: 'access_token',
          error: 'server_error',
          status: 503,
        },
        message: 'logout: token revocation failed',
      },
      {
        level: 'warn',
        fields: { tenant: 'acme', provider: 'dev', token: 'refresh_token', reason: 'fetch failed' },
        message: 'logout: token revocation failed',
      },
    ]);
    // No token in any log line.
    expect(JSON.stringify(log)).not.toMatch(/at-1|rt-1|id-1/);
  });
});
