import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../src/errors.ts';
import { validateReturnTo } from '../src/http/return-to.ts';

const ORIGIN = 'https://app.example.com';

/** Everything here is an open-redirect attempt (or garbage) and must be refused. */
const HOSTILE: readonly unknown[] = [
  // Scheme-relative and authority tricks
  '//evil.example',
  '//evil.example/',
  '//evil.example@good',
  '///evil.example',
  '////evil',
  '/\\evil.example',
  '\\/evil.example',
  '\\\\evil.example',
  '/\\\\evil',
  '/\\/evil.example',
  // Absolute URLs and schemes
  'https://evil.example',
  'http://evil.example/path',
  'https:evil.example',
  'https:/evil.example',
  'http:/evil.example',
  'HTTPS://evil.example',
  'ftp://evil.example',
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  ' javascript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'vbscript:msgbox(1)',
  'blob:https://evil.example/x',
  // No leading slash
  ' /path',
  '\t/path',
  'evil.example',
  '.evil.example',
  '@evil.example',
  '?x',
  '#x',
  'dashboard',
  './dashboard',
  '../dashboard',
  // Raw control characters browsers strip or that split headers
  '/\t/evil.example',
  '/\n/evil.example',
  '/\r/evil.example',
  '/\r\nSet-Cookie:x=1',
  '/\u0000',
  '/\u001f',
  '/\u007f',
  '/ok\u0000',
  '/ok?q=\n',
  '/ok#\t',
  // Encoded slashes, backslashes and controls in the path
  '/%09/evil.example',
  '/%0a/evil.example',
  '/%0d/evil.example',
  '/%2f%2fevil.example',
  '/%2F%2Fevil.example',
  '/%2fevil.example',
  '/%5cevil.example',
  '/%5Cevil.example',
  '/%5c%5cevil.example',
  '%2f%2fevil.example',
  '%2F/evil.example',
  '/%00',
  '/%0d%0aSet-Cookie:x',
  '/%7f',
  '/%c2%85',
  '/%E2%80%A8',
  '/%E2%80%A9',
  '/%E2%80%AE',
  '/%EF%BB%BF',
  // Double and triple encoding
  '/%252f%252fevil.example',
  '/%255cevil.example',
  '/%25252f%25252fevil.example',
  '/%2525252f',
  // Dot segments that normalise into a scheme-relative path (regression: these once returned
  // `//evil.example`, a working open redirect)
  '/.//evil.example',
  '/..//evil.example',
  '/a/..//evil.example',
  '/a/b/../..//evil.example',
  '/%2e//evil.example',
  '/%2E%2E//evil.example',
  '/.%2e//evil.example',
  '/%2e%2e%2f%2fevil.example',
  '/x/%2e%2e%2f%2fevil.example',
  // Unicode slash look-alikes and invisible characters
  '/\u2215evil.example',
  '/\u2215\u2215evil.example',
  '\uff0f\uff0fevil.example',
  '/\uff0fevil.example',
  '/\uff3cevil.example',
  '/\ufe68evil.example',
  '/\u2044evil.example',
  '/\u29f8evil.example',
  '/\u2028',
  '/\u202eevil',
  '/\u200bevil',
  '/%E2%88%95evil.example',
  '/%EF%BC%8F%EF%BC%8Fevil.example',
  // Malformed escapes in the path
  '/%',
  '/%zz',
  '/%c0%af',
  '/%c0%ae%c0%ae/',
  // Non-strings and over-long values
  null,
  0,
  1,
  true,
  false,
  ['/'],
  ['/a', '/b'],
  { path: '/' },
  {},
  () => '/',
  Symbol('x'),
  new URL('https://app.example.com/'),
  `/${'a'.repeat(2048)}`,
  `/?q=${'a'.repeat(3000)}`,
];

/** Legitimate targets and what the validator must return for them. */
const ACCEPTED: readonly (readonly [string, string])[] = [
  ['/', '/'],
  ['/dashboard', '/dashboard'],
  ['/dashboard/', '/dashboard/'],
  ['/a/b?c=d&e=f#g', '/a/b?c=d&e=f#g'],
  ['/search?q=%2F%2Fnot-a-redirect', '/search?q=%2F%2Fnot-a-redirect'],
  ['/search?q=//not-a-redirect', '/search?q=//not-a-redirect'],
  ['/search?q=https://evil.example', '/search?q=https://evil.example'],
  ['/search?q=%5C%0A%00', '/search?q=%5C%0A%00'],
  ['/search?q=100%', '/search?q=100%'],
  ['/page#%2F%2Fsection', '/page#%2F%2Fsection'],
  ['/?//evil.example', '/?//evil.example'],
  ['/#//evil.example', '/#//evil.example'],
  ['/a/./b', '/a/b'],
  ['/a/../b', '/b'],
  ['/./dashboard', '/dashboard'],
  ['/../dashboard', '/dashboard'],
  ['/a%2Fb', '/a%2Fb'],
  ['/files/report%20final.pdf', '/files/report%20final.pdf'],
  ['/files/report final.pdf', '/files/report%20final.pdf'],
  ['/caf\u00e9', '/caf%C3%A9'],
  ['/caf%C3%A9', '/caf%C3%A9'],
  ['/discount-100%25', '/discount-100%25'],
  ['/user@host', '/user@host'],
  ['/t/acme?tab=members', '/t/acme?tab=members'],
  [`/${'a'.repeat(2047)}`, `/${'a'.repeat(2047)}`],
];

