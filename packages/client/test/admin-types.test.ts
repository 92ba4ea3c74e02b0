import { describe, expect, expectTypeOf, it } from 'vitest';
import type {
  GatehouseAdmin,
  ProviderCheckName,
  ProviderInput,
  ProviderTestResult,
  ProviderView,
  TokenEndpointAuthMethod,
} from '../src/index.ts';
import { createGatehouseClient } from '../src/index.ts';

// The admin types are generated from the server's schemas (packages/gatehouse/test/
// admin-contract.test.ts checks they are current); these are the points where the old
// hand-copied types had drifted from the server. Checked by tsc (`pnpm typecheck`).
describe('admin types', () => {
  it('offer no "none": a BFF is a confidential client', () => {
    expectTypeOf<TokenEndpointAuthMethod>().toEqualTypeOf<
      'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'
    >();
    expectTypeOf<'none'>().not.toExtend<TokenEndpointAuthMethod>();
    expectTypeOf<GatehouseAdmin['createProvider']>().parameter(1).toEqualTypeOf<ProviderInput>();
  });

  it('make displayName and every field with a server default optional on create', () => {
    expectTypeOf<{ id: string; issuer: string; clientId: string }>().toExtend<ProviderInput>();
    expectTypeOf<ProviderInput['displayName']>().toEqualTypeOf<string | undefined>();
  });

  it('describe a provider test as the server answers it: check names and discovery results', () => {
    expectTypeOf<ProviderTestResult['checks']>().toEqualTypeOf<ProviderCheckName[]>();
    expectTypeOf<'jwks_unavailable'>().toExtend<ProviderCheckName>();
    expectTypeOf<{ name: string; ok: boolean }>().not.toExtend<ProviderCheckName>();
    expectTypeOf<ProviderTestResult['endSessionEndpoint']>().toEqualTypeOf<string | null>();
    expectTypeOf<
      ReturnType<GatehouseAdmin['testProvider']>
    >().resolves.toEqualTypeOf<ProviderTestResult>();
    // The answer always carries the URIs to register at the IdP.
    expectTypeOf<ProviderView['redirectUri']>().toEqualTypeOf<string>();
  });

  it('type login() by whether the client has a defaultTenant', () => {
    const withDefault = createGatehouseClient({ defaultTenant: 'acme', navigate: () => {} });
    const without = createGatehouseClient({ navigate: () => {} });
    expectTypeOf(withDefault.login).toBeCallableWith();
    expectTypeOf(without.login).toBeCallableWith({ tenant: 'acme' });
    expectTypeOf(without.login).toBeCallableWith({ email: 'carol@globex.test' });
    // @ts-expect-error -- no tenant, no email, no default
    expectTypeOf(without.login).toBeCallableWith();
    // @ts-expect-error -- returnTo alone does not say where to sign in
    expectTypeOf(without.login).toBeCallableWith({ returnTo: '/' });
    expect(() => without.login({ returnTo: '/' } as never)).toThrow(TypeError);
    withDefault.dispose();
    without.dispose();
  });
});
