import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.ts';
import type { ConfigInput } from '../src/config/schema.ts';
import { GatehouseError, problem } from '../src/errors.ts';
import { Vault } from '../src/session/vault.ts';
import { MemoryRegistryStore, type RegistryStore } from '../src/tenants/registry-store.ts';
import { TenantRegistry } from '../src/tenants/registry.ts';
import type { ProviderInput } from '../src/tenants/registry-inputs.ts';
import { withProviderDefaults } from '../src/tenants/provider-schema.ts';
import { storedProviderSchema } from '../src/tenants/model.ts';

/** The registry service over the memory store: merging, secrets, rules, caching, API keys. */

const KEY_1 = { kid: 'k1', key: Buffer.alloc(32, 1).toString('base64url') };
const KEY_2 = { kid: 'k2', key: Buffer.alloc(32, 2).toString('base64url') };

const input: ConfigInput = {
  mode: 'development',
  publicUrl: 'http://localhost:3000',
  tenants: [
    {
      id: 'acme',
      name: 'Acme',
      emailDomains: ['acme.test'],
      hosts: ['acme.localhost'],
      providers: [
        {
          id: 'dev',
          issuer: 'https://idp.acme.test',
          clientId: 'acme-client',
          clientSecret: 'config-secret',
        },
      ],
    },
  ],
};

/** Counts store reads, so tests can see what the cache saves. */
class CountingStore extends MemoryRegistryStore {
  snapshots = 0;
  override async snapshot() {
    this.snapshots++;
    return super.snapshot();
  }
}

