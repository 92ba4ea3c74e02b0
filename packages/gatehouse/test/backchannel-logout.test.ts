import { userDigest } from '../src/digest.ts';
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackchannelLogout } from '../src/oidc/backchannel.ts';
import type { SessionRecord } from '../src/session/model.ts';
import { sessionKey } from '../src/session/session-store.ts';
import { SessionService } from '../src/session/service.ts';
import { firstCalls, memoryStores, storedSession } from './support/session-stores.ts';

/**
 * The back-channel logout receiver (`oidc/backchannel.ts`) with keys of its own, a JWKS served
 * by a fake fetch, a fake clock and the memory stores: which tokens are refused, and which
 * sessions end.
 */
const ISSUER = 'https://idp.example';
const JWKS_URI = `${ISSUER}/jwks`;
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const NOW = 1_800_000_000_000;
const configuration = new client.Configuration({ issuer: ISSUER, jwks_uri: JWKS_URI }, 'gatehouse');

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let signingKey: SigningKey;
let jwks: { keys: unknown[] };

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  signingKey = pair.privateKey;
  jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] };
});

function logoutToken(
  claims: JWTPayload = {},
  header: { alg?: string; typ?: string | undefined } = {},
  key: SigningKey | Uint8Array = signingKey,
): Promise<string> {
  return new SignJWT({
    iss: ISSUER,
    aud: 'gatehouse',
    iat: Math.floor(NOW / 1000),
    jti: randomUUID(),
    events: { [EVENT]: {} },
    ...claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'logout+jwt', ...header })
    .sign(key);
}

function record(overrides: Partial<SessionRecord>): SessionRecord {
  return {
    v: 2,
    tenant: 'acme',
    provider: 'dev',
    issuer: ISSUER,
    user: userDigest(ISSUER, 'alice'),
    claims: 'sealed-claims',
    tokens: 'sealed',
    accessTokenExpiresAtMs: NOW + 300_000,
    createdAtMs: NOW,
    lastSeenAtMs: NOW,
    absoluteExpiresAtMs: NOW + 3_600_000,
    handle: randomUUID(),
    device: 'test',
    ...overrides,
  };
}

async function setUp(options: { keySetDown?: boolean; failDestroys?: number } = {}) {
  const clock = () => NOW;
  // A session's deletion fails the first `failDestroys` times (the replay markers' never).
  const failedDeletes = firstCalls(options.failDestroys ?? 0);
  const { store, kv } = memoryStores({
    clock,
    faults: [
      { operation: 'delete', fails: (key) => key.startsWith(sessionKey('')) && failedDeletes() },
    ],
  });
  const sessions = new SessionService({
    store,
    kv,
    clock,
    idleTimeoutSeconds: 3600,
  });
  const fetches: string[] = [];
  const receiver = new BackchannelLogout({
    providers: { client: async () => configuration },
    sessions,
    replay: kv,
    fetch: async (input: string | URL | Request) => {
      fetches.push(input instanceof Request ? input.url : input.toString());
      if (options.keySetDown) throw new TypeError('fetch failed');
      return Response.json(jwks);
    },
  });
  const sessionsById: Record<string, SessionRecord> = {
    'alice-laptop': record({ idpSid: 'idp-1' }),
    'alice-phone': record({ idpSid: 'idp-2' }),
    'alice-other-tenant': record({ idpSid: 'idp-3', tenant: 'globex' }),
    bob: record({ user: userDigest(ISSUER, 'bob'), idpSid: 'idp-4' }),
  };
  for (const [sid, gh] of Object.entries(sessionsById)) {
    await store.save(sid, storedSession(gh));
    await sessions.indexSession(sid, gh);
  }
  const alive = async () => {
    const live: string[] = [];
    for (const sid of Object.keys(sessionsById)) {
      if (await store.load(sid)) live.push(sid);
    }
    return live;
  };
  /** A sign-in that indexes its session only now (it was in flight during a logout). */
  const signInInFlight = async (sid: string, gh: SessionRecord, exchangeStartedAtMs: number) => {
    await sessions.startSession(
      sid,
      gh,
      () => store.save(sid, storedSession(gh)),
      exchangeStartedAtMs,
    );
    return (await store.load(sid)) !== undefined;
  };
  return { receiver, alive, fetches, signInInFlight };
}

