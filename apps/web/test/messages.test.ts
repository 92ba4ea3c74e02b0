import { GatehouseProblem } from '@gatehouse/client';
import { describe, expect, it } from 'vitest';
import { explainProblem, explainResponse, PROBLEM_WORDS, relativeTime } from '../src/messages.ts';

const problem = (code: string, status: number) =>
  new GatehouseProblem({ type: 'about:blank', title: 'Title', status, code });

describe('explainProblem', () => {
  it('puts words first and keeps the code for Details', () => {
    const explained = explainProblem(problem('store_unavailable', 503));
    expect(explained).toMatchObject({ retry: true, code: 'store_unavailable', status: 503 });
    expect(`${explained.title} ${explained.message}`).not.toContain('store_unavailable');
    expect(explained.title).toBe('We cannot reach your session right now.');
  });

  it('offers a retry only where retrying can help', () => {
    for (const code of [
      'upstream_timeout',
      'upstream_unavailable',
      'rate_limited',
      'idp_unavailable',
    ]) {
      expect(PROBLEM_WORDS[code as keyof typeof PROBLEM_WORDS].retry).toBe(true);
    }
    for (const code of ['tenant_not_allowed', 'unknown_email_domain', 'current_session']) {
      expect(PROBLEM_WORDS[code as keyof typeof PROBLEM_WORDS].retry).toBe(false);
    }
  });

  it('explains an unknown code by its status, and a failed fetch as a connection problem', () => {
    expect(explainProblem(problem('teapot', 503))).toMatchObject({ retry: true, code: 'teapot' });
    expect(explainProblem(problem('http_403', 403)).title).toBe('You do not have access to this.');
    expect(explainProblem(new TypeError('Failed to fetch'))).toMatchObject({
      title: 'We could not reach the server.',
      retry: true,
    });
    expect(
      explainProblem(new GatehouseProblem({ type: 'x', title: 'x', status: 0, code: 'x' })).code,
    ).toBeUndefined();
  });

  it('explains an API answer by Gatehouse’s code, else by its status', () => {
    expect(explainResponse(504, 'upstream_timeout').title).toBe(
      'The service took too long to answer.',
    );
    expect(explainResponse(500, undefined)).toMatchObject({ retry: true, status: 500 });
    expect(explainResponse(500, undefined).code).toBeUndefined();
  });

  it('has a sentence for every code, none of them raw', () => {
    for (const [code, words] of Object.entries(PROBLEM_WORDS)) {
      expect(words.title.length).toBeGreaterThan(5);
      expect(words.title).not.toContain(code);
    }
  });
});

describe('relativeTime', () => {
  const now = Date.parse('2026-11-29T12:00:00Z');
  it.each([
    ['2026-11-29T11:59:50Z', 'just now'],
    ['2026-11-29T11:58:00Z', '2 minutes ago'],
    ['2026-11-29T09:00:00Z', '3 hours ago'],
    ['2026-11-28T12:00:00Z', 'yesterday'],
    ['2026-11-29T12:30:00Z', 'in 30 minutes'],
  ])('%s reads "%s"', (iso, text) => {
    expect(relativeTime(iso, now, 'en')).toBe(text);
  });

  it('leaves what is not a date as it is', () => {
    expect(relativeTime('not a date', now, 'en')).toBe('not a date');
  });
});
