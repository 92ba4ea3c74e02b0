// The session id of a proxied call is read from the cookie without express-session, so it must
// accept exactly what express-session accepts: its signed `s:<id>.<mac>` form under any of the
// rotated secrets, the first cookie of that name, URL-encoded or not; and nothing else.
import { sign } from 'cookie-signature';
import { describe, expect, it } from 'vitest';
import { sessionIdFromCookie } from '../src/http/session-access.ts';

const CURRENT = 'current-secret-0123456789abcdef0123';
const PREVIOUS = 'previous-secret-0123456789abcdef012';
const SECRETS = [CURRENT, PREVIOUS];
const signed = (sid: string, secret = CURRENT) => encodeURIComponent(`s:${sign(sid, secret)}`);

describe('sessionIdFromCookie', () => {
  it('reads the id express-session signed, with the current or a previous secret', () => {
    expect(sessionIdFromCookie(`gatehouse=${signed('abc')}`, 'gatehouse', SECRETS)).toBe('abc');
    expect(sessionIdFromCookie(`gatehouse=${signed('abc', PREVIOUS)}`, 'gatehouse', SECRETS)).toBe(
      'abc',
    );
    // Not URL-encoded, among other cookies, under the https name.
    expect(
      sessionIdFromCookie(
        `theme=dark; __Host-gatehouse=s:${sign('xyz', CURRENT)}; x=1`,
        '__Host-gatehouse',
        SECRETS,
      ),
    ).toBe('xyz');
  });

  it('takes the first cookie of the name, as express-session does', () => {
    const header = `gatehouse=${signed('first')}; gatehouse=${signed('second')}`;
    expect(sessionIdFromCookie(header, 'gatehouse', SECRETS)).toBe('first');
  });

  it('refuses forged, unsigned, foreign-secret and malformed cookies', () => {
    const good = `s:${sign('abc', CURRENT)}`;
    for (const header of [
      undefined,
      '',
      'gatehouse=abc',
      'gatehouse=s:abc',
      `gatehouse=${encodeURIComponent(`s:${sign('abc', 'another-secret-0123456789abcdef0123')}`)}`,
      `gatehouse=${encodeURIComponent(good.replace('abc', 'abd'))}`,
      `gatehouse=${encodeURIComponent(good.slice(0, -1))}`,
      `gatehouse-login=${encodeURIComponent(good)}`,
      `xgatehouse=${encodeURIComponent(good)}`,
      'gatehouse=%E0%A4%A',
      `gatehouse=${'%'.repeat(5000)}`,
      Array.from({ length: 3000 }, (_, i) => `c${i}=v`).join('; '),
    ]) {
      expect(sessionIdFromCookie(header, 'gatehouse', SECRETS)).toBeUndefined();
    }
  });
});
