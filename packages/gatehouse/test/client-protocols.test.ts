import { describe, expect, it } from 'vitest';
import { usesPar } from '../src/oidc/login.ts';
import { chooseClientKeyAlgorithm } from '../src/tenants/client-keys.ts';
import { checkPar, ProviderCheckFailed } from '../src/tenants/provider-checks.ts';

const withPar = { pushed_authorization_request_endpoint: 'https://op.example/par' };

describe('PAR decision (RFC 9126)', () => {
  it('auto pushes when advertised, required always, off never', () => {
    expect(usesPar('auto', withPar)).toBe(true);
    expect(usesPar('auto', {})).toBe(false);
    expect(usesPar('required', withPar)).toBe(true);
    expect(usesPar('off', withPar)).toBe(false);
    expect(usesPar('off', {})).toBe(false);
  });

  it('required without a PAR endpoint fails clearly (par_unavailable)', () => {
    expect(() => usesPar('required', {})).toThrow(
      expect.objectContaining({ code: 'par_unavailable', status: 502 }),
    );
  });

  it('registration refuses off against an OP that requires PAR, and required without PAR', () => {
    const refused = (par: 'auto' | 'required' | 'off', metadata: Record<string, unknown>) => {
      try {
        checkPar(par, metadata);
        return undefined;
      } catch (error) {
        return error instanceof ProviderCheckFailed ? error.check : 'other';
      }
    };
    const requiring = { ...withPar, require_pushed_authorization_requests: true };
    expect(refused('off', requiring)).toBe('par_mismatch');
    expect(refused('auto', requiring)).toBeUndefined();
    expect(refused('required', requiring)).toBeUndefined();
    expect(refused('required', {})).toBe('par_mismatch');
    expect(refused('off', {})).toBeUndefined();
    // Only a real `true` requires it.
    expect(refused('off', { ...withPar, require_pushed_authorization_requests: 'true' })).toBe(
      undefined,
    );
  });
});

describe('client assertion algorithm', () => {
  it('is ES256 unless the OP lists RSA algorithms only', () => {
    expect(chooseClientKeyAlgorithm(undefined)).toBe('ES256');
    expect(chooseClientKeyAlgorithm([])).toBe('ES256');
    expect(chooseClientKeyAlgorithm(['RS256', 'ES256'])).toBe('ES256');
    expect(chooseClientKeyAlgorithm(['RS256'])).toBe('RS256');
    expect(chooseClientKeyAlgorithm(['RS256', 'PS256', 'RS512'])).toBe('RS256');
    expect(chooseClientKeyAlgorithm(['EdDSA'])).toBe('ES256');
  });
});
