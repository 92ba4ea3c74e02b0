import { describe, expect, it } from 'vitest';
import { providerUris } from '../src/tenants/provider-uris.ts';

describe('providerUris', () => {
  it('computes every URI a tenant admin registers at the IdP from the public origin', () => {
    expect(providerUris('https://app.example.com', 'acme', 'okta')).toEqual({
      redirectUri: 'https://app.example.com/bff/callback/acme/okta',
      postLogoutRedirectUri: 'https://app.example.com/bff/signed-out',
      backchannelLogoutUri: 'https://app.example.com/bff/backchannel-logout/acme/okta',
      jwksUri: 'https://app.example.com/bff/jwks/acme/okta',
    });
  });

  it('never doubles the slash of an origin given with one, and escapes odd path parts', () => {
    const uris = providerUris('https://app.example.com/', 'a/b', 'x?y');
    expect(uris.redirectUri).toBe('https://app.example.com/bff/callback/a%2Fb/x%3Fy');
    expect(uris.postLogoutRedirectUri).toBe('https://app.example.com/bff/signed-out');
  });
});
