import { describe, expect, it } from 'vitest';
import { safeReturnTo } from '../src/return-to.ts';

describe('safeReturnTo', () => {
  it('keeps a same-origin path with its query and fragment', () => {
    expect(safeReturnTo('/dashboard?tab=2#top')).toBe('/dashboard?tab=2#top');
  });

  it.each([
    null,
    undefined,
    '',
    'dashboard',
    'https://evil.example/',
    'https:evil.example',
    '//evil.example',
    '/\\evil.example',
    '/\tevil',
    '/ok\nSet-Cookie: x',
    'javascript:alert(1)',
    `/${'a'.repeat(2048)}`,
  ])('falls back to / for %j', (value) => {
    expect(safeReturnTo(value)).toBe('/');
  });
});
