import { readFileSync } from 'node:fs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type * as Sdk from '../../client/src/admin-contract.ts';
import type * as Server from '../src/admin/contract.ts';
import { GENERATED, generateAdminContract } from '../../../scripts/admin-contract.ts';

// @gatehouse/client publishes the admin API's types expanded from the server's zod schemas
// (`pnpm contract:generate`): these tests fail when a schema changes and the SDK was not regenerated.
describe('the client SDK’s admin types are the server’s', () => {
  it('packages/client/src/admin-contract.ts is what `pnpm contract:generate` writes today', async () => {
    expect(readFileSync(GENERATED, 'utf8')).toBe(await generateAdminContract());
  });

  it('are the very types the server infers from its schemas (checked by tsc: `pnpm typecheck`)', () => {
    expectTypeOf<Sdk.AdminIdentity>().toEqualTypeOf<Server.AdminIdentity>();
    expectTypeOf<Sdk.TenantProvider>().toEqualTypeOf<Server.TenantProvider>();
    expectTypeOf<Sdk.ProviderView>().toEqualTypeOf<Server.ProviderView>();
    expectTypeOf<Sdk.ProviderList>().toEqualTypeOf<Server.ProviderList>();
    expectTypeOf<Sdk.ProviderInput>().toEqualTypeOf<Server.ProviderInput>();
    expectTypeOf<Sdk.ProviderPatch>().toEqualTypeOf<Server.ProviderPatch>();
    expectTypeOf<Sdk.ProviderTestResult>().toEqualTypeOf<Server.ProviderTestResult>();
    expectTypeOf<Sdk.TokenEndpointAuthMethod>().toEqualTypeOf<Server.TokenEndpointAuthMethod>();
    expectTypeOf<Sdk.ProviderCheckName>().toEqualTypeOf<Server.ProviderCheckName>();
    expectTypeOf<Sdk.ProviderCheckResult>().toEqualTypeOf<Server.ProviderCheckResult>();
    expectTypeOf<Sdk.ProviderUris>().toEqualTypeOf<Server.ProviderUris>();
    expectTypeOf<Sdk.ProviderProfiles>().toEqualTypeOf<Server.ProviderProfiles>();
    expectTypeOf<Sdk.ProviderProfile>().toEqualTypeOf<Server.ProviderProfile>();
    expectTypeOf<Sdk.ProblemCode>().toEqualTypeOf<Server.ProblemCode>();
  });
});
