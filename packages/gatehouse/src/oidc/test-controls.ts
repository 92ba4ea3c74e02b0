import * as client from 'openid-client';
import { problem } from '../errors.ts';
import type { SessionRecord, TokenSet } from '../session/model.ts';
import type { Vault } from '../session/vault.ts';
import type { ProviderClients } from './provider-clients.ts';

export interface RevokeAtIdpOptions {
  providers: Pick<ProviderClients, 'client'>;
  vault: Vault;
}

/**
 * Test control (development mode with `testControls` only): revokes the session's refresh token
 * at its IdP (RFC 7009), as a user revoking the app or an administrator would, and keeps the
 * session. The next refresh gets `invalid_grant` from the IdP itself and ends the session.
 * Nothing is simulated: the IdP's own revocation endpoint is called with the client's own
 * credentials. The access token is revoked too where the IdP can (a JWT one simply expires).
 *
 * @returns the tokens the IdP accepted to revoke (`refresh_token`, `access_token`).
 */
export async function revokeAtIdp(
  options: RevokeAtIdpOptions,
  record: SessionRecord,
): Promise<string[]> {
  const tokens = await options.vault.open<TokenSet>(record.tokens);
  if (!tokens.refreshToken) {
    throw problem('test_control_not_applicable', {
      detail: 'This session has no refresh token to revoke.',
    });
  }
  let configuration: client.Configuration;
  try {
    configuration = await options.providers.client(record.tenant, record.provider);
  } catch (error) {
    throw problem('idp_unavailable', { cause: error });
  }
  if (!configuration.serverMetadata().revocation_endpoint) {
    throw problem('test_control_not_applicable', {
      detail: 'The identity provider of this session offers no token revocation.',
    });
  }
  try {
    await client.tokenRevocation(configuration, tokens.refreshToken, {
      token_type_hint: 'refresh_token',
    });
  } catch (error) {
    throw problem('idp_unavailable', { cause: error });
  }
  const revoked = ['refresh_token'];
  try {
    await client.tokenRevocation(configuration, tokens.accessToken, {
      token_type_hint: 'access_token',
    });
    revoked.push('access_token');
  } catch {
    // `unsupported_token_type` for a JWT access token, which simply expires: nothing to undo.
  }
  return revoked;
}
