import type { GatehouseUser } from '@gatehouse/client';

export interface FakeRequest {
  method: string;
  path: string;
  headers: Headers;
  credentials: RequestCredentials | undefined;
}

/**
 * A fake Gatehouse behind `fetch`: `/bff/user` answers the current user or a 401 problem,
 * `/bff/logout` ends the session, `/api/demo/me` answers the user's sub (or Gatehouse's 401).
 */
export function fakeGatehouseFetch() {
  let user: GatehouseUser | undefined;
  let expiredCode: 'unauthenticated' | 'session_expired' = 'unauthenticated';
  let failUser = false;
  const requests: FakeRequest[] = [];

  const problem = (status: number, code: string) =>
    new Response(JSON.stringify({ type: 'about:blank', title: 'Unauthorized', status, code }), {
      status,
      headers: { 'content-type': 'application/problem+json', 'gatehouse-problem': code },
    });
  const json = (body: unknown) =>
    new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });

  const fetch: typeof globalThis.fetch = async (input, init) => {
    const path = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = init?.method ?? 'GET';
    requests.push({
      method,
      path,
      headers: new Headers(init?.headers),
      credentials: init?.credentials,
    });
    if (path.startsWith('/bff/user')) {
      if (failUser) return new Response('down', { status: 503 });
      return user ? json(user) : problem(401, expiredCode);
    }
    if (path === '/bff/logout' && method === 'POST') {
      user = undefined;
      return new Response(null, { status: 303, headers: { location: 'http://idp.test/end' } });
    }
    if (path === '/api/demo/me') {
      return user ? json({ sub: user.claims.sub }) : problem(401, expiredCode);
    }
    return problem(404, 'not_found');
  };

  return {
    fetch,
    requests,
    signIn(name: string, expiresAt = new Date(Date.now() + 3_600_000).toISOString()) {
      user = {
        claims: { sub: name.toLowerCase(), name },
        tenant: 'acme',
        provider: 'dev',
        issuer: 'http://idp.test',
        session: { expiresAt },
        logoutUrl: '/bff/logout?sid=handle-1',
      };
      expiredCode = 'unauthenticated';
    },
    /** Ends the session server-side, as an expiry or an admin would. */
    expire() {
      user = undefined;
      expiredCode = 'session_expired';
    },
    failUserChecks(fail: boolean) {
      failUser = fail;
    },
  };
}
