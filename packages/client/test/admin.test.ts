import { describe, expect, it } from 'vitest';
import { GatehouseProblem } from '../src/index.ts';
import type { ProviderInput } from '../src/index.ts';
import { readProblem } from '../src/problem.ts';
import { setUpFakeGatehouse } from './helpers.ts';

const { fake, clients } = await setUpFakeGatehouse();

/** Resolves with what `promise` rejected with; fails the test when it resolved. */
async function rejection(promise: Promise<unknown>): Promise<GatehouseProblem> {
  const error = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GatehouseProblem);
  return error as GatehouseProblem;
}

async function signedInClient() {
  fake.signIn();
  const made = clients.make();
  await made.client.refresh();
  return made;
}

const okta: ProviderInput = {
  id: 'okta',
  displayName: 'Acme Okta',
  issuer: 'https://acme.okta.example',
  clientId: 'gatehouse-acme',
  clientSecret: 's3cret-value-never-echoed',
  tokenEndpointAuthMethod: 'client_secret_post',
  scopes: ['openid', 'email'],
  authorizationParams: { prompt: 'consent' },
  enabled: true,
};

describe('getTenant', () => {
  it('returns the tenant name and only its enabled providers', async () => {
    const { client } = clients.make();
    await expect(client.getTenant('acme')).resolves.toEqual({
      tenant: { id: 'acme', name: 'Acme Corporation' },
      providers: [{ id: 'dev', displayName: 'Acme Dev IdP' }],
    });
    expect(fake.requests.at(-1)?.path).toBe('/bff/tenants/acme');
  });

  it('encodes the tenant as one path segment', async () => {
    const { client } = clients.make();
    await rejection(client.getTenant('../admin/api/me'));
    expect(fake.requests.at(-1)?.path).toBe('/bff/tenants/..%2Fadmin%2Fapi%2Fme');
    expect(fake.admin.received).toEqual([]);
  });

  it('throws unknown_tenant for an unknown tenant and leaves the session alone', async () => {
    const { client } = await signedInClient();
    const problem = await rejection(client.getTenant('initech'));
    expect(problem).toMatchObject({ status: 404, code: 'unknown_tenant' });
    expect(client.state.status).toBe('signed-in');
  });
});

describe('admin.me', () => {
  it('sends X-CSRF: 1 and returns the role and tenant', async () => {
    const { client } = await signedInClient();
    await expect(client.admin.me()).resolves.toEqual({ role: 'tenant-admin', tenant: 'acme' });
    expect(fake.admin.received).toMatchObject([
      { method: 'GET', path: '/admin/api/me', csrf: '1' },
    ]);
  });

  it('returns the operator without a tenant', async () => {
    const { client } = await signedInClient();
    fake.admin.role = 'operator';
    await expect(client.admin.me()).resolves.toEqual({ role: 'operator' });
  });

  it('throws 403 for a user who is no admin, without re-checking the session', async () => {
    const { client } = await signedInClient();
    fake.admin.role = undefined;
    fake.requests.length = 0;
    const problem = await rejection(client.admin.me());
    expect(problem).toMatchObject({ status: 403, code: 'not_admin' });
    expect(fake.requests.map((r) => r.path)).toEqual(['/admin/api/me']);
    expect(client.state.status).toBe('signed-in');
  });
});

describe('admin 401', () => {
  it('does not sign out while GET /bff/user still answers 200', async () => {
    const { client } = await signedInClient();
    const before = client.state;
    // Even Gatehouse's own "no session" code: on the admin API it may mean "not an admin credential".
    fake.admin.refuseWithCode = 'unauthenticated';
    fake.requests.length = 0;

    const problem = await rejection(client.admin.listProviders('acme'));
    expect(problem).toMatchObject({ status: 401, code: 'unauthenticated' });
    expect(fake.requests.map((r) => r.path)).toEqual([
      '/admin/api/tenants/acme/providers',
      '/bff/user?slide=false',
    ]);
    expect(client.state).toBe(before);
  });

  it('signs out when GET /bff/user confirms the session is gone', async () => {
    const { client } = await signedInClient();
    fake.revoke();
    await rejection(client.admin.me());
    expect(client.state).toEqual({ status: 'signed-out', reason: 'unauthenticated' });
  });
});