describe('BackchannelLogout: which sessions end', () => {
  it('a token with sid ends the sessions of that IdP session only', async () => {
    const { receiver, alive } = await setUp();
    expect(await receiver.receive('acme', 'dev', await logoutToken({ sid: 'idp-1' }))).toBe(1);
    expect(await alive()).toEqual(['alice-phone', 'alice-other-tenant', 'bob']);
  });

  it('a token with only sub ends every session of that user at this tenant and provider', async () => {
    const { receiver, alive } = await setUp();
    expect(await receiver.receive('acme', 'dev', await logoutToken({ sub: 'alice' }))).toBe(2);
    expect(await alive()).toEqual(['alice-other-tenant', 'bob']);
  });

  it('a token with sid and another sub ends nothing', async () => {
    const { receiver, alive } = await setUp();
    expect(
      await receiver.receive('acme', 'dev', await logoutToken({ sid: 'idp-1', sub: 'bob' })),
    ).toBe(0);
    expect(await alive()).toHaveLength(4);
  });

  it('a sign-in of the IdP session indexed after the logout ends its session itself', async () => {
    const { receiver, signInInFlight } = await setUp();
    expect(await receiver.receive('acme', 'dev', await logoutToken({ sid: 'idp-9' }))).toBe(0);
    const began = NOW - 5000;
    expect(await signInInFlight('alice-late', record({ idpSid: 'idp-9' }), began)).toBe(false);
    // Another IdP session, or the same one at another tenant, is not touched.
    expect(await signInInFlight('alice-new', record({ idpSid: 'idp-10' }), began)).toBe(true);
    expect(
      await signInInFlight('alice-globex', record({ idpSid: 'idp-9', tenant: 'globex' }), began),
    ).toBe(true);
    // A token naming the `sid` and a user: only that user's sign-in under it ends.
    await receiver.receive('acme', 'dev', await logoutToken({ sid: 'idp-11', sub: 'bob' }));
    expect(await signInInFlight('alice-11', record({ idpSid: 'idp-11' }), began)).toBe(true);
    const bob = record({ user: userDigest(ISSUER, 'bob'), idpSid: 'idp-11' });
    expect(await signInInFlight('bob-11', bob, began)).toBe(false);
  });

  it('a sign-in of the user indexed after a logout by sub ends only if it began before the logout', async () => {
    const { receiver, signInInFlight } = await setUp();
    // Received at NOW (this instance's clock).
    await receiver.receive('acme', 'dev', await logoutToken({ sub: 'alice' }));
    expect(await signInInFlight('before', record({ idpSid: 'idp-20' }), NOW - 200)).toBe(false);
    expect(await signInInFlight('same-ms', record({ idpSid: 'idp-21' }), NOW)).toBe(false);
    expect(await signInInFlight('after', record({ idpSid: 'idp-22' }), NOW + 1)).toBe(true);
    const bob = record({ user: userDigest(ISSUER, 'bob'), idpSid: 'idp-23' });
    expect(await signInInFlight('bob-before', bob, NOW - 200)).toBe(true);
  });

  it('a replayed token is refused', async () => {
    const { receiver } = await setUp();
    const token = await logoutToken({ sid: 'idp-1' });
    await receiver.receive('acme', 'dev', token);
    await expect(receiver.receive('acme', 'dev', token)).rejects.toMatchObject({
      status: 400,
      code: 'invalid_logout_token',
      message: 'Logout token refused: replayed.',
    });
  });

  it('a store failure is 503 and is not remembered as seen: the IdP’s retry applies', async () => {
    const { receiver, alive } = await setUp({ failDestroys: 1 });
    const token = await logoutToken({ sub: 'alice' });
    await expect(receiver.receive('acme', 'dev', token)).rejects.toMatchObject({
      status: 503,
      code: 'store_unavailable',
    });
    expect(await receiver.receive('acme', 'dev', token)).toBe(2);
    expect(await alive()).toEqual(['alice-other-tenant', 'bob']);
  });

  it('fetches the key set once for many tokens', async () => {
    const { receiver, fetches } = await setUp();
    await receiver.receive('acme', 'dev', await logoutToken({ sid: 'idp-1' }));
    await receiver.receive('acme', 'dev', await logoutToken({ sid: 'idp-2' }));
    expect(fetches).toEqual([JWKS_URI]);
  });

  it('an unreachable key set is the IdP’s outage (idp_unavailable), not a bad token', async () => {
    const { receiver, alive } = await setUp({ keySetDown: true });
    await expect(
      receiver.receive('acme', 'dev', await logoutToken({ sid: 'idp-1' })),
    ).rejects.toMatchObject({ code: 'idp_unavailable' });
    expect(await alive()).toHaveLength(4);
  });
});

describe('BackchannelLogout: refused tokens', () => {
  const now = Math.floor(NOW / 1000);
  it.each<[string, () => Promise<string>]>([
    ['another audience', () => logoutToken({ sid: 'idp-1', aud: 'someone-else' })],
    ['another issuer', () => logoutToken({ sid: 'idp-1', iss: 'https://evil.example' })],
    ['a token issued too long ago', () => logoutToken({ sid: 'idp-1', iat: now - 600 })],
    ['a nonce (an ID token, not a logout token)', () => logoutToken({ sid: 'idp-1', nonce: 'n' })],
    ['no back-channel event', () => logoutToken({ sid: 'idp-1', events: {} })],
    ['neither sid nor sub', () => logoutToken({})],
    ['the typ of an access token', () => logoutToken({ sid: 'idp-1' }, { typ: 'at+jwt' })],
    [
      'an HMAC signature',
      () => logoutToken({ sid: 'idp-1' }, { alg: 'HS256' }, new Uint8Array(32)),
    ],
    ['a garbled token', async () => 'not.a.jwt'],
  ])('refuses %s with 400 invalid_logout_token and ends nothing', async (_name, make) => {
    const { receiver, alive } = await setUp();
    await expect(receiver.receive('acme', 'dev', await make())).rejects.toMatchObject({
      status: 400,
      code: 'invalid_logout_token',
    });
    expect(await alive()).toHaveLength(4);
  });

  it.each([['JWT'], ['application/logout+jwt'], [undefined]])('accepts typ %s', async (typ) => {
    const { receiver } = await setUp();
    const token = await logoutToken({ sid: 'idp-1' }, { typ });
    expect(await receiver.receive('acme', 'dev', token)).toBe(1);
  });
});
