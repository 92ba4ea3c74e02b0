import { describe, expect, it } from 'vitest';
import { cookieNames, setsGatehouseCookie } from '../src/session/cookie-names.ts';

describe('cookie names', () => {
  it('are __Host- prefixed over https and bare over http', () => {
    expect(cookieNames(true)).toEqual({
      session: '__Host-gatehouse',
      loginBinding: '__Host-gatehouse-login',
    });
    expect(cookieNames(false)).toEqual({ session: 'gatehouse', loginBinding: 'gatehouse-login' });
  });

  it.each([
    '__Host-gatehouse=x; Path=/',
    '__Secure-gatehouse=x; Path=/; Secure',
    '__HOST-GATEHOUSE=x',
    'gatehouse=x',
    '  gatehouse-login =x',
    '__secure-Gatehouse-Login=x',
  ])('an upstream Set-Cookie naming one of them is recognised: %s', (line) => {
    expect(setsGatehouseCookie(line)).toBe(true);
  });

  it.each([
    'session=x',
    'gatehouse2=x',
    'my-gatehouse=x',
    'gatehouse-login-extra=x',
    '__Host-__Secure-gatehouse=x',
    '__Other-gatehouse=x',
  ])('any other cookie name is not: %s', (line) => {
    expect(setsGatehouseCookie(line)).toBe(false);
  });

  it('recognises every name cookieNames gives out', () => {
    for (const secure of [true, false]) {
      for (const name of Object.values(cookieNames(secure))) {
        expect(setsGatehouseCookie(`${name}=value; Path=/`)).toBe(true);
      }
    }
  });
});