function refusal(value: unknown): GatehouseError {
  try {
    validateReturnTo(value, ORIGIN);
  } catch (error) {
    if (error instanceof GatehouseError) return error;
    throw new Error(`threw a non-GatehouseError for ${String(value)}`, { cause: error });
  }
  throw new Error(`accepted ${JSON.stringify(String(value))}`);
}

const label = (value: unknown) =>
  typeof value === 'string' ? JSON.stringify(value).slice(0, 80) : String(typeof value);

describe('validateReturnTo', () => {
  it('has a long hostile list', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(60);
  });

  it.each(HOSTILE.map((value) => [label(value), value] as const))(
    'refuses %s with 400 invalid_return_to',
    (_label, value) => {
      const error = refusal(value);
      expect(error.status).toBe(400);
      expect(error.code).toBe('invalid_return_to');
      expect(error.expose).toBe(true);
    },
  );

  it.each(ACCEPTED)('accepts %j as %j', (value, expected) => {
    expect(validateReturnTo(value, ORIGIN)).toBe(expected);
  });

  it('defaults an absent or empty value to /', () => {
    expect(validateReturnTo(undefined, ORIGIN)).toBe('/');
    expect(validateReturnTo('', ORIGIN)).toBe('/');
  });

  it('never echoes the attacker-controlled value in the error message', () => {
    const error = refusal('//evil.example');
    expect(error.message).not.toContain('evil');
  });

  it('works against an http origin with a port and one given with a trailing slash', () => {
    expect(validateReturnTo('/x?y=1', 'http://localhost:3000')).toBe('/x?y=1');
    expect(validateReturnTo('/x', 'http://localhost:3000/')).toBe('/x');
    expect(() => validateReturnTo('//localhost:3001/', 'http://localhost:3000')).toThrow(
      GatehouseError,
    );
  });

  // Every result, whatever the input, must be a same-origin path a browser cannot re-aim.
  it('only ever returns single-slash same-origin paths', () => {
    const candidates = [
      ...ACCEPTED.map(([value]) => value),
      ...HOSTILE.filter((value): value is string => typeof value === 'string'),
      ...generatedVariants(),
    ];
    let accepted = 0;
    for (const candidate of candidates) {
      let result: string;
      try {
        result = validateReturnTo(candidate, ORIGIN);
      } catch (error) {
        expect(error).toBeInstanceOf(GatehouseError);
        continue;
      }
      accepted += 1;
      expect(result.startsWith('/')).toBe(true);
      expect(result.startsWith('//')).toBe(false);
      expect(hasControlSpaceOrBackslash(result)).toBe(false);
      expect(new URL(result, ORIGIN).origin).toBe(ORIGIN);
      // A second decode of the path must not turn it into a redirect either.
      const path = new URL(result, ORIGIN).pathname;
      expect(decodeURIComponent(path).startsWith('//')).toBe(false);
      // Validating the output again is stable.
      expect(validateReturnTo(result, ORIGIN)).toBe(result);
    }
    expect(accepted).toBeGreaterThan(ACCEPTED.length);
  });
});

function hasControlSpaceOrBackslash(value: string): boolean {
  return [...value].some((char) => char <= ' ' || char === '\u007f' || char === '\\');
}

/** Combinations of prefixes, separators and hosts, to catch variants no list names. */
function generatedVariants(): string[] {
  const prefixes = ['', '/', '/.', '/..', '/a/..', '/%2e', '/%2e%2e', '/x/.'];
  const separators = ['/', '//', '\\', '%2f', '%5c', '%252f', '\t/', '%09/', '/%2f', '%2f/'];
  const hosts = ['evil.example', 'evil.example/path?x=1', '@evil.example', ':evil.example'];
  const out: string[] = [];
  for (const prefix of prefixes) {
    for (const separator of separators) {
      for (const host of hosts) out.push(`${prefix}${separator}${host}`);
    }
  }
  return out;
}
