import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { userDigest } from '../src/digest.ts';
import { GatehouseError } from '../src/errors.ts';
import {
  finishCallback,
  type BrowserSession,
  type CallbackDeps,
  type CallbackRequest,
} from '../src/oidc/callback.ts';
import type { GrantResponse, IdpGrants } from '../src/oidc/idp-grants.ts';
import { beginLogin } from '../src/oidc/login.ts';
import type { ResolvedProvider } from '../src/oidc/provider-clients.ts';
import { MemoryKeyValueStore } from '../src/session/kv.ts';
import type { SessionRecord, TokenSet } from '../src/session/model.ts';
import { SessionService } from '../src/session/service.ts';
import type { SessionStore } from '../src/session/session-store.ts';
import { Vault } from '../src/session/vault.ts';
import type { Provider, Tenant } from '../src/tenants/model.ts';
import { memoryStores } from './support/session-stores.ts';

/**
 * The callback's use case (`oidc/callback.ts` `finishCallback`) against a fake token endpoint, a
 * fake clock, a fake browser session and the sessions in memory: what a new session is made of,
 * the order in which it becomes real (fresh id, save, indexes), and what a test sign-in or a
 * failure leaves alone.
 */
const ISSUER = 'https://idp.example';
const BINDING = 'browser-binding-cookie';
const NOW = 1_800_000_000_000;
const configuration = new client.Configuration(
  {
    issuer: ISSUER,
    authorization_endpoint: `${ISSUER}/authorize`,
    token_endpoint: `${ISSUER}/token`,
  },
  'gatehouse',
);

const provider = {
  id: 'dev',
  tenant: 'acme',
  issuer: ISSUER,
  clientId: 'gatehouse',
  displayName: 'Dev IdP',
  scopes: ['openid', 'profile', 'offline_access'],
  authorizationParams: {},
  par: 'off',
  enabled: true,
} as unknown as Provider;

class FakeIdp implements IdpGrants {
  readonly codeGrants: URL[] = [];
  claims: Record<string, unknown> = {
    iss: ISSUER,
    sub: 'alice',
    name: 'Alice',
    email: 'alice@acme.test',
    nonce: 'n',
    sid: 'idp-session-1',
  };
  answer: () => Promise<GrantResponse> = async () =>
    ({
      token_type: 'bearer',
      access_token: 'at-1',
      refresh_token: 'rt-1',
      id_token: 'id-1',
      expires_in: 600,
      refresh_expires_in: 3600,
      claims: () => this.claims as ReturnType<GrantResponse['claims']>,
      expiresIn: () => 600,
    }) as unknown as GrantResponse;

  async authorizationCode(_configuration: client.Configuration, callbackUrl: URL) {
    this.codeGrants.push(callbackUrl);
    return this.answer();
  }

  async refresh(): Promise<GrantResponse> {
    throw new Error('no refresh in these tests');
  }
}

/** The browser's session as express-session would keep it, with every step written down. */
class FakeBrowserSession implements BrowserSession {
  readonly #events: string[];
  readonly #store: SessionStore;
  constructor(events: string[], store: SessionStore) {
    this.#events = events;
    this.#store = store;
  }
  record: SessionRecord | undefined;
  maxAgeMs: number | undefined;
  async renew(record: SessionRecord, maxAgeMs: number): Promise<string> {
    this.#events.push('renew');
    this.record = record;
    this.maxAgeMs = maxAgeMs;
    return 'fresh-sid';
  }
  async save(): Promise<void> {
    this.#events.push('save');
    await this.#store.save('fresh-sid', { gh: this.record });
  }
}

