import * as client from 'openid-client';

/** A token endpoint answer with openid-client's helpers (`claims()` of the ID token). */
export type GrantResponse = client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;

/**
 * The token endpoint calls Gatehouse makes to an IdP: the one seam between the use cases
 * (login completion, refresh) and the network, so that they can be exercised with a fake IdP.
 * Failures are openid-client's errors (`ResponseBodyError`, `ClientError`, a fetch's
 * `TypeError`); the callers map them.
 *
 * @example
 * const refresher = new TokenRefresher({ sessions, providers, vault, skewSeconds: 30, grants: openidClientGrants });
 */
export interface IdpGrants {
  /** The refresh token grant (RFC 6749 §6), optionally narrowed to one resource (RFC 8707). */
  refresh(
    configuration: client.Configuration,
    refreshToken: string,
    parameters: Record<string, string>,
    options?: client.DPoPOptions,
  ): Promise<GrantResponse>;
  /** The authorization code grant with PKCE, state and nonce checks, at the callback. */
  authorizationCode(
    configuration: client.Configuration,
    callbackUrl: URL,
    checks: client.AuthorizationCodeGrantChecks,
    options?: client.DPoPOptions,
  ): Promise<GrantResponse>;
}

/**
 * The real grants: openid-client against the provider's token endpoint. With a DPoP handle
 * (`options.DPoP`), each request carries a proof and a `use_dpop_nonce` answer is retried once
 * with the IdP's nonce, by openid-client.
 */
export const openidClientGrants: IdpGrants = {
  refresh: (configuration, refreshToken, parameters, options) =>
    client.refreshTokenGrant(configuration, refreshToken, parameters, options),
  authorizationCode: (configuration, callbackUrl, checks, options) =>
    client.authorizationCodeGrant(configuration, callbackUrl, checks, undefined, options),
};

/**
 * The token endpoint refused the client itself: RFC 6749 §5.2 `invalid_client` in the body, or
 * a 401 whose `WWW-Authenticate` challenge says so (or says nothing more).
 */
export function isClientRejected(error: unknown): boolean {
  if (error instanceof client.ResponseBodyError) return error.error === 'invalid_client';
  if (error instanceof client.WWWAuthenticateChallengeError) {
    if (error.status !== 401) return false;
    const said = error.cause.map((challenge) => challenge.parameters.error).filter(Boolean);
    return said.length === 0 || said.includes('invalid_client');
  }
  return false;
}
