import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { adminCall, withAdminToken, type Caller } from './support/admin.ts';

/**
 * The server side of the admin console, over real HTTP against the dev IdP and a real
 * redis-server: the tenant's session list (end one, end a user's) and the admin's test sign-in,
 * which must leave the admin's own session exactly as it was.
 */
let redis: RedisServer;
let stack: Stack;
let origin: string;
let alice: CookieFetch;
let bob: CookieFetch;
const asAlice = (): Caller => ({ name: 'alice', jar: alice });
const SESSION_COOKIE = 'gatehouse';

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startStack({ redis, configure: withAdminToken });
  origin = stack.origin;
  alice = createCookieFetch();
  await signIn(alice, origin, { login: 'alice', password: 'alice' });
  bob = createCookieFetch();
  await signIn(bob, origin, { login: 'bob', password: 'bob' });
});
afterAll(async () => {
  await stack?.close();
  await redis?.stop();
});

interface ListedSession {
  handle: string;
  provider: string;
  sub: string;
  name: string | null;
  device: string;
  current: boolean;
}

async function listSessions(): Promise<ListedSession[]> {
  const answer = await adminCall(origin, asAlice(), 'GET', '/tenants/acme/sessions');
  expect(answer.status, answer.text).toBe(200);
  return answer.body.sessions as ListedSession[];
}

async function signedInAs(jar: CookieFetch): Promise<string | undefined> {
  const res = await jar(`${origin}/bff/user`);
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { claims: { sub: string } }).claims.sub;
}

describe('the provider URIs', () => {
  it('are answered for a provider id before the provider exists; a bad id or tenant is refused', async () => {
    const answer = await adminCall(origin, asAlice(), 'GET', '/tenants/acme/provider-uris/okta');
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body).toEqual({
      redirectUri: `${origin}/bff/callback/acme/okta`,
      postLogoutRedirectUri: `${origin}/bff/signed-out`,
      backchannelLogoutUri: `${origin}/bff/backchannel-logout/acme/okta`,
      jwksUri: `${origin}/bff/jwks/acme/okta`,
    });
    const hostile = await adminCall(
      origin,
      asAlice(),
      'GET',
      '/tenants/acme/provider-uris/..%2F..%2Fevil',
    );
    expect([hostile.status, hostile.body.code]).toEqual([404, 'unknown_provider']);
    const other = await adminCall(origin, asAlice(), 'GET', '/tenants/globex/provider-uris/okta');
    expect([other.status, other.body.code]).toEqual([403, 'tenant_forbidden']);
  });
});

describe('the tenant session list', () => {
  it("lists the tenant's sessions with the caller's own marked, never a session id", async () => {
    const sessions = await listSessions();
    const own = sessions.filter((session) => session.current);
    expect(own).toHaveLength(1);
    expect(own[0]?.sub).toBe('alice');
    expect(sessions.some((session) => session.sub === 'bob' && !session.current)).toBe(true);
    for (const session of sessions) {
      expect(session.handle).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(session.provider).toBe('dev');
      expect(session.device).not.toBe('');
    }
    const text = JSON.stringify(sessions);
    for (const jar of [alice, bob]) {
      const sid = await jar.cookie(origin, SESSION_COOKIE);
      expect(sid).toBeDefined();
      expect(text).not.toContain(decodeURIComponent(sid ?? 'x').slice(2, 34));
    }
  });

  it('ends one session by its handle, and every session of a user', async () => {
    const first = createCookieFetch();
    const second = createCookieFetch();
    await signIn(first, origin, { login: 'bob', password: 'bob' });
    await signIn(second, origin, { login: 'bob', password: 'bob' });
    const before = await listSessions();
    const firstHandle = (await sessionHandle(first, before)) ?? '';
    const ended = await adminCall(
      origin,
      asAlice(),
      'DELETE',
      `/tenants/acme/sessions/${firstHandle}`,
    );
    expect(ended.status, ended.text).toBe(200);
    expect(ended.body.ended).toBe(1);
    expect(await signedInAs(first)).toBeUndefined();
    expect(await signedInAs(second)).toBe('bob');

    const again = await adminCall(
      origin,
      asAlice(),
      'DELETE',
      `/tenants/acme/sessions/${firstHandle}`,
    );
    expect([again.status, again.body.code]).toEqual([404, 'unknown_session']);

    const all = await adminCall(
      origin,
      asAlice(),
      'DELETE',
      '/tenants/acme/providers/dev/users/bob/sessions',
    );
    expect(all.status, all.text).toBe(200);
    expect(all.body.ended).toBeGreaterThanOrEqual(2);
    expect(await signedInAs(second)).toBeUndefined();
    expect(await signedInAs(bob)).toBeUndefined();
    expect(await signedInAs(alice)).toBe('alice');
    bob = createCookieFetch();
    await signIn(bob, origin, { login: 'bob', password: 'bob' });
  });

  it('refuses hostile handles and callers who are not admins of the tenant', async () => {
    for (const handle of ['x', '..%2F..%2Fme', 'A'.repeat(23), '%00'.repeat(22)]) {
      const answer = await adminCall(
        origin,
        asAlice(),
        'DELETE',
        `/tenants/acme/sessions/${handle}`,
      );
      expect([answer.status, answer.body.code], handle).toEqual([404, 'unknown_session']);
    }
    const asBob = await adminCall(
      origin,
      { name: 'bob', jar: bob },
      'GET',
      '/tenants/acme/sessions',
    );
    expect([asBob.status, asBob.body.code]).toEqual([403, 'not_admin']);
    const other = await adminCall(origin, asAlice(), 'GET', '/tenants/globex/sessions');
    expect([other.status, other.body.code]).toEqual([403, 'tenant_forbidden']);
  });
});

