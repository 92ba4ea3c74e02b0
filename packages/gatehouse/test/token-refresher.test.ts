import { userDigest } from '../src/digest.ts';
import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { GrantResponse, IdpGrants } from '../src/oidc/idp-grants.ts';
import { TokenRefresher } from '../src/oidc/refresh.ts';
import type { KeyValueStore } from '../src/session/kv.ts';
import type { SessionRecord, TokenSet } from '../src/session/model.ts';
import type { SessionStore } from '../src/session/session-store.ts';
import { SessionService } from '../src/session/service.ts';
import { memoryStores, storedSession, type Fault } from './support/session-stores.ts';
import { Vault } from '../src/session/vault.ts';
import { calculateJwkThumbprint } from 'jose';
import { newDpopKey } from '../src/oidc/dpop.ts';

/**
 * The refresh use case against a fake IdP (the token endpoint seam) and a fake clock, on the
 * memory stores: every outcome of a refresh grant and what it does to the session.
 */
const ISSUER = 'https://idp.example';
const SID = 'sid-1';
const SKEW_SECONDS = 30;
const configuration = new client.Configuration(
  { issuer: ISSUER, token_endpoint: `${ISSUER}/token` },
  'gatehouse',
);

interface RefreshCall {
  refreshToken: string;
  parameters: Record<string, string>;
  /** Only for a DPoP session (the grant then carries a proof). */
  dpop?: client.DPoPHandle;
}

/** A token endpoint whose every answer the test decides; it counts the grants. */
class FakeIdp implements IdpGrants {
  readonly calls: RefreshCall[] = [];
  /** By default the n-th grant answers `at-n` and rotates the refresh token to `rt-n`. */
  answer: (call: RefreshCall) => Promise<GrantResponse> = async () =>
    tokenResponse({
      access_token: `at-${this.calls.length}`,
      refresh_token: `rt-${this.calls.length}`,
    });

  async refresh(
    _configuration: client.Configuration,
    refreshToken: string,
    parameters: Record<string, string>,
    options?: client.DPoPOptions,
  ): Promise<GrantResponse> {
    const call = { refreshToken, parameters, ...(options?.DPoP ? { dpop: options.DPoP } : {}) };
    this.calls.push(call);
    return this.answer(call);
  }

  async authorizationCode(): Promise<GrantResponse> {
    throw new Error('no login in these tests');
  }
}

function tokenResponse(
  body: {
    access_token: string;
    refresh_token?: string;
    expires_in?: number;
    [name: string]: unknown;
  },
  claims?: Record<string, unknown>,
): GrantResponse {
  return {
    token_type: 'bearer',
    expires_in: 600,
    ...body,
    claims: () => claims as ReturnType<GrantResponse['claims']>,
    expiresIn: () => body.expires_in ?? 600,
  } as GrantResponse;
}

/** What openid-client throws for an OAuth error answer of the token endpoint. */
function oauthError(error: string, status = 400): client.ResponseBodyError {
  return new client.ResponseBodyError('server responded with an error in the response body', {
    cause: { error },
    response: new Response(null, { status }),
  });
}

const vault = new Vault([{ kid: 'k1', key: randomBytes(32).toString('base64url') }]);

interface Harness {
  idp: FakeIdp;
  clock: { now: number };
  store: SessionStore;
  kv: KeyValueStore;
  sessions: SessionService;
  refresher: TokenRefresher;
  /** Another instance: its own service and refresher over the same stores and IdP. */
  instance(): TokenRefresher;
  stored(): Promise<SessionRecord | undefined>;
  storedTokens(): Promise<TokenSet | undefined>;
}

const services: SessionService[] = [];
afterEach(() => {
  for (const service of services.splice(0)) service.close();
});

