import { GatehouseProblem } from '@gatehouse/client';
import { describe, expect, it } from 'vitest';
import { describeProblem } from '../src/format.ts';

const problem = (status: number, code: string, title: string) =>
  new GatehouseProblem({ type: `https://gatehouse.dev/problems/${code}`, title, status, code });

describe('describeProblem', () => {
  it('tells a person what to do about a rate limit, not the status line', () => {
    const message = describeProblem(problem(429, 'rate_limited', 'Too Many Requests'));
    expect(message).toBe(
      'Too many requests from your network right now. Wait a minute, then try again.',
    );
    expect(message).not.toContain('429');
    // A 429 from an API behind Gatehouse (no Gatehouse code) reads the same.
    expect(describeProblem(problem(429, 'http_429', 'Too Many Requests'))).toBe(message);
  });

  it('keeps the status, title and code of other problems', () => {
    expect(describeProblem(problem(503, 'store_unavailable', 'Service Unavailable'))).toBe(
      '503 Service Unavailable (store_unavailable)',
    );
  });
});
