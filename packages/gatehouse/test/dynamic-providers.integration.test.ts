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
import { DEV_CLIENTS } from '@gatehouse/dev-idp';
import { ADMIN_TOKEN, adminCall, waitUntil, withAdminToken, type Caller } from './support/admin.ts';

/**
 * Providers registered at runtime, across two instances sharing Redis: created on one, usable
 * for login on the other without a restart; changed, disabled or deleted on one, and the other
 * follows (sessions end with 401). Home-realm discovery finds dynamic tenants by email domain.
 */
let redis: RedisServer;
let stack: Stack;
let one: string;
let two: string;
const operator: Caller = { name: 'operator', bearer: ADMIN_TOKEN };
const csrf = { 'x-csrf': '1' };
const SSO = '/tenants/globex/providers/sso';

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startStack({
    redis,
    instances: 2,
    configure: (input) => ({
      ...withAdminToken(input),
      routes: [
        ...(input.routes ?? []),
        {
          prefix: '/api/acme-only',
          upstream: input.routes?.[0]?.upstream ?? '',
          tokenMode: 'user',
          tenants: ['acme'],
        },
      ],
    }),
  });
  [one, two] = stack.gatehouses.map((g) => g.origin) as [string, string];
});
afterAll(async () => {
  await stack?.close();
  await redis?.stop();
});

const ssoBody = () => ({
  id: 'sso',
  displayName: 'Globex SSO',
  issuer: stack.idp.issuer(DEV_CLIENTS.globexSso.realmPath),
  clientId: DEV_CLIENTS.globexSso.clientId,
  clientSecret: DEV_CLIENTS.globexSso.clientSecret,
  authorizationParams: { prompt: 'consent' },
});

/** Waits until instance `origin` shows the provider as the admin API answered it on the other. */
async function seenOn(origin: string, path: string, updatedAt: unknown): Promise<void> {
  await waitUntil(async () => {
    const answer = await adminCall(origin, operator, 'GET', path);
    return (answer.body.provider as { updatedAt?: unknown } | undefined)?.updatedAt === updatedAt;
  });
}

async function signInCarolWithSso(origin: string): Promise<CookieFetch> {
  const http = createCookieFetch();
  await signIn(
    http,
    origin,
    { login: 'carol', password: 'carol' },
    { tenant: 'globex', provider: 'sso' },
  );
  return http;
}