async function setUp(
  options: {
    tokens?: Partial<TokenSet>;
    /** Operations of the store that fail (before the store port's decorator). */
    faults?: Fault[];
    maxWaitMs?: number;
    /** A DPoP session: this sealed private key is in the record. */
    dpopKey?: string;
  } = {},
): Promise<Harness> {
  const clock = { now: 1_800_000_000_000 };
  const now = () => clock.now;
  const idp = new FakeIdp();
  const { store, kv } = memoryStores({ clock: now, faults: options.faults ?? [] });
  const newService = () => {
    const service = new SessionService({ store, kv, clock: now, idleTimeoutSeconds: 3600 });
    services.push(service);
    return service;
  };
  const newRefresher = (sessions: SessionService) =>
    new TokenRefresher({
      sessions,
      providers: { client: async () => configuration },
      vault,
      skewSeconds: SKEW_SECONDS,
      grants: idp,
      pollMs: 5,
      ...(options.maxWaitMs ? { maxWaitMs: options.maxWaitMs } : {}),
    });
  const tokens: TokenSet = {
    accessToken: 'at-0',
    refreshToken: 'rt-0',
    // Already inside the skew window: the next use refreshes.
    expiresAtMs: clock.now + 10_000,
    ...options.tokens,
  };
  const record: SessionRecord = {
    v: 2,
    tenant: 'acme',
    provider: 'dev',
    issuer: ISSUER,
    user: userDigest(ISSUER, 'alice'),
    claims: await vault.seal({ sub: 'alice' }),
    tokens: await vault.seal(tokens),
    accessTokenExpiresAtMs: tokens.expiresAtMs,
    createdAtMs: clock.now,
    lastSeenAtMs: clock.now,
    absoluteExpiresAtMs: clock.now + 8 * 3_600_000,
    handle: 'handle-1',
    device: 'test',
    ...(options.dpopKey ? { dpopKey: options.dpopKey } : {}),
  };
  await store.save(SID, storedSession(record));
  const sessions = newService();
  await sessions.indexSession(SID, record);
  const stored = async () => store.read(SID);
  return {
    idp,
    clock,
    store,
    kv,
    sessions,
    refresher: newRefresher(sessions),
    instance: () => newRefresher(newService()),
    stored,
    storedTokens: async () => {
      const current = await stored();
      return current ? vault.open<TokenSet>(current.tokens) : undefined;
    },
  };
}

/** The access token as a proxied request would get it: from the record read from the store. */
async function accessToken(h: Harness, refresher = h.refresher, resource?: string) {
  const stored = await h.stored();
  if (!stored) throw new Error('no session stored');
  return refresher.accessToken(SID, stored, resource);
}

