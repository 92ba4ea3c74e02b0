import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { MemoryKeyValueStore } from '../src/session/kv.ts';
import { endSessionUrl, rememberLogout, takeLogout } from '../src/oidc/logout.ts';

const configuration = (metadata: Partial<client.ServerMetadata> = {}) =>
  new client.Configuration(
    {
      issuer: 'https://idp.example/tenant',
      authorization_endpoint: 'https://login.idp.example/oauth2/authorize',
      end_session_endpoint: 'https://idp.example/tenant/logout',
      ...metadata,
    },
    'gatehouse-client',
    'a-secret',
  );
const request = {
  idToken: 'eyJ.id.token',
  postLogoutRedirectUri: 'https://app.example/bff/signed-out',
  state: 'the-state',
};

describe('endSessionUrl', () => {
  it('end-session: id_token_hint, client_id, post_logout_redirect_uri, state and extra parameters', () => {
    const url = endSessionUrl(
      configuration(),
      { logout: 'end-session', endSessionParams: { ui_locales: 'fr', state: 'overridden?' } },
      request,
    );
    expect(`${url?.origin}${url?.pathname}`).toBe('https://idp.example/tenant/logout');
    expect(Object.fromEntries(url?.searchParams ?? [])).toEqual({
      ui_locales: 'fr',
      id_token_hint: 'eyJ.id.token',
      post_logout_redirect_uri: 'https://app.example/bff/signed-out',
      state: 'the-state',
      client_id: 'gatehouse-client',
    });
  });

  it('end-session without an ID token: client_id and logout_hint', () => {
    const url = endSessionUrl(
      configuration(),
      { logout: 'end-session', endSessionParams: {} },
      { ...request, idToken: undefined, logoutHint: 'alice@example.com' },
    );
    expect(url?.searchParams.get('id_token_hint')).toBeNull();
    expect(url?.searchParams.get('logout_hint')).toBe('alice@example.com');
    expect(url?.searchParams.get('client_id')).toBe('gatehouse-client');
  });

  it('end-session at an OP without an end-session endpoint: none', () => {
    const url = endSessionUrl(
      configuration({ end_session_endpoint: undefined }),
      { logout: 'end-session', endSessionParams: {} },
      request,
    );
    expect(url).toBeNull();
  });

  it('cognito: /logout on the hosted UI host with client_id and logout_uri, never the ID token', () => {
    const url = endSessionUrl(
      configuration({ end_session_endpoint: undefined }),
      { logout: 'cognito', endSessionParams: { logout_uri: 'https://evil.example/' } },
      request,
    );
    expect(url?.href).toBe(
      'https://login.idp.example/logout?client_id=gatehouse-client&logout_uri=https%3A%2F%2Fapp.example%2Fbff%2Fsigned-out',
    );
  });

  it('none: no IdP logout at all', () => {
    expect(
      endSessionUrl(configuration(), { logout: 'none', endSessionParams: {} }, request),
    ).toBeNull();
  });
});

describe('logout state', () => {
  it('is remembered once, and anything else is unknown', async () => {
    const store = new MemoryKeyValueStore();
    const state = await rememberLogout(store, '/bye');
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await takeLogout(store, state)).toBe('/bye');
    expect(await takeLogout(store, state)).toBeUndefined();
    expect(await takeLogout(store, undefined)).toBeUndefined();
    expect(await takeLogout(store, 'tx:../../x')).toBeUndefined();
  });
});
