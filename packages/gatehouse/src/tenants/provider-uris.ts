/** The URIs a tenant admin registers at the IdP for one provider. */
export interface ProviderUris {
  /** Where the IdP sends the browser back with the code. */
  redirectUri: string;
  /** Where the IdP sends the browser after RP-initiated logout (one for every provider). */
  postLogoutRedirectUri: string;
  /** Where the IdP posts back-channel logout tokens. */
  backchannelLogoutUri: string;
  /** Gatehouse's public keys for this provider (what the IdP verifies private_key_jwt with). */
  jwksUri: string;
}

/**
 * The one place these URIs are computed: the admin API shows them (before the provider even
 * exists), and the login, logout, back-channel and JWKS routes answer at them.
 *
 * @example
 * providerUris('https://app.example.com', 'acme', 'okta').redirectUri
 * // → 'https://app.example.com/bff/callback/acme/okta'
 */
export function providerUris(publicOrigin: string, tenant: string, provider: string): ProviderUris {
  const origin = publicOrigin.replace(/\/+$/, '');
  const path = `${encodeURIComponent(tenant)}/${encodeURIComponent(provider)}`;
  return {
    redirectUri: `${origin}/bff/callback/${path}`,
    postLogoutRedirectUri: `${origin}/bff/signed-out`,
    backchannelLogoutUri: `${origin}/bff/backchannel-logout/${path}`,
    jwksUri: `${origin}/bff/jwks/${path}`,
  };
}