function setUp(tenantSession?: Tenant['session'], options: { failIndex?: boolean } = {}) {
  const events: string[] = [];
  const idp = new FakeIdp();
  const vault = new Vault([{ kid: 'k1', key: randomBytes(32).toString('base64url') }]);
  // The sessions and their indexes in memory, every index write and delete written down.
  const stores = memoryStores({
    clock: () => NOW,
    idleTimeoutSeconds: 1800,
    faults: [
      {
        operation: 'addToIndex',
        fails: (key) => {
          events.push(`index ${key.split(':')[1] ?? ''}`);
          return options.failIndex === true;
        },
      },
      {
        operation: 'delete',
        fails: (key) => {
          events.push(`delete ${key}`);
          return false;
        },
      },
    ],
  });
  const sessions = new SessionService({
    store: stores.store,
    kv: stores.kv,
    clock: () => NOW,
    idleTimeoutSeconds: 1800,
  });
  const deps = {
    providers: {
      resolve: async (tenant: string, id: string) =>
        tenant === 'acme' && id === 'dev'
          ? ({ tenant: { id: 'acme' } as Tenant, provider } satisfies ResolvedProvider)
          : undefined,
      client: async () => configuration,
      redirectUri: (tenant: string, id: string) =>
        `https://app.example/bff/callback/${tenant}/${id}`,
    },
    transactions: new MemoryKeyValueStore({ clock: () => NOW }),
    vault,
    clock: () => NOW,
    grants: idp,
    registry: {
      tenant: async (id: string) =>
        id === 'acme' ? ({ id: 'acme', session: tenantSession } as Tenant) : undefined,
    },
    config: { session: { idleTimeoutSeconds: 1800, absoluteTimeoutSeconds: 28_800 } },
    sessions,
    metrics: {
      loginSucceeded: (tenant: string, id: string) => events.push(`loginSucceeded:${tenant}/${id}`),
      sessionCreated: (tenant: string) => events.push(`sessionCreated:${tenant}`),
    },
  } satisfies CallbackDeps;
  const session = new FakeBrowserSession(events, stores.store);

  /** Starts a login (optionally a tenant admin's test) and returns its callback's query. */
  const begin = async (testBy?: string) => {
    const url = await beginLogin(deps, {
      tenant: 'acme',
      provider: 'dev',
      returnTo: '/dashboard',
      binding: BINDING,
      ...(testBy ? { testBy } : {}),
    });
    return `?code=c0de&state=${url.searchParams.get('state') ?? ''}`;
  };
  const finish = (query: string, overrides: Partial<CallbackRequest> = {}) =>
    finishCallback(
      deps,
      {
        tenant: 'acme',
        provider: 'dev',
        query,
        binding: BINDING,
        userAgent:
          'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36',
        ...overrides,
      },
      session,
    );
  return { events, idp, vault, deps, session, sessions, stores, begin, finish };
}

describe('finishCallback: a signed-in session', () => {
  it('gives the session a fresh id, saves it, then indexes it, then sends the browser to returnTo', async () => {
    const { events, sessions, session, begin, finish } = setUp();
    const outcome = await finish(await begin());
    // The index entries only once the session is stored: a listing meanwhile would prune them.
    expect(events).toEqual([
      'renew',
      'save',
      'index user',
      'index idp-sid',
      'index tenant',
      'loginSucceeded:acme/dev',
      'sessionCreated:acme',
    ]);
    expect(outcome).toEqual({ kind: 'signed-in', record: session.record, returnTo: '/dashboard' });
    const found = new Map([['fresh-sid', session.record]]);
    expect(await sessions.sessionsOfUser(ISSUER, 'alice')).toEqual(found);
    expect(await sessions.sessionsOfIdpSession(ISSUER, 'idp-session-1')).toEqual(found);
    expect(await sessions.sessionsOfTenant('acme')).toEqual(found);
  });

  it('exchanges the code at the configured redirect URI, whatever host the request came to', async () => {
    const { idp, begin, finish } = setUp();
    const query = await begin();
    await finish(query);
    expect(idp.codeGrants.map((url) => url.href)).toEqual([
      `https://app.example/bff/callback/acme/dev${query}`,
    ]);
  });

  it('keeps the user only as a digest, and the shown claims and the tokens sealed', async () => {
    const { vault, begin, finish } = setUp();
    const outcome = await finish(await begin());
    if (outcome.kind !== 'signed-in') throw new Error('expected a session');
    const { record } = outcome;
    expect(record.user).toBe(userDigest(ISSUER, 'alice'));
    expect(record.issuer).toBe(ISSUER);
    expect(JSON.stringify(record)).not.toContain('alice@acme.test');
    expect(JSON.stringify(record)).not.toContain('at-1');
    // Protocol claims (nonce, sid, iss) stay out of what /bff/user shows.
    expect(await vault.open(record.claims)).toEqual({
      sub: 'alice',
      name: 'Alice',
      email: 'alice@acme.test',
    });
    expect(await vault.open<TokenSet>(record.tokens)).toMatchObject({
      accessToken: 'at-1',
      refreshToken: 'rt-1',
      idToken: 'id-1',
      expiresAtMs: NOW + 600_000,
    });
    expect(record.accessTokenExpiresAtMs).toBe(NOW + 600_000);
  });

  it('keeps the IdP session id for back-channel logout and the refresh token’s death as a limit', async () => {
    const { begin, finish } = setUp();
    const outcome = await finish(await begin());
    if (outcome.kind !== 'signed-in') throw new Error('expected a session');
    expect(outcome.record.idpSid).toBe('idp-session-1');
    expect(outcome.record.refreshExpiresAtMs).toBe(NOW + 3600 * 1000);
  });

  it('stamps the session with the fake clock and the deployment’s absolute timeout', async () => {
    const { session, begin, finish } = setUp();
    const outcome = await finish(await begin());
    if (outcome.kind !== 'signed-in') throw new Error('expected a session');
    expect(outcome.record).toMatchObject({
      createdAtMs: NOW,
      lastSeenAtMs: NOW,
      absoluteExpiresAtMs: NOW + 28_800 * 1000,
    });
    // The deployment's idle timeout is not copied into the record.
    expect(outcome.record.idleTimeoutMs).toBeUndefined();
    expect(session.maxAgeMs).toBe(28_800 * 1000);
  });

  it('applies the tenant’s own timeouts to the record and to the cookie’s lifetime', async () => {
    const { session, begin, finish } = setUp({
      idleTimeoutSeconds: 600,
      absoluteTimeoutSeconds: 3600,
    });
    const outcome = await finish(await begin());
    if (outcome.kind !== 'signed-in') throw new Error('expected a session');
    expect(outcome.record.absoluteExpiresAtMs).toBe(NOW + 3600 * 1000);
    expect(outcome.record.idleTimeoutMs).toBe(600 * 1000);
    expect(session.maxAgeMs).toBe(3600 * 1000);
  });

  it('names the device from the User-Agent and gives the session a public handle of its own', async () => {
    const first = setUp();
    const a = await first.finish(await first.begin());
    const second = setUp();
    const b = await second.finish(await second.begin(), { userAgent: undefined });
    if (a.kind !== 'signed-in' || b.kind !== 'signed-in') throw new Error('expected sessions');
    expect(a.record.device).toMatch(/Chrome 142 on Linux/);
    expect(a.record.handle).toMatch(/^[\w-]{22}$/);
    expect(a.record.handle).not.toBe(b.record.handle);
  });
});

