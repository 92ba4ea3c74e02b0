import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin, defaultRealms, DEV_CLIENTS, startDevIdp } from '../src/index.ts';
import type { RunningDevIdp } from '../src/index.ts';
import { createCookieFetch } from './helpers.ts';

const GATEHOUSE = 'http://localhost:3998';

let idp: RunningDevIdp;

beforeAll(async () => {
  idp = await startDevIdp({
    realms: defaultRealms({ gatehouseOrigin: GATEHOUSE }),
    controlApi: true,
    accessTokenTtlSeconds: 300,
    refreshTokenTtlSeconds: 86_400,
  });
});

afterAll(async () => {
  await idp.close();
});

interface CreatedUser {
  id: string;
  sub: string;
  login: string;
  password: string;
  email: string;
  name: string;
}

async function createUser(body: unknown): Promise<Response> {
  return fetch(`${idp.origin}/__control/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function globexConfig() {
  return client.discovery(
    new URL(idp.issuer('/globex')),
    DEV_CLIENTS.globex.clientId,
    undefined,
    client.ClientSecretBasic(DEV_CLIENTS.globex.clientSecret),
    { execute: [client.allowInsecureRequests] },
  );
}

/** Signs `user` in at the globex realm through the real login (and consent) pages. */
async function signIn(user: CreatedUser, posted: string[] = []) {
  const config = await globexConfig();
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: `${GATEHOUSE}/bff/callback/globex/dev`,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    prompt: 'consent',
  }).href;
  const cookieFetch = createCookieFetch();
  const recording = (target: string, init?: RequestInit) => {
    if (init?.method === 'POST') posted.push(new URL(target).pathname.split('/').at(-1) ?? '');
    return cookieFetch(target, init);
  };
  const callback = await completeDevIdpLogin(recording, url, {
    login: user.login,
    password: user.password,
  });
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: client.skipStateCheck,
  });
  return { config, tokens };
}

describe('users made on the fly (control API)', () => {
  it('signs in with the answered password and carries its claims, roles and token lifetimes', async () => {
    const res = await createUser({
      realm: '/globex',
      name: 'Grace Hopper',
      email: 'grace@globex.test',
      roles: ['auditor'],
      claims: { given_name: 'Grace', groups: ['navy'], department: 'compilers', iss: 'evil' },
      accessTokenTtlSeconds: 42,
      refreshTokenTtlSeconds: 600,
    });
    expect(res.status).toBe(201);
    const user = (await res.json()) as CreatedUser;
    expect(user.id).toMatch(/^user-/);
    expect(user.sub).toBe(user.id);
    expect(user.password.length).toBeGreaterThanOrEqual(20);

    const { config, tokens } = await signIn(user);
    expect(tokens.claims()).toMatchObject({
      iss: idp.issuer('/globex'),
      sub: user.id,
      name: 'Grace Hopper',
      email: 'grace@globex.test',
      roles: ['auditor'],
      given_name: 'Grace',
      groups: ['navy'],
    });
    expect(tokens.expires_in).toBe(42);
    expect(tokens['refresh_expires_in']).toBe(600);
    const access = decodeJwt(tokens.access_token);
    expect(access.exp! - access.iat!).toBe(42);
    // Custom claims reach the API in the access token; the IdP's own claims are never replaced.
    expect(access['department']).toBe('compilers');
    expect(access.iss).toBe(idp.issuer('/globex'));

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token ?? '');
    expect(refreshed.expires_in).toBe(42);
    expect(refreshed['refresh_expires_in']).toBe(600);
  });

  it('has consented up front: the login page is the only step, even with prompt=consent', async () => {
    const made = (await (await createUser({ realm: '/globex' })).json()) as CreatedUser;
    const posted: string[] = [];
    const { tokens } = await signIn(made, posted);
    expect(posted).toEqual(['login']);
    // The grant made for it holds every requested scope: offline_access gives a refresh token.
    expect(tokens.scope?.split(' ').sort()).toEqual([
      'email',
      'offline_access',
      'openid',
      'profile',
    ]);
    expect(tokens.refresh_token).toBeTruthy();
    expect(decodeJwt(tokens.id_token ?? '')).toMatchObject({ sub: made.sub, email: made.email });
  });

  it('shows the consent page to a user made with askConsent, as to a configured user', async () => {
    const made = (await (
      await createUser({ realm: '/globex', askConsent: true })
    ).json()) as CreatedUser;
    const posted: string[] = [];
    const { tokens } = await signIn(made, posted);
    expect(posted).toEqual(['login', 'confirm']);
    expect(tokens.refresh_token).toBeTruthy();
  });

  it('keeps the IdP defaults for users without their own lifetimes', async () => {
    const user = (await (await createUser({ realm: '/globex' })).json()) as CreatedUser;
    const { tokens } = await signIn(user);
    expect(tokens.expires_in).toBe(300);
    expect(tokens['refresh_expires_in']).toBe(86_400);
  });

  it('keeps realms apart: a globex user cannot sign in at the root realm', async () => {
    const user = (await (await createUser({ realm: '/globex' })).json()) as CreatedUser;
    const config = await client.discovery(
      new URL(idp.issuer('')),
      DEV_CLIENTS.acme.clientId,
      undefined,
      client.ClientSecretBasic(DEV_CLIENTS.acme.clientSecret),
      { execute: [client.allowInsecureRequests] },
    );
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: `${GATEHOUSE}/bff/callback/acme/dev`,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    }).href;
    await expect(
      completeDevIdpLogin(createCookieFetch(), url, { login: user.login, password: user.password }),
    ).rejects.toThrow('Invalid username or password');
  });

  it('refuses a taken id (even a configured user) with 409 and never changes that user', async () => {
    const first = await createUser({ realm: '', id: 'fixed-id-1' });
    expect(first.status).toBe(201);
    const again = await createUser({ realm: '', id: 'fixed-id-1' });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: 'user_exists' });
    const alice = await createUser({ realm: '', id: 'alice', roles: ['gatehouse-admin'] });
    expect(alice.status).toBe(409);
  });

  it('refuses hostile or malformed input with 400', async () => {
    const bad: unknown[] = [
      {},
      { realm: '/nowhere' },
      { realm: 1 },
      { realm: '', id: '../../etc' },
      { realm: '', id: 'x'.repeat(101) },
      { realm: '', id: 'a b' },
      { realm: '', email: 'not-an-email' },
      { realm: '', roles: 'admin' },
      { realm: '', claims: { '<script>': 1 } },
      { realm: '', claims: ['a'] },
      { realm: '', accessTokenTtlSeconds: 0 },
      { realm: '', accessTokenTtlSeconds: 1.5 },
      { realm: '', refreshTokenTtlSeconds: 10 ** 12 },
      { realm: '', password: 'chosen' },
      '{"realm": "", "__proto__": {"admin": true}}',
      '{"realm": ',
      '[]',
    ];
    for (const body of bad) {
      const res = await createUser(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    }
    const huge = await createUser({ realm: '', claims: { big: 'x'.repeat(20_000) } });
    expect(huge.status).toBe(413);
  });

  it('is not there when the control API is off', async () => {
    const closed = await startDevIdp({ realms: defaultRealms({ gatehouseOrigin: GATEHOUSE }) });
    try {
      const res = await fetch(`${closed.origin}/__control/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ realm: '' }),
      });
      expect(res.status).toBe(404);
    } finally {
      await closed.close();
    }
  });
});

describe('the start-up warm-up', () => {
  it('made no user and left the token endpoint untouched', async () => {
    const fresh = await startDevIdp({ controlApi: true });
    try {
      // Its user request is one the realm lookup refuses: the name it used is still free.
      for (const realm of ['', '/globex']) {
        expect(fresh.tokenEndpointCalls(realm)).toBe(0);
        const made = await fetch(`${fresh.origin}/__control/users`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ realm, id: 'warm-up' }),
        });
        expect(made.status).toBe(201);
      }
    } finally {
      await fresh.close();
    }
  });
});
