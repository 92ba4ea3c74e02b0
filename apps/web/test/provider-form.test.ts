import { GatehouseProblem } from '@gatehouse/client';
import type { TenantProvider } from '@gatehouse/client';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SCOPES,
  describeSaveFailure,
  emptyProviderForm,
  firstInvalidField,
  parseExtraParams,
  providerFormFrom,
  toProviderInput,
  toProviderPatch,
  validateProviderForm,
} from '../src/provider-form.ts';

const stored: TenantProvider = {
  id: 'okta',
  tenant: 'globex',
  displayName: 'Globex Okta',
  issuer: 'https://globex.okta.example',
  clientId: 'gh',
  hasClientSecret: true,
  tokenEndpointAuthMethod: 'client_secret_post',
  pkce: 'required',
  par: 'auto',
  dpop: false,
  logout: 'end-session',
  scopes: ['openid', 'email'],
  authorizationParams: { prompt: 'consent', acr_values: 'mfa' },
  endSessionParams: {},
  profile: 'generic',
  enabled: false,
  source: 'dynamic',
  createdAt: '2026-01-02T03:04:05.000Z',
  updatedAt: '2026-01-02T03:04:05.000Z',
};

function problem(body: Partial<ConstructorParameters<typeof GatehouseProblem>[0]>) {
  return new GatehouseProblem({
    type: 'about:blank',
    title: 'Unprocessable Content',
    status: 422,
    code: 'validation_failed',
    ...body,
  });
}

describe('parseExtraParams', () => {
  it('reads one key=value per line, trimming and skipping blank lines', () => {
    expect(parseExtraParams(' prompt = consent \n\n acr_values=mfa=strong\r\n')).toEqual({
      params: { prompt: 'consent', acr_values: 'mfa=strong' },
    });
  });

  it('names the line that is not key=value', () => {
    expect(parseExtraParams('prompt=consent\nconsent')).toEqual({
      error: 'Line 2 is not key=value.',
    });
    expect(parseExtraParams('=x')).toEqual({ error: 'Line 1 is not key=value.' });
  });

  it('refuses a repeated key', () => {
    expect(parseExtraParams('prompt=login\nprompt=consent')).toEqual({
      error: 'Line 2 repeats the parameter "prompt".',
    });
  });

  it('keeps __proto__ as a plain parameter, not a prototype', () => {
    const result = parseExtraParams('__proto__=x');
    expect('params' in result && Object.getPrototypeOf(result.params)).toBe(Object.prototype);
    expect('params' in result && Object.keys(result.params)).toEqual(['__proto__']);
  });
});

describe('the form values', () => {
  it('start with the default scopes, enabled, client_secret_basic', () => {
    expect(emptyProviderForm()).toMatchObject({
      scopes: DEFAULT_SCOPES,
      enabled: true,
      tokenEndpointAuthMethod: 'client_secret_basic',
      clientSecret: '',
    });
  });

  it('for editing never carry a secret and show the parameters one per line', () => {
    expect(providerFormFrom(stored)).toEqual({
      id: 'okta',
      displayName: 'Globex Okta',
      issuer: 'https://globex.okta.example',
      clientId: 'gh',
      clientSecret: '',
      tokenEndpointAuthMethod: 'client_secret_post',
      scopes: 'openid email',
      extraParams: 'prompt=consent\nacr_values=mfa',
      enabled: false,
    });
  });

  it('become a create request with the typed secret, split scopes and parameters', () => {
    const values = {
      ...emptyProviderForm(),
      id: ' okta ',
      displayName: 'Okta',
      issuer: ' https://okta.example ',
      clientId: 'gh',
      clientSecret: ' s3cret ',
      scopes: ' openid  email\tprofile ',
      extraParams: 'prompt=consent',
    };
    expect(toProviderInput(values)).toEqual({
      id: 'okta',
      displayName: 'Okta',
      issuer: 'https://okta.example',
      clientId: 'gh',
      clientSecret: ' s3cret ',
      tokenEndpointAuthMethod: 'client_secret_basic',
      scopes: ['openid', 'email', 'profile'],
      authorizationParams: { prompt: 'consent' },
      enabled: true,
    });
  });

  it('become an update without clientSecret when the secret field was left empty', () => {
    const patch = toProviderPatch(providerFormFrom(stored));
    expect(patch).not.toHaveProperty('clientSecret');
    expect(patch).not.toHaveProperty('id');
    expect(patch).toMatchObject({ enabled: false, scopes: ['openid', 'email'] });
  });

  it('remove the stored secret when the new method uses none and no secret was typed', () => {
    const values = {
      ...providerFormFrom(stored),
      tokenEndpointAuthMethod: 'private_key_jwt' as const,
    };
    expect(toProviderPatch(values)).toMatchObject({ clientSecret: null });
    expect(toProviderPatch({ ...values, clientSecret: 'typed' })).toMatchObject({
      clientSecret: 'typed',
    });
  });
});

describe('validateProviderForm', () => {
  it('requires the ID only when creating', () => {
    const blank = { ...emptyProviderForm(), displayName: ' ' };
    expect(validateProviderForm(blank, true)).toEqual({
      id: 'Required.',
      displayName: 'Required.',
      issuer: 'Required.',
      clientId: 'Required.',
    });
    expect(validateProviderForm(blank, false)).not.toHaveProperty('id');
    expect(firstInvalidField(validateProviderForm(blank, true))).toBe('id');
  });

  it('reports bad extra parameter lines on the Extra parameters field', () => {
    const values = { ...providerFormFrom(stored), extraParams: 'nonsense' };
    expect(validateProviderForm(values, false)).toEqual({
      extraParams: 'Line 1 is not key=value.',
    });
  });
});

describe('describeSaveFailure', () => {
  it('places validation errors next to their fields, the parameters on "Extra parameters"', () => {
    const failure = describeSaveFailure(
      problem({
        errors: [
          { path: 'issuer', message: 'The issuer must be an https URL.' },
          { path: 'authorizationParams.redirect_uri', message: 'Not allowed.' },
          { path: 'issuer', message: 'Second message for the same field.' },
        ],
      }),
    );
    expect(failure).toEqual({
      fields: { issuer: 'The issuer must be an https URL.', extraParams: 'Not allowed.' },
      alert: undefined,
    });
  });

  it('puts errors of unknown fields, and prototype names, in the alert', () => {
    const failure = describeSaveFailure(
      problem({
        errors: [
          { path: 'constructor', message: 'odd' },
          { path: '', message: 'Form-level message.' },
        ],
      }),
    );
    expect(failure).toEqual({ fields: {}, alert: 'constructor: odd Form-level message.' });
  });

  it('shows a failed provider check as an alert with its detail and name', () => {
    const failure = describeSaveFailure(
      problem({
        code: 'provider_check_failed',
        check: 'issuer_mismatch',
        detail: 'The discovery document names a different issuer.',
      }),
    );
    expect(failure).toEqual({
      fields: {},
      alert:
        'The provider check failed: The discovery document names a different issuer. (check: issuer_mismatch)',
    });
  });

  it('describes any other problem in the alert', () => {
    const failure = describeSaveFailure(
      problem({ status: 409, title: 'Conflict', code: 'read_only', detail: 'From config.' }),
    );
    expect(failure.alert).toBe('Saving failed: 409 Conflict: From config. (read_only)');
  });
});