describe('TokenRefresher: refresh outcomes', () => {
  it('uses the access token as it is while it is outside the skew window (no grant)', async () => {
    const h = await setUp({ tokens: { expiresAtMs: 1_800_000_000_000 + 300_000 } });
    expect(await accessToken(h)).toBe('at-0');
    expect(h.idp.calls).toHaveLength(0);
    // Once inside the skew window, it is refreshed.
    h.clock.now += (300 - SKEW_SECONDS) * 1000;
    expect(await accessToken(h)).toBe('at-1');
    expect(h.idp.calls).toHaveLength(1);
  });

  it('stores a rotated refresh token, and the next refresh uses it', async () => {
    const h = await setUp();
    expect(await accessToken(h)).toBe('at-1');
    expect(h.idp.calls).toEqual([{ refreshToken: 'rt-0', parameters: {} }]);
    const tokens = await h.storedTokens();
    expect(tokens).toMatchObject({ accessToken: 'at-1', refreshToken: 'rt-1' });
    const record = await h.stored();
    expect(record?.accessTokenExpiresAtMs).toBe(h.clock.now + 600_000);

    h.clock.now += 600_000;
    expect(await accessToken(h)).toBe('at-2');
    expect(h.idp.calls[1]?.refreshToken).toBe('rt-1');
  });

  it('keeps the refresh token it has when the IdP does not rotate it', async () => {
    const h = await setUp();
    h.idp.answer = async () => tokenResponse({ access_token: 'at-new' });
    expect(await accessToken(h)).toBe('at-new');
    expect(await h.storedTokens()).toMatchObject({ refreshToken: 'rt-0' });
  });

  it('bounds the session by refresh_expires_in when the IdP sends it', async () => {
    const h = await setUp();
    h.idp.answer = async () =>
      tokenResponse({ access_token: 'at-1', refresh_token: 'rt-1', refresh_expires_in: 1800 });
    await accessToken(h);
    expect((await h.stored())?.refreshExpiresAtMs).toBe(h.clock.now + 1_800_000);
  });

  it('invalid_grant ends the session (401 session_expired) everywhere', async () => {
    const h = await setUp();
    h.idp.answer = async () => {
      throw oauthError('invalid_grant');
    };
    await expect(accessToken(h)).rejects.toMatchObject({ status: 401, code: 'session_expired' });
    expect(await h.stored()).toBeUndefined();
    expect((await h.sessions.sessionsOfUser(ISSUER, 'alice')).size).toBe(0);
  });

  it('invalid_target answers 502 resource_not_granted and keeps the session', async () => {
    const h = await setUp();
    h.idp.answer = async () => {
      throw oauthError('invalid_target');
    };
    await expect(accessToken(h, h.refresher, 'https://api.example')).rejects.toMatchObject({
      status: 502,
      code: 'resource_not_granted',
      expose: true,
    });
    expect(h.idp.calls[0]?.parameters).toEqual({ resource: 'https://api.example' });
    expect(await h.storedTokens()).toMatchObject({ accessToken: 'at-0', refreshToken: 'rt-0' });
  });

  it.each([
    ['an unreachable IdP', () => new TypeError('fetch failed')],
    ['a 5xx answer', () => oauthError('server_error', 500)],
    ['a 503 temporarily_unavailable', () => oauthError('temporarily_unavailable', 503)],
    [
      'a non-conforming answer',
      () =>
        Object.assign(new client.ClientError('unexpected response content-type'), {
          code: 'OAUTH_RESPONSE_IS_NOT_JSON',
        }),
    ],
  ])('%s answers 502 idp_unavailable and keeps the session', async (_name, failure) => {
    const h = await setUp();
    const before = await h.stored();
    h.idp.answer = async () => {
      throw failure();
    };
    await expect(accessToken(h)).rejects.toMatchObject({ status: 502, code: 'idp_unavailable' });
    expect(await h.stored()).toEqual(before);
    // The lease was released: once the IdP is back, the next call refreshes.
    h.idp.answer = async () => tokenResponse({ access_token: 'at-back', refresh_token: 'rt-1' });
    expect(await accessToken(h)).toBe('at-back');
  });

  it.each([
    ['another subject', { sub: 'mallory', iss: ISSUER }],
    ['another issuer', { sub: 'alice', iss: 'https://other.example' }],
  ])('an ID token about %s ends the session (OIDC Core 12.2)', async (_name, claims) => {
    const h = await setUp();
    h.idp.answer = async () =>
      tokenResponse({ access_token: 'at-1', refresh_token: 'rt-1', id_token: 'x.y.z' }, claims);
    await expect(accessToken(h)).rejects.toMatchObject({ status: 401, code: 'session_expired' });
    expect(await h.stored()).toBeUndefined();
  });

  it('a DPoP session refreshes with a proof by its own key and keeps the bound token', async () => {
    const { jwk } = await newDpopKey();
    const h = await setUp({ dpopKey: await vault.seal(jwk) });
    h.idp.answer = async () =>
      tokenResponse({ access_token: 'at-bound', refresh_token: 'rt-1', token_type: 'dpop' });
    expect(await accessToken(h)).toBe('at-bound');
    const { d: _private, ...publicJwk } = jwk;
    expect(await h.idp.calls[0]?.dpop?.calculateThumbprint()).toBe(
      await calculateJwkThumbprint(publicJwk),
    );
    expect((await h.stored())?.dpopKey).toBeDefined();
  });

  it('a DPoP session whose refresh comes back as a Bearer token ends (the binding was dropped)', async () => {
    const { jwk } = await newDpopKey();
    const h = await setUp({ dpopKey: await vault.seal(jwk) });
    await expect(accessToken(h)).rejects.toMatchObject({ status: 401, code: 'session_expired' });
    expect(await h.stored()).toBeUndefined();
  });

  it('a session without DPoP refreshes without a proof', async () => {
    const h = await setUp();
    expect(await accessToken(h)).toBe('at-1');
    expect(h.idp.calls[0]?.dpop).toBeUndefined();
  });

  it('accepts a refreshed ID token about the same subject at the same issuer', async () => {
    const h = await setUp();
    h.idp.answer = async () =>
      tokenResponse(
        { access_token: 'at-1', refresh_token: 'rt-1', id_token: 'id-2' },
        { sub: 'alice', iss: ISSUER },
      );
    expect(await accessToken(h)).toBe('at-1');
    expect(await h.storedTokens()).toMatchObject({ idToken: 'id-2' });
  });

  it('a session without a refresh token ends when its access token does (no grant)', async () => {
    const h = await setUp({ tokens: { refreshToken: undefined } });
    await expect(accessToken(h)).rejects.toMatchObject({ status: 401, code: 'session_expired' });
    expect(h.idp.calls).toHaveLength(0);
    expect(await h.stored()).toBeUndefined();
  });

  it('a resource token refresh stores the resource token and the rotated refresh token', async () => {
    const h = await setUp();
    const resource = 'https://api.example';
    expect(await accessToken(h, h.refresher, resource)).toBe('at-1');
    const record = await h.stored();
    expect(record?.resourceTokens?.[resource]?.expiresAtMs).toBe(h.clock.now + 600_000);
    // The login's own access token is untouched; the refresh token rotated for everyone.
    expect(await h.storedTokens()).toMatchObject({ accessToken: 'at-0', refreshToken: 'rt-1' });
    expect(await accessToken(h, h.refresher, resource)).toBe('at-1');
    expect(h.idp.calls).toHaveLength(1);
  });
});