/** The handle of the jar's session, found as the only new `current` one from its own view. */
async function sessionHandle(
  jar: CookieFetch,
  listed: ListedSession[],
): Promise<string | undefined> {
  const res = await jar(`${origin}/bff/sessions`);
  const own = ((await res.json()) as { sessions: Array<{ id?: string; current: boolean }> })
    .sessions;
  const handle = own.find((session) => session.current)?.id;
  expect(listed.some((session) => session.handle === handle)).toBe(true);
  return handle;
}

describe('the admin test sign-in', () => {
  it("signs in through the IdP, shows the result and leaves the admin's session as it was", async () => {
    const cookieBefore = await alice.cookie(origin, SESSION_COOKIE);
    const sessionsBefore = await listSessions();
    const start = await alice(`${origin}/bff/login?tenant=acme&provider=dev&mode=test`);
    expect(start.status).toBe(302);
    const authorization = new URL(start.headers.get('location') ?? '');
    // Credentials asked for even though the IdP knows this browser: any account may be tried.
    expect(authorization.searchParams.get('prompt')?.split(' ')).toContain('login');
    const callbackUrl = await completeDevIdpLogin(alice, authorization.href, {
      login: 'alice',
      password: 'alice',
    });
    const callback = await alice(callbackUrl);
    const html = await callback.text();
    expect(callback.status, html).toBe(200);
    expect(callback.headers.get('content-type')).toContain('text/html');
    expect(html).toContain('Sign-in with');
    expect(html).toContain('works');
    expect(html).toContain('<code data-testid="test-sign-in-subject">alice</code>');
    expect(html).toContain('<script src="/bff/test-sign-in.js"></script>');
    expect(html).not.toMatch(/<script>(?!<)/);
    const setCookies = callback.headers.getSetCookie();
    expect(setCookies.filter((cookie) => cookie.startsWith(`${SESSION_COOKIE}=`))).toEqual([]);

    expect(await alice.cookie(origin, SESSION_COOKIE)).toBe(cookieBefore);
    expect(await signedInAs(alice)).toBe('alice');
    const sessionsAfter = await listSessions();
    expect(sessionsAfter.map((session) => session.handle).sort()).toEqual(
      sessionsBefore.map((session) => session.handle).sort(),
    );
    const audit = await adminCall(
      origin,
      asAlice(),
      'GET',
      '/tenants/acme/audit?action=provider.tested',
    );
    const events = audit.body.events as Array<{ reason?: string; actor: { kind: string } }>;
    expect(
      events.some(
        (event) => event.reason === 'test-sign-in' && event.actor.kind === 'tenant-admin',
      ),
    ).toBe(true);
  });

  it('serves the result page its script and style without a session', async () => {
    const script = await fetch(`${origin}/bff/test-sign-in.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('javascript');
    expect(await script.text()).toContain('BroadcastChannel');
    const style = await fetch(`${origin}/bff/test-sign-in.css`);
    expect(style.headers.get('content-type')).toContain('text/css');
  });

  it('is refused to anyone but a signed-in admin of that tenant, and to a bad mode', async () => {
    const anonymous = createCookieFetch();
    const cases: Array<[CookieFetch, string, number, string]> = [
      [anonymous, 'tenant=acme&provider=dev&mode=test', 401, 'unauthenticated'],
      [bob, 'tenant=acme&provider=dev&mode=test', 403, 'not_admin'],
      [alice, 'tenant=globex&provider=dev&mode=test', 403, 'tenant_forbidden'],
      [alice, 'tenant=acme&mode=test', 400, 'invalid_parameter'],
      [alice, 'tenant=acme&provider=dev&mode=admin', 400, 'invalid_parameter'],
      [alice, 'tenant=acme&provider=dev&mode=test&mode=test', 400, 'invalid_parameter'],
      [alice, 'tenant=acme&provider=nope&mode=test', 404, 'unknown_provider'],
    ];
    for (const [jar, query, status, code] of cases) {
      const res = await jar(`${origin}/bff/login?${query}`);
      const body = (await res.json()) as { code: string };
      expect([res.status, body.code], query).toEqual([status, code]);
    }
    // A test transaction's callback in another browser (no binding) creates nothing either.
    const start = await alice(`${origin}/bff/login?tenant=acme&provider=dev&mode=test`);
    const callbackUrl = await completeDevIdpLogin(alice, start.headers.get('location') ?? '', {
      login: 'alice',
      password: 'alice',
    });
    const stranger = createCookieFetch();
    const foreign = await stranger(callbackUrl);
    expect(foreign.status).toBe(400);
    expect(await stranger.cookie(origin, SESSION_COOKIE)).toBeUndefined();
  });
});
