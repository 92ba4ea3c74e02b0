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

  it('remembers a verified header per list of secrets, never a forged one', () => {
    const secrets = [CURRENT];
    const header = `theme=dark; gatehouse=${signed('remembered')}`;
    // The same header, call after call (the second answer comes from memory).
    expect(sessionIdFromCookie(header, 'gatehouse', secrets)).toBe('remembered');
    expect(sessionIdFromCookie(header, 'gatehouse', secrets)).toBe('remembered');
    // Another process's (or deployment's) secrets share nothing with these.
    expect(sessionIdFromCookie(header, 'gatehouse', [PREVIOUS])).toBeUndefined();
    // A forged value is refused every time, and does not spoil the genuine one.
    const forged = `theme=dark; gatehouse=${encodeURIComponent(`s:${sign('remembered', 'forged-secret-0123456789abcdef0123')}`)}`;
    for (let i = 0; i < 3; i += 1) {
      expect(sessionIdFromCookie(forged, 'gatehouse', secrets)).toBeUndefined();
    }
    expect(sessionIdFromCookie(header, 'gatehouse', secrets)).toBe('remembered');
    // A long header is parsed each time, with the same answer.
    const long = `${'pad=x; '.repeat(800)}gatehouse=${signed('long')}`;
    expect(long.length).toBeGreaterThan(4096);
    expect(sessionIdFromCookie(long, 'gatehouse', secrets)).toBe('long');
    expect(sessionIdFromCookie(long, 'gatehouse', secrets)).toBe('long');
  });
});
