import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_API_RESOURCE } from '@gatehouse/dev-idp';
import {
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';

const REPORTS = 'urn:gatehouse:reports';

/**
 * Per-route audiences (RFC 8707): a route may ask for an access token for its own resource.
 * Such tokens are obtained with the refresh token, cached per (session, resource), refreshed
 * once across instances, and the rotated refresh token is shared with the default token.
 */
describe('resource-specific access tokens', () => {
  let redis: RedisServer;
  let stack: Stack;
  let offsetMs = 0;
  const csrf = { 'x-csrf': '1' };

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({
      redis,
      instances: 2,
      devIdp: { controlApi: true, resources: { [DEMO_API_RESOURCE]: {}, [REPORTS]: {} } },
      deps: { clock: () => Date.now() + offsetMs },
      configure: (input) => ({
        ...input,
        // The login's own token stays for the demo API: name it next to the routes' resources.
        tenants: input.tenants?.map((tenant) => ({
          ...tenant,
          providers: tenant.providers?.map((provider) => ({
            ...provider,
            authorizationParams: { ...provider.authorizationParams, resource: DEMO_API_RESOURCE },
          })),
        })),
        routes: [
          ...(input.routes ?? []),
          {
            prefix: '/api/reports',
            upstream: input.routes?.[0]?.upstream ?? '',
            tokenMode: 'user',
            resource: REPORTS,
          },
        ],
      }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  const refreshes = () => stack.idp.tokenEndpointCallsByGrantType('')['refresh_token'] ?? 0;
  const audience = async (res: Response) =>
    ((await res.json()) as { claims: { aud: string } }).claims.aud;

  it('attaches a token for the route’s resource, once per session, alongside the default one', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login`);
    const authorization = new URL(start.headers.get('location') ?? '');
    expect(authorization.searchParams.getAll('resource')).toEqual([DEMO_API_RESOURCE, REPORTS]);
    offsetMs = 0;
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    const before = refreshes();

    const statuses = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await http(`${stack.gatehouses[i % 2]!.origin}/api/reports/me`, {
          headers: csrf,
        });
        expect(await audience(res)).toBe(REPORTS);
        return res.status;
      }),
    );
    expect(statuses).toEqual(Array(20).fill(200));
    expect(refreshes() - before).toBe(1);

    // The default route still uses the login's token, untouched by the resource refresh.
    expect(await audience(await http(`${stack.origin}/api/demo/me`, { headers: csrf }))).toBe(
      DEMO_API_RESOURCE,
    );
    expect(refreshes() - before).toBe(1);

    // Both expire: each is refreshed once, with the rotated refresh token (reuse would kill the grant).
    offsetMs = 301_000;
    const both = await Promise.all(
      ['/api/reports/me', '/api/demo/me', '/api/reports/me', '/api/demo/me'].map(
        async (path, i) =>
          (await http(`${stack.gatehouses[i % 2]!.origin}${path}`, { headers: csrf })).status,
      ),
    );
    expect(both).toEqual([200, 200, 200, 200]);
    expect(refreshes() - before).toBe(3);
    expect(await audience(await http(`${stack.origin}/api/reports/me`, { headers: csrf }))).toBe(
      REPORTS,
    );
  });
});
