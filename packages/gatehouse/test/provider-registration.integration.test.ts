import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_CLIENTS, type DevIdpRealm } from '@gatehouse/dev-idp';
import { createCookieFetch, signIn, startStack, type Stack } from '@gatehouse/testkit';
import { PROVIDER_CHECKS } from '../src/tenants/provider-checks.ts';
import { PROVIDER_PROFILE_IDS } from '../src/tenants/provider-schema.ts';
import { ADMIN_TOKEN, adminCall, withAdminToken, type Caller } from './support/admin.ts';

/**
 * Registration against the real dev IdP (oidc-provider): the credentials check tries the
 * client's secret at the token endpoint with the configured method, the ID token algorithm is
 * the configured one or chosen from discovery (an OP signing with ES256 works end to end), the
 * URIs to register are known before the provider exists, and profiles fill in what a body
 * leaves out.
 */

const ES = { clientId: 'gatehouse-es', clientSecret: 'dev-only-es-secret-0123' };
const MIXED = { clientId: 'gatehouse-mixed', clientSecret: 'dev-only-mixed-secret-0123' };
const erin = { id: 'erin', password: 'erin', name: 'Erin', email: 'erin@acme.test' };

/** Two more realms: one that signs ID tokens with ES256 only, one announcing RS256 and ES256. */
function extraRealms(origins: readonly string[]): DevIdpRealm[] {
  const callbacks = (provider: string) =>
    origins.map((origin) => `${origin}/bff/callback/acme/${provider}`);
  return [
    {
      path: '/es256',
      idTokenSigningAlgs: ['ES256'],
      users: [erin],
      clients: [
        {
          client_id: ES.clientId,
          client_secret: ES.clientSecret,
          redirect_uris: callbacks('es'),
          token_endpoint_auth_method: 'client_secret_post',
          id_token_signed_response_alg: 'ES256',
        },
      ],
    },
    {
      // Signs this client's ID tokens with ES256 though it lists RS256 too: the provider must
      // pin ES256, as a tenant admin would copy it from the OP's client settings.
      path: '/mixed',
      idTokenSigningAlgs: ['RS256', 'ES256'],
      users: [erin],
      clients: [
        {
          client_id: MIXED.clientId,
          client_secret: MIXED.clientSecret,
          redirect_uris: callbacks('mixed'),
          id_token_signed_response_alg: 'ES256',
        },
      ],
    },
  ];
}

let stack: Stack;
const operator: Caller = { name: 'operator', bearer: ADMIN_TOKEN };
const call = (method: string, path: string, body?: unknown) =>
  adminCall(stack.origin, operator, method, path, body);

beforeAll(async () => {
  stack = await startStack({ configure: withAdminToken, extraRealms });
});
afterAll(async () => {
  await stack?.close();
});

interface Check {
  name: string;
  ok: boolean;
  message: string;
  field: string | null;
}
const checksOf = (body: Record<string, unknown>) => body.checks as Check[];
const credentials = (body: Record<string, unknown>) =>
  checksOf(body).find((check) => check.name === 'credentials_rejected');

const acmeBody = (overrides: Record<string, unknown> = {}) => ({
  id: 'candidate',
  issuer: stack.idp.issuer(''),
  clientId: DEV_CLIENTS.acme.clientId,
  clientSecret: DEV_CLIENTS.acme.clientSecret,
  ...overrides,
});