describe('listProviders', () => {
  it('returns provider views with the URIs to configure at the IdP', async () => {
    const { client } = await signedInClient();
    const views = await client.admin.listProviders('acme');
    expect(views.map((v) => [v.provider.id, v.provider.source, v.provider.enabled])).toEqual([
      ['dev', 'config', true],
      ['legacy', 'dynamic', false],
    ]);
    expect(views[1]).toMatchObject({
      provider: { hasClientSecret: true, scopes: ['openid', 'profile', 'email'] },
      redirectUri: `${fake.url}/bff/callback/acme/legacy`,
      backchannelLogoutUri: `${fake.url}/bff/backchannel-logout/acme/legacy`,
    });
    expect(fake.admin.received.at(-1)?.csrf).toBe('1');
  });

  it('drops list items that are not provider views (no { provider, redirectUri } wrapper)', async () => {
    const { client } = await signedInClient();
    fake.admin.listShape = 'bare';
    await expect(client.admin.listProviders('acme')).resolves.toEqual([]);
  });

  it('keeps only the known fields: a secret the server wrongly sent never reaches the caller', async () => {
    const { client } = await signedInClient();
    fake.admin.extraProviderFields = { clientSecret: 'leaked-secret', note: 'x' };
    const views = await client.admin.listProviders('acme');
    expect(JSON.stringify(views)).not.toContain('leaked-secret');
    expect(Object.keys(views[0]?.provider ?? {})).not.toContain('clientSecret');
  });

  it('refuses another tenant with 403 for a tenant admin', async () => {
    const { client } = await signedInClient();
    const problem = await rejection(client.admin.listProviders('globex'));
    expect(problem.status).toBe(403);
  });
});

describe('createProvider', () => {
  it('POSTs JSON with X-CSRF and answers the view without the secret', async () => {
    const { client } = await signedInClient();
    const view = await client.admin.createProvider('acme', okta);

    const sent = fake.admin.received.at(-1);
    expect(sent).toMatchObject({
      method: 'POST',
      path: '/admin/api/tenants/acme/providers',
      csrf: '1',
      contentType: 'application/json',
    });
    expect(JSON.parse(sent?.body ?? '')).toEqual(okta);
    expect(view).toMatchObject({
      provider: { id: 'okta', hasClientSecret: true, authorizationParams: { prompt: 'consent' } },
      redirectUri: `${fake.url}/bff/callback/acme/okta`,
      backchannelLogoutUri: `${fake.url}/bff/backchannel-logout/acme/okta`,
    });
    expect(JSON.stringify(view)).not.toContain(okta.clientSecret);
  });

  it('surfaces validation errors with dotted paths', async () => {
    const { client } = await signedInClient();
    const problem = await rejection(
      client.admin.createProvider('acme', { ...okta, issuer: 'http://acme.example', clientId: '' }),
    );
    expect(problem).toMatchObject({ status: 422, code: 'validation_failed' });
    expect(problem.errors).toEqual([
      { path: 'clientId', message: 'Required' },
      { path: 'issuer', message: 'The issuer must be an https URL.' },
    ]);
  });

  it('surfaces a failed provider check with its name and detail', async () => {
    const { client } = await signedInClient();
    const problem = await rejection(
      client.admin.createProvider('acme', { ...okta, issuer: 'https://mismatch.example' }),
    );
    expect(problem).toMatchObject({
      status: 422,
      code: 'provider_check_failed',
      check: 'issuer_mismatch',
      detail: 'The discovery document names a different issuer.',
    });
    expect(problem.errors).toEqual([]);
  });
});

