import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { requireCsrfHeader } from '../src/http/csrf.ts';

/**
 * The CSRF guard of the API proxy and the state-changing BFF calls: the custom header, no
 * foreign Origin, no cross-site fetch metadata.
 */
const ORIGIN = 'https://app.example';

/** Runs the middleware on a request with these headers; what it passed to `next`. */
function check(headers: Record<string, string>): unknown {
  const lower = Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  const req = {
    headers: lower,
    get: (name: string) => lower[name.toLowerCase()],
  } as unknown as Request;
  let passed: unknown = 'next not called';
  requireCsrfHeader(ORIGIN)(req, {} as Response, (error?: unknown) => {
    passed = error;
  });
  return passed;
}

describe('requireCsrfHeader', () => {
  it('lets a same-origin call with X-CSRF: 1 through', () => {
    expect(check({ 'x-csrf': '1' })).toBeUndefined();
    expect(
      check({ 'x-csrf': '1', origin: ORIGIN, 'sec-fetch-site': 'same-origin' }),
    ).toBeUndefined();
  });

  it.each([[{}], [{ 'x-csrf': '0' }], [{ 'x-csrf': 'true' }], [{ 'x-csrf': '' }]])(
    'refuses %o with 403 csrf_header_required',
    (headers) => {
      expect(check(headers)).toMatchObject({ status: 403, code: 'csrf_header_required' });
    },
  );

  it.each([
    ['another origin', { origin: 'https://evil.example' }],
    ['a look-alike origin', { origin: 'https://app.example.evil.example' }],
    ['the same host over http', { origin: 'http://app.example' }],
    ['an opaque origin', { origin: 'null' }],
    ['cross-site fetch metadata', { 'sec-fetch-site': 'cross-site' }],
  ])('refuses %s with 403 foreign_origin even with the header', (_name, headers) => {
    expect(check({ 'x-csrf': '1', ...headers })).toMatchObject({
      status: 403,
      code: 'foreign_origin',
    });
  });

  it('accepts same-site fetch metadata (a sibling subdomain is not a cross-site request)', () => {
    expect(check({ 'x-csrf': '1', 'sec-fetch-site': 'same-site' })).toBeUndefined();
  });
});
