/**
 * Provider profiles: presets of the provider model for well-known identity providers, as the
 * console offers them (name, summary, issuer hint, notes). A provider (config file or admin API)
 * that names a profile gets the profile's defaults for every field it does not set itself; those
 * values are part of the model (`PROFILE_DEFAULTS` in `provider-schema.ts`, which applies them),
 * so this module depends on the model and the model on nothing here.
 */
import {
  PROFILE_DEFAULTS,
  type ProfileDefaults,
  type ProviderProfileId,
} from './provider-schema.ts';

export type { ProfileDefaults };

export interface ProviderProfile {
  id: ProviderProfileId;
  /** The product's name, as the console shows it. */
  name: string;
  summary: string;
  /** What the issuer looks like, placeholders in angle brackets. */
  issuerHint: string;
  defaults: ProfileDefaults;
  /** Short sentences the console shows next to the form. */
  notes: readonly string[];
}

/** Every profile, in the order the console offers them. */
export const PROVIDER_PROFILES: readonly ProviderProfile[] = [
  {
    id: 'generic',
    name: 'Generic OpenID Connect',
    summary: 'Any OpenID Connect provider with a discovery document.',
    issuerHint: 'https://idp.example.com',
    defaults: PROFILE_DEFAULTS.generic,
    notes: [
      'The issuer is the URL whose /.well-known/openid-configuration the provider serves; register it exactly as the document names it.',
      'The provider must support the authorization code flow with PKCE (S256).',
    ],
  },
  {
    id: 'entra',
    name: 'Microsoft Entra ID',
    summary: 'Microsoft Entra ID (Azure AD), single tenant, v2.0 endpoints.',
    issuerHint: 'https://login.microsoftonline.com/<tenant-id>/v2.0',
    // Entra enforces PKCE but leaves code_challenge_methods_supported out of its discovery.
    defaults: PROFILE_DEFAULTS.entra,
    notes: [
      'Use your directory (tenant) ID in the issuer; the /common and /organizations issuers name a placeholder, not one issuer.',
      'Register the redirect URI under the "Web" platform of the app registration.',
      'Entra ID supports PKCE but does not announce it in discovery: PKCE is sent anyway (assume-supported).',
      'Client secrets expire (24 months at most): note the date and rotate the secret here before then.',
    ],
  },
  {
    id: 'google',
    name: 'Google',
    summary: 'Google accounts and Google Workspace.',
    issuerHint: 'https://accounts.google.com',
    // Google refuses the offline_access scope; a refresh token comes with access_type=offline,
    // and again on every sign-in only with prompt=consent. It has no end_session_endpoint.
    defaults: PROFILE_DEFAULTS.google,
    notes: [
      'Google refuses the offline_access scope: refresh tokens are asked for with access_type=offline and prompt=consent instead.',
      'Google has no end-session endpoint: signing out ends the Gatehouse session, not the Google one.',
      'Create an OAuth client of type "Web application" and add the redirect URI to its authorized redirect URIs.',
    ],
  },
  {
    id: 'okta',
    name: 'Okta',
    summary: 'Okta Workforce or Customer Identity, org or custom authorization server.',
    issuerHint: 'https://<your-org>.okta.com/oauth2/default',
    defaults: PROFILE_DEFAULTS.okta,
    notes: [
      'The issuer is your org (https://<your-org>.okta.com) or a custom authorization server (…/oauth2/<id>).',
      'Okta requires id_token_hint at logout: Gatehouse sends the session’s ID token as the hint.',
      'Add the post-logout redirect URI as a "Sign-out redirect URI", and enable the Refresh Token grant for refresh tokens.',
    ],
  },
  {
    id: 'auth0',
    name: 'Auth0',
    summary: 'Auth0 (Okta Customer Identity Cloud) tenants and custom domains.',
    issuerHint: 'https://<your-tenant>.<region>.auth0.com/',
    defaults: PROFILE_DEFAULTS.auth0,
    notes: [
      'The issuer ends with a slash (https://<tenant>.auth0.com/): register it with the slash.',
      'For JWT access tokens for your API, set authorizationParams.audience to the API identifier; without it Auth0 issues an opaque token for userinfo only.',
      'Refresh tokens need offline_access and "Allow Offline Access" on the API.',
      'Turn on RP-initiated logout (end-session endpoint discovery) in the tenant settings.',
    ],
  },
  {
    id: 'keycloak',
    name: 'Keycloak',
    summary: 'Keycloak and Red Hat build of Keycloak, one realm.',
    issuerHint: 'https://keycloak.example.com/realms/<realm>',
    defaults: PROFILE_DEFAULTS.keycloak,
    notes: [
      'The issuer includes the realm path: https://<host>/realms/<realm> (older versions: /auth/realms/<realm>).',
      'Set the back-channel logout URL in the client and turn on "Backchannel logout session required", so logout tokens carry sid.',
      'Set "Client authentication" on (a confidential client) and copy the secret from the Credentials tab.',
    ],
  },
  {
    id: 'cognito',
    name: 'Amazon Cognito',
    summary: 'Amazon Cognito user pools with the managed login (hosted UI).',
    issuerHint: 'https://cognito-idp.<region>.amazonaws.com/<user-pool-id>',
    // Cognito enforces PKCE when sent but leaves it out of discovery; it has no standard
    // end-session endpoint but a /logout taking client_id + logout_uri; offline_access is not one
    // of its scopes (a refresh token comes with every code grant).
    defaults: PROFILE_DEFAULTS.cognito,
    notes: [
      'The issuer is the user pool (https://cognito-idp.<region>.amazonaws.com/<pool-id>), not the managed login domain.',
      'Give the app client a client secret and allow the "openid", "profile" and "email" scopes.',
      'Sign-out uses Cognito’s /logout with client_id and logout_uri: add the post-logout redirect URI to the allowed sign-out URLs.',
      'Cognito supports PKCE but does not announce it in discovery: PKCE is sent anyway (assume-supported).',
    ],
  },
  {
    id: 'strict-modern',
    name: 'Strict modern (FAPI 2.0 style)',
    summary: 'Pushed authorization requests, private_key_jwt and DPoP-bound tokens.',
    issuerHint: 'https://idp.example.com',
    defaults: PROFILE_DEFAULTS['strict-modern'],
    notes: [
      'No shared secret: register the JWKS URL with the provider, Gatehouse signs its client assertions with keys it keeps sealed.',
      'Authorization requests are pushed (PAR) and tokens are bound to a per-session key (DPoP).',
    ],
  },
];