describe('the credentials check', () => {
  it('passes with the right secret and names the method it used', async () => {
    const answer = await call('POST', '/tenants/acme/provider-checks', acmeBody());
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body.ok).toBe(true);
    expect(checksOf(answer.body).map((check) => check.name)).toEqual([...PROVIDER_CHECKS]);
    expect(checksOf(answer.body).every((check) => check.ok)).toBe(true);
    expect(credentials(answer.body)).toEqual({
      name: 'credentials_rejected',
      ok: true,
      message:
        'The provider accepted the client credentials with client_secret_basic (it refused only the dummy authorization code).',
      field: 'clientSecret',
    });
    // Nothing was stored.
    expect((await call('GET', '/tenants/acme/providers/candidate')).status).toBe(404);
  });

  it('fails with a wrong secret, at the secret field, every other check passing', async () => {
    const answer = await call(
      'POST',
      '/tenants/acme/provider-checks',
      acmeBody({ clientSecret: 'not-the-secret-0123' }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.ok).toBe(false);
    expect(checksOf(answer.body).filter((check) => !check.ok)).toEqual([
      {
        name: 'credentials_rejected',
        ok: false,
        message: expect.stringMatching(
          /^The provider rejected the client credentials with client_secret_basic \(invalid_client\)/,
        ) as unknown,
        field: 'clientSecret',
      },
    ]);
    // Audited as a failed test of that provider, though the answer is a 200.
    const trail = await call('GET', '/tenants/acme/audit?action=provider.tested');
    expect((trail.body.events as Array<Record<string, unknown>>).at(-1)).toMatchObject({
      action: 'provider.tested',
      target: 'provider:candidate',
      outcome: 'failure',
      reason: 'provider_check_failed',
    });
  });

  it('tries client_secret_post as configured: accepted with the right secret, refused with a wrong one', async () => {
    const esBody = (clientSecret: string) => ({
      id: 'candidate',
      issuer: stack.idp.issuer('/es256'),
      clientId: ES.clientId,
      clientSecret,
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    const right = await call('POST', '/tenants/acme/provider-checks', esBody(ES.clientSecret));
    expect(right.body.ok, right.text).toBe(true);
    expect(credentials(right.body)?.message).toBe(
      'The provider accepted the client credentials with client_secret_post (it refused only the dummy authorization code).',
    );
    const wrong = await call(
      'POST',
      '/tenants/acme/provider-checks',
      esBody('not-the-secret-0123'),
    );
    expect(credentials(wrong.body)).toMatchObject({
      ok: false,
      field: 'clientSecret',
      message: expect.stringMatching(
        /^The provider rejected the client credentials with client_secret_post \(invalid_client\)/,
      ) as unknown,
    });
  });

  it('refuses to store a provider whose credentials the IdP rejects, on create and on update', async () => {
    const refused = await call(
      'POST',
      '/tenants/acme/providers',
      acmeBody({ id: 'wrong', clientSecret: 'not-the-secret-0123' }),
    );
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({
      code: 'provider_check_failed',
      check: 'credentials_rejected',
      detail: expect.stringContaining('rejected the client credentials') as unknown,
    });
    expect(checksOf(refused.body)).toHaveLength(PROVIDER_CHECKS.length);
    expect((await call('GET', '/tenants/acme/providers/wrong')).status).toBe(404);

    const created = await call('POST', '/tenants/acme/providers', acmeBody({ id: 'right' }));
    expect(created.status, created.text).toBe(201);
    const changed = await call('PATCH', '/tenants/acme/providers/right', {
      clientSecret: 'not-the-secret-0123',
    });
    expect(changed.status).toBe(422);
    expect(changed.body.check).toBe('credentials_rejected');
    // The stored (right) secret is what the test endpoint presents: it still passes.
    const tested = await call('POST', '/tenants/acme/providers/right/test');
    expect(tested.body.ok, tested.text).toBe(true);
    // A change that keeps the secret is checked with the stored one.
    const renamed = await call('PATCH', '/tenants/acme/providers/right', { displayName: 'Right' });
    expect(renamed.status, renamed.text).toBe(200);
  });
});

describe('the ID token signing algorithm', () => {
  it('signs a user in at an OP that signs ID tokens with ES256 only (chosen from discovery)', async () => {
    const created = await call('POST', '/tenants/acme/providers', {
      id: 'es',
      issuer: stack.idp.issuer('/es256'),
      ...ES,
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    expect(created.status, created.text).toBe(201);
    const tested = await call('POST', '/tenants/acme/providers/es/test');
    expect(tested.body).toMatchObject({ ok: true, discovery: { idTokenSigningAlg: 'ES256' } });

    const http = createCookieFetch();
    await signIn(
      http,
      stack.origin,
      { login: 'erin', password: 'erin' },
      {
        tenant: 'acme',
        provider: 'es',
      },
    );
    const user = await http(`${stack.origin}/bff/user`);
    expect(user.status).toBe(200);
    expect(await user.json()).toMatchObject({
      tenant: 'acme',
      provider: 'es',
      issuer: stack.idp.issuer('/es256'),
      claims: { sub: 'erin' },
    });
  });

  it('uses the pinned algorithm, and refuses one the OP does not list', async () => {
    const body = { id: 'mixed', issuer: stack.idp.issuer('/mixed'), ...MIXED };
    const unlisted = await call('POST', '/tenants/acme/providers', {
      ...body,
      idTokenSignedResponseAlg: 'PS256',
    });
    expect(unlisted.status).toBe(422);
    expect(unlisted.body).toMatchObject({
      check: 'id_token_alg_unsupported',
      detail: 'The provider does not sign ID tokens with PS256 (it lists: RS256, ES256).',
    });
    const pinned = await call('POST', '/tenants/acme/providers', {
      ...body,
      idTokenSignedResponseAlg: 'ES256',
    });
    expect(pinned.status, pinned.text).toBe(201);
    expect(pinned.body).toMatchObject({ provider: { idTokenSignedResponseAlg: 'ES256' } });

    const http = createCookieFetch();
    await signIn(
      http,
      stack.origin,
      { login: 'erin', password: 'erin' },
      {
        tenant: 'acme',
        provider: 'mixed',
      },
    );
    const user = await http(`${stack.origin}/bff/user`);
    expect(await user.json()).toMatchObject({ provider: 'mixed', claims: { sub: 'erin' } });
  });
});

describe('URIs and profiles', () => {
  it('tells the URIs to register before the provider exists', async () => {
    const uris = await call('GET', '/tenants/globex/provider-uris/okta-new');
    expect(uris.status).toBe(200);
    expect(uris.body).toEqual({
      redirectUri: `${stack.origin}/bff/callback/globex/okta-new`,
      postLogoutRedirectUri: `${stack.origin}/bff/signed-out`,
      backchannelLogoutUri: `${stack.origin}/bff/backchannel-logout/globex/okta-new`,
      jwksUri: `${stack.origin}/bff/jwks/globex/okta-new`,
    });
    expect((await call('GET', '/tenants/nowhere/provider-uris/x')).body.code).toBe(
      'unknown_tenant',
    );
    for (const hostile of ['Upper', '..%2F..%2Fadmin', '-dash', `${'a'.repeat(65)}`, '%00']) {
      const answer = await call('GET', `/tenants/globex/provider-uris/${hostile}`);
      expect(answer.status, hostile).toBe(404);
      expect(answer.body.code, hostile).toBe('unknown_provider');
    }
  });

  it('lists every profile with its defaults and notes', async () => {
    const answer = await call('GET', '/provider-profiles');
    expect(answer.status).toBe(200);
    const profiles = answer.body.profiles as Array<Record<string, unknown>>;
    expect(profiles.map((profile) => profile.id)).toEqual([...PROVIDER_PROFILE_IDS]);
    for (const profile of profiles) {
      expect(profile).toMatchObject({
        name: expect.any(String) as unknown,
        summary: expect.any(String) as unknown,
        issuerHint: expect.stringMatching(/^https:\/\//) as unknown,
        defaults: { profile: profile.id },
      });
      expect((profile.notes as string[]).length).toBeGreaterThan(0);
    }
    expect(profiles.find((profile) => profile.id === 'google')?.defaults).toEqual({
      profile: 'google',
      scopes: ['openid', 'profile', 'email'],
      authorizationParams: { access_type: 'offline', prompt: 'consent' },
      logout: 'none',
    });
    expect(profiles.find((profile) => profile.id === 'strict-modern')?.defaults).toEqual({
      profile: 'strict-modern',
      par: 'required',
      tokenEndpointAuthMethod: 'private_key_jwt',
      dpop: true,
    });
  });

  it("gives a provider created with a profile the profile's defaults for what it leaves out", async () => {
    const created = await call('POST', '/tenants/acme/providers', {
      ...acmeBody({ id: 'google-like', profile: 'google' }),
      logout: 'end-session',
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body.provider).toMatchObject({
      profile: 'google',
      scopes: ['openid', 'profile', 'email'],
      authorizationParams: { access_type: 'offline', prompt: 'consent' },
      // Set in the body: the body wins over the profile.
      logout: 'end-session',
      pkce: 'required',
    });
    const cognito = await call(
      'POST',
      '/tenants/acme/provider-checks',
      acmeBody({ profile: 'cognito' }),
    );
    expect(cognito.body.ok, cognito.text).toBe(true);
  });
});