function setup(
  options: { store?: RegistryStore; keys?: Array<typeof KEY_1>; clock?: () => number } = {},
) {
  const { config } = loadConfig({ env: {}, input });
  const store = options.store ?? new CountingStore();
  const registry = new TenantRegistry({
    config,
    store,
    vault: new Vault(options.keys ?? [KEY_1]),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return { registry, store };
}

const noChecks = async () => undefined;

function providerInput(id: string, overrides: Partial<ProviderInput> = {}): ProviderInput {
  return {
    id,
    displayName: id,
    issuer: `https://${id}.idp.test`,
    clientId: `client-${id}`,
    clientSecret: `secret-of-${id}-0123456789`,
    ...withProviderDefaults({}),
    tokenEndpointAuthMethod: 'client_secret_basic',
    scopes: ['openid'],
    authorizationParams: {},
    enabled: true,
    ...overrides,
  };
}

async function failure(promise: Promise<unknown>): Promise<GatehouseError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(GatehouseError);
  return error as GatehouseError;
}

const tenantInput = (id: string, domains: string[] = []) => ({
  id,
  name: id,
  emailDomains: domains,
  hosts: [],
  adminRule: { claim: 'roles', value: 'gatehouse-admin' },
});

describe('TenantRegistry', () => {
  it('merges config tenants (read-only) with dynamic ones', async () => {
    const { registry } = setup();
    await registry.createTenant(tenantInput('initech', ['initech.test']));
    expect((await registry.tenants()).map((t) => [t.id, t.source])).toEqual([
      ['acme', 'config'],
      ['initech', 'dynamic'],
    ]);
    expect((await registry.tenant('acme'))?.adminRule).toEqual({
      claim: 'roles',
      value: 'gatehouse-admin',
    });
    expect((await registry.tenantForEmailDomain('ACME.test'))?.id).toBe('acme');
    expect((await registry.tenantForEmailDomain('initech.test'))?.id).toBe('initech');
    expect(await registry.tenantForEmailDomain('unknown.test')).toBeUndefined();
    expect((await registry.tenantForHost('acme.localhost'))?.id).toBe('acme');

    expect((await failure(registry.updateTenant('acme', { name: 'x' }))).code).toBe('read_only');
    expect((await failure(registry.deleteTenant('acme'))).status).toBe(409);
    expect((await failure(registry.createTenant(tenantInput('acme')))).code).toBe('tenant_exists');
    expect((await failure(registry.createTenant(tenantInput('initech')))).code).toBe(
      'tenant_exists',
    );
    const config = await registry.provider('acme', 'dev');
    expect(config).toMatchObject({ source: 'config', hasClientSecret: true, revision: 0 });
    expect((await failure(registry.deleteProvider('acme', 'dev'))).code).toBe('read_only');
    expect((await failure(registry.updateProvider('acme', 'dev', {}, noChecks))).code).toBe(
      'read_only',
    );
    expect(
      (await failure(registry.createProvider('acme', providerInput('dev'), noChecks))).code,
    ).toBe('provider_exists');
  });

  it('refuses an email domain or host that belongs to another tenant', async () => {
    const { registry } = setup();
    expect((await failure(registry.createTenant(tenantInput('evil', ['acme.test'])))).code).toBe(
      'email_domain_taken',
    );
    await registry.createTenant(tenantInput('initech', ['initech.test']));
    expect(
      (await failure(registry.createTenant(tenantInput('other', ['initech.test'])))).code,
    ).toBe('email_domain_taken');
    expect(
      (await failure(registry.updateTenant('initech', { emailDomains: ['acme.test'] }))).code,
    ).toBe('email_domain_taken');
    expect(
      (await failure(registry.updateTenant('initech', { hosts: ['acme.localhost'] }))).code,
    ).toBe('host_taken');
    // Its own domains are not a clash.
    const updated = await registry.updateTenant('initech', {
      name: 'Initech',
      emailDomains: ['initech.test', 'initrode.test'],
    });
    expect(updated).toMatchObject({
      name: 'Initech',
      emailDomains: ['initech.test', 'initrode.test'],
    });
    expect((await registry.tenantForEmailDomain('initrode.test'))?.id).toBe('initech');
  });

  it('stores client secrets sealed, bound to their provider, readable after key rotation', async () => {
    const store = new CountingStore();
    const { registry } = setup({ store });
    await registry.createProvider('acme', providerInput('okta'), noChecks);
    const stored = await store.getProvider('acme', 'okta');
    expect(JSON.stringify(stored)).not.toContain('secret-of-okta');
    expect(stored?.sealedClientSecret).toMatch(/^eyJ/);
    expect(await registry.clientSecret('acme', 'okta')).toBe('secret-of-okta-0123456789');
    expect(await registry.clientSecret('acme', 'dev')).toBe('config-secret');

    // A new current key; the old one still opens what it sealed.
    const rotated = setup({ store, keys: [KEY_2, KEY_1] }).registry;
    expect(await rotated.clientSecret('acme', 'okta')).toBe('secret-of-okta-0123456789');
    await rotated.updateProvider('acme', 'okta', { clientSecret: 'rotated-secret-0123' }, noChecks);
    const onlyNewKey = setup({ store, keys: [KEY_2] }).registry;
    expect(await onlyNewKey.clientSecret('acme', 'okta')).toBe('rotated-secret-0123');

    // After a promotion, re-sealing moves every secret to the current key: the old one can go.
    await registry.createProvider('acme', providerInput('auth0'), noChecks);
    const promoted = setup({ store, keys: [KEY_2, KEY_1] }).registry;
    expect(await promoted.resealClientSecrets()).toBe(1);
    expect(await promoted.resealClientSecrets()).toBe(0);
    const retired = setup({ store, keys: [KEY_2] }).registry;
    expect(await retired.clientSecret('acme', 'auth0')).toBe('secret-of-auth0-0123456789');
    expect(await retired.clientSecret('acme', 'okta')).toBe('rotated-secret-0123');

    // A sealed secret copied onto another provider does not open there.
    await registry.createProvider('acme', providerInput('azure'), noChecks);
    const azure = await store.getProvider('acme', 'azure');
    if (!azure || !stored) throw new Error('missing');
    await store.updateProvider(
      { ...azure, sealedClientSecret: stored.sealedClientSecret, revision: azure.revision + 1 },
      azure.revision,
    );
    registry.invalidate();
    await expect(registry.clientSecret('acme', 'azure')).rejects.toThrow();
  });

  it('requires a secret exactly when the auth method uses one', async () => {
    const { registry } = setup();
    const noSecret = providerInput('okta', { clientSecret: undefined });
    const missing = await failure(registry.createProvider('acme', noSecret, noChecks));
    expect(missing.status).toBe(422);
    expect(missing.extra).toEqual({
      errors: [{ path: 'clientSecret', message: 'Required for this authentication method.' }],
    });
    const publicWithSecret = providerInput('spa', { tokenEndpointAuthMethod: 'private_key_jwt' });
    expect(
      (await failure(registry.createProvider('acme', publicWithSecret, noChecks))).status,
    ).toBe(422);

    await registry.createProvider('acme', providerInput('okta'), noChecks);
    // Switching to private_key_jwt drops the secret; switching back needs a new one.
    const asPublic = await registry.updateProvider(
      'acme',
      'okta',
      { tokenEndpointAuthMethod: 'private_key_jwt' },
      noChecks,
    );
    expect(asPublic.hasClientSecret).toBe(false);
    expect(await registry.clientSecret('acme', 'okta')).toBeUndefined();
    expect(
      (
        await failure(
          registry.updateProvider(
            'acme',
            'okta',
            { tokenEndpointAuthMethod: 'client_secret_post' },
            noChecks,
          ),
        )
      ).status,
    ).toBe(422);
    const back = await registry.updateProvider(
      'acme',
      'okta',
      { tokenEndpointAuthMethod: 'client_secret_post', clientSecret: 'new-secret-0123' },
      noChecks,
    );
    expect(back).toMatchObject({ hasClientSecret: true, revision: 3 });
    expect(
      (await failure(registry.updateProvider('acme', 'okta', { clientSecret: null }, noChecks)))
        .status,
    ).toBe(422);
  });

  it('loads a provider stored by an older version with the model defaults', async () => {
    const { registry, store } = setup();
    const created = await registry.createProvider('acme', providerInput('old'), noChecks);
    const stored = await store.getProvider('acme', 'old');
    // What an older version wrote: none of the newer fields.
    const {
      pkce: _p,
      par: _r,
      dpop: _d,
      logout: _l,
      endSessionParams: _e,
      profile: _f,
      ...old
    } = stored!;
    const parsed = storedProviderSchema.parse(JSON.parse(JSON.stringify(old)));
    expect(parsed).toMatchObject({
      pkce: 'required',
      par: 'auto',
      dpop: false,
      logout: 'end-session',
      endSessionParams: {},
      profile: 'generic',
    });
    expect(created).toMatchObject({ pkce: 'required', profile: 'generic' });
    // A record a later change made unreadable (`none` is gone) is refused by the schema.
    expect(
      storedProviderSchema.safeParse({ ...old, tokenEndpointAuthMethod: 'none' }).success,
    ).toBe(false);
  });

  it('pins an ID token algorithm, keeps it across a patch, and unpins it with null', async () => {
    const { registry } = setup();
    const created = await registry.createProvider(
      'acme',
      providerInput('es', { idTokenSignedResponseAlg: 'ES256', logout: 'none' }),
      noChecks,
    );
    expect(created).toMatchObject({ idTokenSignedResponseAlg: 'ES256', logout: 'none' });
    const kept = await registry.updateProvider('acme', 'es', { dpop: true }, noChecks);
    expect(kept).toMatchObject({ idTokenSignedResponseAlg: 'ES256', dpop: true, logout: 'none' });
    const unpinned = await registry.updateProvider(
      'acme',
      'es',
      { idTokenSignedResponseAlg: null },
      noChecks,
    );
    expect(unpinned).not.toHaveProperty('idTokenSignedResponseAlg');
    expect(unpinned).toMatchObject({ dpop: true, revision: 3 });
  });

  it('stores nothing when the checks fail, and shows them the merged candidate', async () => {
    const { registry, store } = setup();
    const refuse = async () => {
      throw problem('provider_check_failed', { detail: 'no' });
    };
    await failure(registry.createProvider('acme', providerInput('okta'), refuse));
    expect(await store.getProvider('acme', 'okta')).toBeUndefined();

    await registry.createProvider('acme', providerInput('okta'), noChecks);
    const seen: unknown[] = [];
    await failure(
      registry.updateProvider('acme', 'okta', { issuer: 'https://new.idp.test' }, async (c) => {
        seen.push(c);
        await refuse();
      }),
    );
    expect(seen).toEqual([
      expect.objectContaining({
        id: 'okta',
        tenant: 'acme',
        issuer: 'https://new.idp.test',
        hasClientSecret: true,
      }),
    ]);
    expect((await store.getProvider('acme', 'okta'))?.issuer).toBe('https://okta.idp.test');
    expect(
      (await failure(registry.createProvider('nope', providerInput('x'), noChecks))).code,
    ).toBe('unknown_tenant');
    expect((await failure(registry.updateProvider('acme', 'nope', {}, noChecks))).code).toBe(
      'unknown_provider',
    );
  });

  it('serves reads from its cache and reloads after a change', async () => {
    const store = new CountingStore();
    const { registry } = setup({ store });
    await registry.tenants();
    await registry.provider('acme', 'dev');
    await registry.tenantForEmailDomain('acme.test');
    expect(store.snapshots).toBe(1);
    await registry.createProvider('acme', providerInput('okta'), noChecks);
    expect((await registry.providers('acme')).map((p) => p.id)).toEqual(['dev', 'okta']);
    // A change written by "another instance" straight into the shared store is announced.
    await store.updateProvider(
      { ...(await store.getProvider('acme', 'okta'))!, enabled: false, revision: 2 },
      1,
    );
    expect((await registry.provider('acme', 'okta'))?.enabled).toBe(false);
  });

  it('honours a session only while its provider is enabled, unchanged in issuer and not re-created', async () => {
    let now = 10_000;
    const { registry } = setup({ clock: () => now });
    await registry.createProvider('acme', providerInput('okta'), noChecks);
    const session = {
      tenant: 'acme',
      provider: 'okta',
      issuer: 'https://okta.idp.test',
      createdAtMs: 20_000,
    };
    expect(await registry.isSessionProviderLive(session)).toBe(true);
    expect(
      await registry.isSessionProviderLive({ ...session, issuer: 'https://okta.idp.test/' }),
    ).toBe(true);
    expect(await registry.isSessionProviderLive({ ...session, tenant: 'globex' })).toBe(false);
    expect(
      await registry.isSessionProviderLive({
        ...session,
        provider: 'dev',
        issuer: 'https://idp.acme.test',
      }),
    ).toBe(true);

    await registry.updateProvider('acme', 'okta', { enabled: false }, noChecks);
    expect(await registry.isSessionProviderLive(session)).toBe(false);
    await registry.updateProvider(
      'acme',
      'okta',
      { enabled: true, issuer: 'https://other.idp.test' },
      noChecks,
    );
    expect(await registry.isSessionProviderLive(session)).toBe(false);
    await registry.deleteProvider('acme', 'okta');
    expect(await registry.isSessionProviderLive(session)).toBe(false);
    now = 30_000;
    await registry.createProvider('acme', providerInput('okta'), noChecks);
    expect(await registry.isSessionProviderLive(session)).toBe(false);
    expect(await registry.isSessionProviderLive({ ...session, createdAtMs: 31_000 })).toBe(true);
  });

  it('issues API keys once, verifies them in constant time and forgets them on revocation', async () => {
    const { registry, store } = setup();
    await registry.createTenant(tenantInput('initech'));
    const issued = await registry.issueApiKey('initech', 'ci');
    expect(issued.key).toMatch(/^ghk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const secretPart = issued.key.slice(-43);
    const stored = await store.getApiKey(issued.id);
    expect(JSON.stringify(stored)).not.toContain(secretPart);
    expect(await registry.verifyApiKey(issued.key)).toBe('initech');
    expect(await registry.listApiKeys('initech')).toEqual([
      { id: issued.id, label: 'ci', createdAt: issued.createdAt },
    ]);

    const tampered = issued.key.slice(0, -1) + (issued.key.endsWith('A') ? 'B' : 'A');
    for (const bad of [
      tampered,
      'ghk_short',
      `${issued.key}x`,
      issued.key.replace('ghk_', 'ghx_'),
      '',
    ]) {
      expect(await registry.verifyApiKey(bad)).toBeUndefined();
    }
    const acmeKey = await registry.issueApiKey('acme');
    expect(await registry.verifyApiKey(acmeKey.key)).toBe('acme');

    await registry.revokeApiKey('initech', issued.id);
    expect(await registry.verifyApiKey(issued.key)).toBeUndefined();
    expect((await failure(registry.revokeApiKey('initech', issued.id))).code).toBe(
      'unknown_api_key',
    );
    expect((await failure(registry.revokeApiKey('initech', acmeKey.id))).code).toBe(
      'unknown_api_key',
    );

    const second = await registry.issueApiKey('initech');
    await registry.deleteTenant('initech');
    expect(await registry.verifyApiKey(second.key)).toBeUndefined();
    expect((await failure(registry.issueApiKey('initech'))).code).toBe('unknown_tenant');
  });
});