describe('finishCallback: what it leaves alone', () => {
  it('a tenant admin’s test sign-in touches no session and reports what the IdP answered', async () => {
    const { events, begin, finish } = setUp();
    const outcome = await finish(await begin('admin-digest'));
    expect(outcome).toMatchObject({
      kind: 'tested',
      testBy: 'admin-digest',
      provider: { id: 'dev', displayName: 'Dev IdP' },
      claims: { sub: 'alice', name: 'Alice' },
    });
    expect(events).toEqual([]);
  });

  it('an IdP that cannot be reached creates no session (502 idp_unavailable)', async () => {
    const { events, idp, begin, finish } = setUp();
    idp.answer = () => Promise.reject(new TypeError('fetch failed'));
    const failure = await finish(await begin()).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(GatehouseError);
    expect(failure).toMatchObject({ code: 'idp_unavailable', status: 502 });
    expect(events).toEqual([]);
  });

  it('a callback from another browser creates no session and spends the transaction', async () => {
    const { events, idp, begin, finish } = setUp();
    const query = await begin();
    await expect(finish(query, { binding: 'someone-else' })).rejects.toMatchObject({
      code: 'login_transaction_invalid',
    });
    await expect(finish(query)).rejects.toMatchObject({ code: 'login_transaction_invalid' });
    expect(idp.codeGrants).toEqual([]);
    expect(events).toEqual([]);
  });

  it('a store failure while indexing fails the callback and deletes the session it saved', async () => {
    const { events, sessions, stores, begin, finish } = setUp(undefined, { failIndex: true });
    await expect(finish(await begin())).rejects.toMatchObject({ code: 'store_unavailable' });
    // The callback fails, so the adapter sets no cookie: no browser holds the session, and the
    // store no longer holds it either (the delete is not waited for).
    await expect.poll(() => stores.store.load('fresh-sid')).toBeUndefined();
    expect(events).toEqual([
      'renew',
      'save',
      'index user',
      'index idp-sid',
      'index tenant',
      'delete sess:fresh-sid',
    ]);
    expect(await sessions.sessionsOfUser(ISSUER, 'alice')).toEqual(new Map());
  });

  it('a store failure while saving fails the callback, indexes nothing (no sign-in counted)', async () => {
    const { events, stores, begin, finish, session } = setUp();
    session.save = async () => {
      events.push('save');
      throw new Error('store down');
    };
    await expect(finish(await begin())).rejects.toThrow('store down');
    // A save that failed late may still land: the delete follows it.
    expect(events).toEqual(['renew', 'save', 'delete sess:fresh-sid']);
    expect(await stores.kv.indexMembers('idx:tenant:{acme}', NOW)).toEqual([]);
  });
});
