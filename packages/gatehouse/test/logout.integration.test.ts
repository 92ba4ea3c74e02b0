import { randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  inspectSession,
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { sha256 } from '../src/digest.ts';
import type { SessionRecord } from '../src/session/model.ts';
import { ADMIN_TOKEN, withAdminToken } from './support/admin.ts';

const BCL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const csrf = { 'x-csrf': '1' };

/**
 * Back-channel logout and session management across two instances sharing one real Redis:
 * sessions end everywhere, hostile logout tokens are refused, users manage their own sessions.
 */
describe('back-channel logout and session management', () => {
  let redis: RedisServer;
  let stack: Stack;

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({
      redis,
      instances: 2,
      devIdp: { controlApi: true },
      configure: withAdminToken,
    });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  const [one, two] = [0, 1].map((i) => () => stack.gatehouses[i]!.origin);

  async function device(login: string): Promise<CookieFetch> {
    const http = createCookieFetch();
    await signIn(http, one!(), { login, password: login });
    return http;
  }

  /** Whether the jar's session works on both instances (200 on each) or on neither (401). */
  async function statusOnBoth(http: CookieFetch): Promise<number[]> {
    return Promise.all(
      [one!(), two!()].map(
        async (origin) => (await http(`${origin}/api/demo/me`, { headers: csrf })).status,
      ),
    );
  }

  async function idpSessionId(http: CookieFetch): Promise<string> {
    const { record } = await inspectSession(stack, http);
    if (!record.idpSid) throw new Error('session has no IdP sid');
    return record.idpSid;
  }

  async function idpControl(path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`${stack.idp.origin}/__control/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  }

  async function signedByIdp(
    payload: Record<string, unknown>,
    header: Record<string, unknown> = { typ: 'logout+jwt' },
  ) {
    return (await idpControl('sign', { realm: '', payload, header })).jwt as string;
  }

  function logoutClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      iss: stack.idp.issuer(''),
      aud: 'gatehouse-acme',
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      events: { [BCL_EVENT]: {} },
      sub: 'bob',
      ...overrides,
    };
  }

  async function postLogoutToken(token: string, origin = one!()): Promise<number> {
    const res = await fetch(`${origin}/bff/backchannel-logout/acme/dev`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: token }),
    });
    await res.arrayBuffer();
    // Back-Channel Logout 1.0 §2.8: whatever the answer, it is not cached.
    expect(res.headers.get('cache-control')).toBe('no-store');
    return res.status;
  }

  it('ends exactly the IdP session named by sid, on both instances', async () => {
    const laptop = await device('alice');
    const phone = await device('alice');
    expect(await statusOnBoth(laptop)).toEqual([200, 200]);
    const sid = await idpSessionId(laptop);
    const sent = await idpControl('backchannel-logout', { realm: '', sub: 'alice', sid });
    expect(sent.delivered).toEqual(['gatehouse-acme']);
    expect(await statusOnBoth(laptop)).toEqual([401, 401]);
    expect(await statusOnBoth(phone)).toEqual([200, 200]);
  });

  /** A version 1 record, as the versions before the record's names and units changed wrote it. */
  function versionOne(record: SessionRecord): Record<string, unknown> {
    const {
      idpSid,
      accessTokenExpiresAtMs,
      createdAtMs,
      lastSeenAtMs,
      absoluteExpiresAtMs,
      refreshExpiresAtMs,
      ...rest
    } = record;
    return {
      ...rest,
      v: 1,
      sid: idpSid,
      accessTokenExpiresAt: Math.floor(accessTokenExpiresAtMs / 1000),
      createdAt: createdAtMs,
      lastSeenAt: lastSeenAtMs,
      absoluteExpiresAt: absoluteExpiresAtMs,
      ...(refreshExpiresAtMs !== undefined ? { refreshExpiresAt: refreshExpiresAtMs } : {}),
    };
  }

  it.each([
    ['the version before the rename (record v1)', 'idp-sid', true],
    ['the builds that renamed it', 'idp-sessionId', false],
  ])('ends an IdP session whose index was written by %s', async (_name, indexName, recordV1) => {
    const laptop = await device('alice');
    const { sid, record } = await inspectSession(stack, laptop);
    const idpSid = record.idpSid;
    if (!idpSid) throw new Error('session has no IdP sid');
    // What that version wrote for this sign-in: its record, and the session under its name
    // of the IdP session's index (and under no other).
    const digest = sha256(record.issuer, idpSid);
    const client = redis.client();
    try {
      for (const name of ['idp-sid', 'idp-sessionId']) {
        await client.del(`gh:idx:${name}:{${digest}}`);
      }
      await client.zadd(`gh:idx:${indexName}:{${digest}}`, record.absoluteExpiresAtMs, sid);
      if (recordV1) {
        const stored = JSON.parse((await client.get(`gh:sess:${sid}`)) ?? '{}') as {
          gh: SessionRecord;
        };
        const written = { ...stored, gh: versionOne(stored.gh) };
        await client.set(`gh:sess:${sid}`, JSON.stringify(written), 'KEEPTTL');
      }
    } finally {
      client.disconnect();
    }
    expect(await statusOnBoth(laptop)).toEqual([200, 200]);
    const sent = await idpControl('backchannel-logout', { realm: '', sub: 'alice', sid: idpSid });
    expect(sent.delivered).toEqual(['gatehouse-acme']);
    expect(await statusOnBoth(laptop)).toEqual([401, 401]);
  });

  it('ends every session of the user when the logout token names only sub', async () => {
    const laptop = await device('alice');
    const phone = await device('alice');
    const bystander = await device('bob');
    await idpControl('backchannel-logout', { realm: '', sub: 'alice' });
    expect(await statusOnBoth(laptop)).toEqual([401, 401]);
    expect(await statusOnBoth(phone)).toEqual([401, 401]);
    expect(await statusOnBoth(bystander)).toEqual([200, 200]);
  });

  it('accepts a well-formed token once and refuses its replay', async () => {
    const bob = await device('bob');
    const token = await signedByIdp(logoutClaims());
    expect(await postLogoutToken(token, two!())).toBe(200);
    expect(await statusOnBoth(bob)).toEqual([401, 401]);
    expect(await postLogoutToken(token, one!())).toBe(400);
  });

  it.each([
    ['typ JWT (Keycloak up to 24, glewlwyd)', { typ: 'JWT' }],
    ['no typ', {}],
  ])('accepts a logout token with %s', async (_name, header) => {
    const bob = await device('bob');
    expect(await postLogoutToken(await signedByIdp(logoutClaims(), header))).toBe(200);
    expect(await statusOnBoth(bob)).toEqual([401, 401]);
  });

  describe('refuses hostile logout tokens and ends nothing', () => {
    let bob: CookieFetch;
    beforeAll(async () => {
      bob = await device('bob');
    });

    const hostile: Array<[string, () => Promise<string>]> = [
      [
        'alg none',
        async () => {
          const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
          return `${enc({ alg: 'none', typ: 'logout+jwt' })}.${enc(logoutClaims())}.`;
        },
      ],
      [
        'a key the IdP does not publish',
        async () => {
          const { privateKey } = await generateKeyPair('RS256');
          return new SignJWT(logoutClaims())
            .setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt' })
            .sign(privateKey);
        },
      ],
      ['another issuer', () => signedByIdp(logoutClaims({ iss: stack.idp.issuer('/globex') }))],
      ['another audience', () => signedByIdp(logoutClaims({ aud: 'gatehouse-globex' }))],
      ['a nonce', () => signedByIdp(logoutClaims({ nonce: 'n-0S6_WzA2Mj' }))],
      ['no events claim', () => signedByIdp(logoutClaims({ events: undefined }))],
      [
        'events without the back-channel member',
        () => signedByIdp(logoutClaims({ events: { 'urn:other': {} } })),
      ],
      ['neither sid nor sub', () => signedByIdp(logoutClaims({ sub: undefined }))],
      ['no jti', () => signedByIdp(logoutClaims({ jti: undefined }))],
      [
        'an old iat',
        () => signedByIdp(logoutClaims({ iat: Math.floor(Date.now() / 1000) - 3600 })),
      ],
      [
        'an expired exp',
        () => signedByIdp(logoutClaims({ exp: Math.floor(Date.now() / 1000) - 120 })),
      ],
      [
        'an ID token (typ JWT, a nonce, no events)',
        () =>
          signedByIdp(logoutClaims({ events: undefined, nonce: 'n-0S6_WzA2Mj' }), { typ: 'JWT' }),
      ],
      ['another typ (at+jwt)', () => signedByIdp(logoutClaims(), { typ: 'at+jwt' })],
      // Validly signed, but `typ` is not a string: refused like any other typ, never a 500.
      ['a typ that is not a string', () => signedByIdp(logoutClaims(), { typ: 5 })],
      ['a typ that is an object', () => signedByIdp(logoutClaims(), { typ: {} })],
      ['garbage', () => Promise.resolve('not.a.jwt')],
    ];

    it.each(hostile)('%s', async (_name, make) => {
      expect(await postLogoutToken(await make())).toBe(400);
      expect(await statusOnBoth(bob)).toEqual([200, 200]);
    });

    it('a missing or repeated logout_token', async () => {
      const empty = await fetch(`${one!()}/bff/backchannel-logout/acme/dev`, { method: 'POST' });
      expect(empty.status).toBe(400);
      const twice = await fetch(`${one!()}/bff/backchannel-logout/acme/dev`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'logout_token=a&logout_token=b',
      });
      expect(twice.status).toBe(400);
      expect(await statusOnBoth(bob)).toEqual([200, 200]);
    });
  });

  describe('session management', () => {
    interface Listed {
      sessions: Array<{
        id: string;
        device: string;
        current: boolean;
        createdAt: string;
        lastSeenAt: string;
      }>;
    }
    const list = async (http: CookieFetch, origin = one!()) =>
      (await (await http(`${origin}/bff/sessions`)).json()) as Listed;

    it('lists the user’s own sessions with the current one marked, and ends another device’s session', async () => {
      const laptop = await device('bob');
      const phone = await device('bob');
      const stranger = await device('alice');
      const seen = await list(laptop);
      const current = seen.sessions.filter((s) => s.current);
      expect(current).toHaveLength(1);
      expect(seen.sessions.length).toBeGreaterThanOrEqual(2);
      const body = JSON.stringify(seen);
      expect(body).not.toContain(
        decodeURIComponent((await laptop.cookie(one!(), 'gatehouse')) ?? 'x').slice(2, 20),
      );

      const phoneHandle = (await list(phone, two!())).sessions.find((s) => s.current)!.id;
      expect(
        (await laptop(`${one!()}/bff/sessions/${phoneHandle}`, { method: 'DELETE' })).status,
      ).toBe(403);
      expect(
        (
          await stranger(`${one!()}/bff/sessions/${phoneHandle}`, {
            method: 'DELETE',
            headers: csrf,
          })
        ).status,
      ).toBe(404);
      expect(await statusOnBoth(phone)).toEqual([200, 200]);

      const ended = await laptop(`${one!()}/bff/sessions/${phoneHandle}`, {
        method: 'DELETE',
        headers: csrf,
      });
      expect(ended.status).toBe(204);
      expect(await statusOnBoth(phone)).toEqual([401, 401]);
      expect(await statusOnBoth(laptop)).toEqual([200, 200]);
      expect((await list(laptop)).sessions.map((s) => s.id)).not.toContain(phoneHandle);
    });

    it('signs out everywhere else but keeps the current session', async () => {
      const laptop = await device('bob');
      const phone = await device('bob');
      const tablet = await device('bob');
      expect(
        (await laptop(`${two!()}/bff/sessions/end-others`, { method: 'POST', headers: csrf }))
          .status,
      ).toBe(204);
      expect(await statusOnBoth(phone)).toEqual([401, 401]);
      expect(await statusOnBoth(tablet)).toEqual([401, 401]);
      expect(await statusOnBoth(laptop)).toEqual([200, 200]);
      expect((await list(laptop)).sessions).toHaveLength(1);
    });

    it('requires a session', async () => {
      expect((await fetch(`${one!()}/bff/sessions`)).status).toBe(401);
    });
  });

  describe('admins end sessions', () => {
    const endSessions = async (caller: CookieFetch | string, path: string) => {
      const init = {
        method: 'DELETE',
        headers: typeof caller === 'string' ? { authorization: `Bearer ${caller}` } : csrf,
      };
      const url = `${two!()}/admin/api${path}`;
      return typeof caller === 'string' ? fetch(url, init) : caller(url, init);
    };

    it('a tenant admin ends every session of one user of their tenant', async () => {
      const admin = await device('alice');
      const laptop = await device('bob');
      const phone = await device('bob');
      const res = await endSessions(admin, '/tenants/acme/providers/dev/users/bob/sessions');
      expect(res.status).toBe(200);
      expect(((await res.json()) as { ended: number }).ended).toBeGreaterThanOrEqual(2);
      expect(await statusOnBoth(laptop)).toEqual([401, 401]);
      expect(await statusOnBoth(phone)).toEqual([401, 401]);
      expect(await statusOnBoth(admin)).toEqual([200, 200]);
      // …but not of another tenant's users.
      const foreign = await endSessions(
        admin,
        '/tenants/globex/providers/dev/users/carol/sessions',
      );
      expect(foreign.status).toBe(403);
    });

    it('the operator ends every session of a tenant, and only of that tenant', async () => {
      const acme = await device('alice');
      const carol = createCookieFetch();
      await signIn(carol, one!(), { login: 'carol', password: 'carol' }, { tenant: 'globex' });
      const dave = createCookieFetch();
      await signIn(dave, one!(), { login: 'dave', password: 'dave' }, { tenant: 'globex' });
      const res = await endSessions(ADMIN_TOKEN, '/tenants/globex/sessions');
      expect(res.status).toBe(200);
      expect(((await res.json()) as { ended: number }).ended).toBeGreaterThanOrEqual(2);
      for (const http of [carol, dave]) {
        expect((await http(`${one!()}/bff/user`)).status).toBe(401);
        expect((await http(`${two!()}/bff/user`)).status).toBe(401);
      }
      expect(await statusOnBoth(acme)).toEqual([200, 200]);
    });
  });
});