describe('dynamic providers across instances', () => {
  it('uses a provider created on instance 1 for login on instance 2, without a restart', async () => {
    const tenantPage = async () =>
      (await fetch(`${two}/bff/tenants/globex`)).json() as Promise<{
        providers: Array<{ id: string; displayName: string }>;
      }>;
    expect((await tenantPage()).providers.map((p) => p.id)).toEqual(['dev']);

    const created = await adminCall(one, operator, 'POST', '/tenants/globex/providers', ssoBody());
    expect(created.status, created.text).toBe(201);
    expect(created.body.redirectUri).toBe(`${one}/bff/callback/globex/sso`);
    await waitUntil(async () => (await tenantPage()).providers.some((p) => p.id === 'sso'));
    expect(await tenantPage()).toEqual({
      tenant: { id: 'globex', name: 'Globex' },
      providers: [
        { id: 'dev', displayName: 'Globex dev IdP' },
        { id: 'sso', displayName: 'Globex SSO' },
      ],
    });

    const carol = await signInCarolWithSso(two);
    const user = await carol(`${two}/bff/user`);
    expect(user.status).toBe(200);
    expect(await user.json()).toMatchObject({
      tenant: 'globex',
      provider: 'sso',
      issuer: stack.idp.issuer('/globex'),
      claims: { sub: 'carol' },
    });
    const me = await carol(`${two}/api/demo/me`, { headers: csrf });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { sub: string }).sub).toBe('carol');

    // Steady state with a dynamic provider: still one Redis read per proxied request.
    await redis.resetStats();
    for (let i = 0; i < 5; i++) {
      expect((await carol(`${two}/api/demo/me`, { headers: csrf })).status).toBe(200);
    }
    expect(await redis.commandCounts()).toEqual({ get: 5 });
  });

  it('keeps a globex session of a dynamic provider out of acme routes and acme administration', async () => {
    const carol = await signInCarolWithSso(two);
    const acmeOnly = await carol(`${two}/api/acme-only/me`, { headers: csrf });
    expect(acmeOnly.status).toBe(403);
    expect(((await acmeOnly.json()) as { code: string }).code).toBe('tenant_not_allowed');
    const admin: Caller = { name: 'carol', jar: carol };
    expect((await adminCall(two, admin, 'GET', '/me')).body).toEqual({
      role: 'tenant-admin',
      tenant: 'globex',
    });
    expect((await adminCall(two, admin, 'GET', '/tenants/globex/providers')).status).toBe(200);
    expect((await adminCall(two, admin, 'GET', '/tenants/acme/providers')).status).toBe(403);
    expect((await adminCall(two, admin, 'GET', '/tenants')).status).toBe(403);
  });

  it('refuses a secret the IdP rejects; a new secret rebuilds the client on the other instance', async () => {
    // The credentials check tries the secret at the IdP first: a wrong one is never stored.
    const wrong = await adminCall(one, operator, 'PATCH', SSO, { clientSecret: 'not-the-secret' });
    expect(wrong.status).toBe(422);
    expect(wrong.body).toMatchObject({
      code: 'provider_check_failed',
      check: 'credentials_rejected',
    });
    expect((await (await signInCarolWithSso(two))(`${two}/bff/user`)).status).toBe(200);

    const right = await adminCall(one, operator, 'PATCH', SSO, {
      clientSecret: DEV_CLIENTS.globexSso.clientSecret,
    });
    expect(right.status).toBe(200);
    await seenOn(two, SSO, (right.body.provider as { updatedAt: string }).updatedAt);
    const carol = await signInCarolWithSso(two);
    expect((await carol(`${two}/bff/user`)).status).toBe(200);
  });

  it('ends the sessions of a provider disabled or deleted on the other instance', async () => {
    const carol = await signInCarolWithSso(two);
    expect((await carol(`${two}/bff/user`)).status).toBe(200);
    const disabled = await adminCall(one, operator, 'PATCH', SSO, { enabled: false });
    expect(disabled.status).toBe(200);
    await waitUntil(async () => (await carol(`${two}/bff/user`)).status === 401);
    const after = await carol(`${two}/bff/user`);
    expect(after.status).toBe(401);
    expect(await (await fetch(`${two}/bff/tenants/globex`)).json()).toEqual({
      tenant: { id: 'globex', name: 'Globex' },
      providers: [{ id: 'dev', displayName: 'Globex dev IdP' }],
    });
    const login = await fetch(`${two}/bff/login?tenant=globex&provider=sso`, {
      redirect: 'manual',
      headers: { accept: 'application/json' },
    });
    expect(login.status).toBe(404);
    // Enabling again does not bring the ended session back.
    const enabled = await adminCall(one, operator, 'PATCH', SSO, { enabled: true });
    await seenOn(two, SSO, (enabled.body.provider as { updatedAt: string }).updatedAt);
    expect((await carol(`${two}/bff/user`)).status).toBe(401);

    const again = await signInCarolWithSso(two);
    expect((await again(`${two}/api/demo/me`, { headers: csrf })).status).toBe(200);
    expect((await adminCall(one, operator, 'DELETE', SSO)).status).toBe(204);
    await waitUntil(
      async () => (await again(`${two}/api/demo/me`, { headers: csrf })).status === 401,
    );
    expect((await adminCall(two, operator, 'GET', SSO)).status).toBe(404);

    // Created again under the same id: sessions of the deleted one stay dead.
    const recreated = await adminCall(
      one,
      operator,
      'POST',
      '/tenants/globex/providers',
      ssoBody(),
    );
    await seenOn(two, SSO, (recreated.body.provider as { updatedAt: string }).updatedAt);
    expect((await again(`${two}/bff/user`)).status).toBe(401);
  });

  it('finds a dynamic tenant by email domain (home-realm discovery) on the other instance', async () => {
    const tenant = await adminCall(one, operator, 'POST', '/tenants', {
      id: 'initech',
      name: 'Initech',
      emailDomains: ['initech.test'],
    });
    expect(tenant.status).toBe(201);
    const main = {
      id: 'main',
      issuer: stack.idp.issuer(DEV_CLIENTS.acme.realmPath),
      clientId: DEV_CLIENTS.acme.clientId,
      clientSecret: DEV_CLIENTS.acme.clientSecret,
    };
    expect(
      (await adminCall(one, operator, 'POST', '/tenants/initech/providers', main)).status,
    ).toBe(201);

    const login = (email: string) =>
      fetch(`${two}/bff/login?email=${encodeURIComponent(email)}&returnTo=/notes`, {
        redirect: 'manual',
        headers: { accept: 'application/json' },
      });
    await waitUntil(async () => (await login('zoe@initech.test')).status === 302);
    const straight = new URL((await login('Zoe@INITECH.test')).headers.get('location') ?? '');
    expect(straight.origin).toBe(stack.idp.origin);
    expect(straight.searchParams.get('redirect_uri')).toBe(`${two}/bff/callback/initech/main`);
    expect(straight.searchParams.get('client_id')).toBe(DEV_CLIENTS.acme.clientId);
    expect(straight.searchParams.get('login_hint')).toBe('Zoe@INITECH.test');

    const second = { ...main, id: 'backup', displayName: 'Backup IdP' };
    expect(
      (await adminCall(one, operator, 'POST', '/tenants/initech/providers', second)).status,
    ).toBe(201);
    await waitUntil(
      async () =>
        (await login('zoe@initech.test')).headers.get('location')?.startsWith('/t/') ?? false,
    );
    expect((await login('zoe@initech.test')).headers.get('location')).toBe(
      '/t/initech?returnTo=%2Fnotes',
    );
    expect(await (await fetch(`${two}/bff/tenants/initech`)).json()).toEqual({
      tenant: { id: 'initech', name: 'Initech' },
      providers: [
        { id: 'main', displayName: 'main' },
        { id: 'backup', displayName: 'Backup IdP' },
      ],
    });

    const unknown = await login('zoe@unknown.test');
    expect(unknown.status).toBe(400);
    const text = await unknown.text();
    expect(text).toContain('unknown_email_domain');
    expect(text).not.toMatch(/initech|acme|globex/i);
    expect((await fetch(`${two}/bff/tenants/nobody`)).status).toBe(404);
    expect((await fetch(`${two}/bff/tenants/..%2Fadmin`)).status).toBe(404);

    // Deleted on instance 1: the domain leads nowhere on instance 2.
    expect((await adminCall(one, operator, 'DELETE', '/tenants/initech')).status).toBe(204);
    await waitUntil(async () => (await login('zoe@initech.test')).status === 400);
  });
});