describe('TokenRefresher: single flight', () => {
  it('concurrent callers in one process share one grant', async () => {
    const h = await setUp();
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    h.idp.answer = async () => {
      await answered;
      return tokenResponse({ access_token: 'at-shared', refresh_token: 'rt-1' });
    };
    const callers = Array.from({ length: 8 }, () => accessToken(h));
    // Let every caller reach the in-flight refresh before the IdP answers.
    await new Promise((resolve) => setImmediate(resolve));
    answer();
    expect(await Promise.all(callers)).toEqual(Array(8).fill('at-shared'));
    expect(h.idp.calls).toHaveLength(1);
  });

  it('instances sharing the store make one grant; the others wait for the stored result', async () => {
    const h = await setUp();
    const others = [h.instance(), h.instance()];
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    h.idp.answer = async () => {
      await answered;
      return tokenResponse({ access_token: 'at-shared', refresh_token: 'rt-1' });
    };
    const first = accessToken(h);
    await expect.poll(() => h.idp.calls.length).toBe(1);
    const waiting = others.map((refresher) => accessToken(h, refresher));
    answer();
    expect(await Promise.all([first, ...waiting])).toEqual(Array(3).fill('at-shared'));
    expect(h.idp.calls).toHaveLength(1);
  });

  it('a caller that waits too long for another instance gets 503 refresh_busy with Retry-After', async () => {
    const h = await setUp({ maxWaitMs: 1000 });
    // Another instance holds the session's lease and never finishes.
    await h.kv.putIfAbsent(h.sessions.lockKey(SID), 'another-instance', 3_600_000);
    const waiting = accessToken(h);
    await new Promise((resolve) => setTimeout(resolve, 20));
    h.clock.now += 1001;
    await expect(waiting).rejects.toMatchObject({
      status: 503,
      code: 'refresh_busy',
      headers: { 'retry-after': '1' },
    });
    expect(h.idp.calls).toHaveLength(0);
  });
});

describe('TokenRefresher: refresh during a store outage', () => {
  /** Conditional writes (sessions) fail while `down` is set; reads still work. */
  function failingWrites() {
    const state = { down: false, writes: 0 };
    const fault: Fault = {
      operation: 'putIfExists',
      fails: () => {
        state.writes += 1;
        return state.down;
      },
    };
    return { fault, state };
  }

  it('keeps the refreshed tokens when the write fails, serves them without a second grant, and stores them later', async () => {
    const failing = failingWrites();
    const h = await setUp({ faults: [failing.fault] });
    failing.state.down = true;

    // The IdP rotated the refresh token: the result is used although it could not be stored.
    expect(await accessToken(h)).toBe('at-1');
    expect(h.idp.calls).toHaveLength(1);
    expect(failing.state.writes).toBeGreaterThan(1);
    expect(await h.storedTokens()).toMatchObject({ accessToken: 'at-0', refreshToken: 'rt-0' });

    // The next caller reads the old record from the store and still gets the kept tokens.
    expect(await accessToken(h)).toBe('at-1');
    expect(h.idp.calls).toHaveLength(1);
    // Another instance cannot refresh with the replaced refresh token: the lease is still held.
    expect(await h.kv.get(h.sessions.lockKey(SID))).toBeDefined();

    // Once the store answers again, the kept write lands and the lease is given back.
    failing.state.down = false;
    await expect
      .poll(async () => (await h.storedTokens())?.refreshToken, { timeout: 10_000 })
      .toBe('rt-1');
    await expect.poll(() => h.kv.get(h.sessions.lockKey(SID))).toBeUndefined();
    expect(await accessToken(h)).toBe('at-1');
    expect(h.idp.calls).toHaveLength(1);
  });
});