describe('updateProvider and deleteProvider', () => {
  it('PATCHes only the given fields, so an omitted secret stays stored', async () => {
    const { client } = await signedInClient();
    const view = await client.admin.updateProvider('acme', 'legacy', {
      displayName: 'Legacy',
      enabled: true,
    });
    const sent = fake.admin.received.at(-1);
    expect(sent).toMatchObject({
      method: 'PATCH',
      path: '/admin/api/tenants/acme/providers/legacy',
    });
    expect(JSON.parse(sent?.body ?? '')).toEqual({ displayName: 'Legacy', enabled: true });
    expect(view.provider).toMatchObject({ displayName: 'Legacy', enabled: true });
    expect(fake.admin.storedSecret('acme', 'legacy')).toBe('config-secret');
  });

  it('throws read_only for a provider from the config file', async () => {
    const { client } = await signedInClient();
    const problem = await rejection(client.admin.updateProvider('acme', 'dev', { enabled: false }));
    expect(problem).toMatchObject({ status: 409, code: 'read_only' });
  });

  it('deletes with DELETE and X-CSRF', async () => {
    const { client } = await signedInClient();
    await client.admin.deleteProvider('acme', 'legacy');
    expect(fake.admin.received.at(-1)).toMatchObject({ method: 'DELETE', csrf: '1' });
    const ids = (await client.admin.listProviders('acme')).map((v) => v.provider.id);
    expect(ids).toEqual(['dev']);
  });

  it('encodes provider ids as one path segment', async () => {
    const { client } = await signedInClient();
    await rejection(client.admin.deleteProvider('acme', '../../me'));
    expect(fake.admin.received.at(-1)?.path).toBe('/admin/api/tenants/acme/providers/..%2F..%2Fme');
  });
});

describe('testProvider', () => {
  it('returns the passed checks and what discovery found, as the server sends them', async () => {
    const { client } = await signedInClient();
    await expect(client.admin.testProvider('acme', 'legacy')).resolves.toEqual({
      ok: true,
      checks: [
        { name: 'issuer_scheme', ok: true, message: 'issuer_scheme passed', field: 'issuer' },
        { name: 'discovery_failed', ok: true, message: 'discovery_failed passed', field: 'issuer' },
        { name: 'jwks_unavailable', ok: true, message: 'jwks_unavailable passed', field: null },
        {
          name: 'credentials_rejected',
          ok: true,
          message: 'credentials_rejected passed',
          field: 'clientSecret',
        },
      ],
      discovery: {
        issuer: 'https://legacy.acme.example',
        authorizationEndpoint: 'https://legacy.acme.example/auth',
        tokenEndpoint: 'https://legacy.acme.example/token',
        endSessionEndpoint: null,
        backchannelLogoutSupported: true,
        idTokenSigningAlg: 'RS256',
      },
    });
    expect(fake.admin.received.at(-1)).toMatchObject({
      method: 'POST',
      path: '/admin/api/tenants/acme/providers/legacy/test',
      csrf: '1',
    });
  });

  it('returns a failed check named, with its sentence, and ok: false', async () => {
    const { client } = await signedInClient();
    await client.admin.updateProvider('acme', 'legacy', { issuer: 'https://broken.example' });
    const result = await client.admin.testProvider('acme', 'legacy');
    expect(result.ok).toBe(false);
    expect(result.checks.filter((check) => !check.ok)).toEqual([
      {
        name: 'jwks_unavailable',
        ok: false,
        message: 'The jwks_uri could not be fetched.',
        field: null,
      },
    ]);
  });
});

describe('problem extension members from hostile or odd servers', () => {
  const problemResponse = (body: unknown) =>
    new Response(JSON.stringify(body), {
      status: 422,
      headers: { 'content-type': 'application/problem+json' },
    });

  it('keeps well-formed field errors only and joins array paths with dots', async () => {
    const problem = await readProblem(
      problemResponse({
        code: 'validation_failed',
        check: 42,
        errors: [
          { path: ['authorizationParams', 'prompt'], message: 'Not allowed' },
          { path: [], message: 'Form-level' },
          { path: 'issuer', message: 7 },
          { path: [{}], message: 'Object segment' },
          'garbage',
          null,
        ],
      }),
    );
    expect(problem.errors).toEqual([
      { path: 'authorizationParams.prompt', message: 'Not allowed' },
      { path: '', message: 'Form-level' },
    ]);
    expect(problem.check).toBeUndefined();
  });

  it('ignores an errors member that is not an array', async () => {
    const problem = await readProblem(problemResponse({ code: 'x', errors: { issuer: 'bad' } }));
    expect(problem.errors).toEqual([]);
  });
});
