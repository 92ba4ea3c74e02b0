import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatehouseError, problem } from '../src/errors.ts';
import { errorHandler, toGatehouseError } from '../src/http/problem.ts';
import { PROBLEMS, PROBLEM_CODES, isProblemCode, type ProblemDefinition } from '../src/problems.ts';

const repo = new URL('../../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, repo), 'utf8');

/** The README's problem table, by code: status, meaning and Retry-After as written. */
function readmeTable(): Map<string, { status: number; meaning: string; retryAfter: string }> {
  const readme = read('README.md');
  const start = readme.indexOf('<!-- problem-table:start -->');
  const end = readme.indexOf('<!-- problem-table:end -->');
  expect(start, 'README.md has the problem-table markers').toBeGreaterThan(0);
  const rows = readme
    .slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('| `'));
  const table = new Map<string, { status: number; meaning: string; retryAfter: string }>();
  for (const row of rows) {
    const [code = '', status = '', meaning = '', retryAfter = ''] = row
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim());
    const bare = code.replace(/`/g, '');
    expect(table.has(bare), `${bare} is listed once`).toBe(false);
    table.set(bare, { status: Number(status), meaning, retryAfter });
  }
  return table;
}

describe('the problem catalogue', () => {
  it('is the README table: every code with its status, meaning and Retry-After, and nothing else', () => {
    const expected = new Map(
      PROBLEM_CODES.map((code) => {
        const { status, message, retryAfterSeconds }: ProblemDefinition = PROBLEMS[code];
        return [code, { status, meaning: message, retryAfter: String(retryAfterSeconds ?? '') }];
      }),
    );
    expect(readmeTable()).toEqual(expected);
  });

  it('gives each code one meaning: snake_case, a sentence, one title per status', () => {
    const titles = new Map<number, string>();
    for (const code of PROBLEM_CODES) {
      const definition: ProblemDefinition = PROBLEMS[code];
      expect(code).toMatch(/^[a-z]+(?:_[a-z]+)*$/);
      expect(definition.message, code).toMatch(/^[A-Za-z].*\.$/);
      expect(definition.status, code).toBeGreaterThanOrEqual(400);
      expect(definition.status, code).toBeLessThan(600);
      expect(titles.get(definition.status) ?? definition.title, code).toBe(definition.title);
      titles.set(definition.status, definition.title);
    }
  });

  it('hides the detail of a server fault only, and asks for a retry only when unavailable or limited', () => {
    for (const code of PROBLEM_CODES) {
      const definition: ProblemDefinition = PROBLEMS[code];
      expect(definition.expose, code).toBe(definition.status !== 500);
      if (definition.retryAfterSeconds !== undefined) {
        expect([429, 503], code).toContain(definition.status);
      }
    }
    expect(PROBLEMS.store_unavailable.retryAfterSeconds).toBe(5);
    expect(PROBLEMS.refresh_busy.retryAfterSeconds).toBe(1);
    expect(PROBLEMS.rate_limited.status).toBe(429);
  });

  it('raises problems with the catalogue’s status, title, exposure and Retry-After', () => {
    const cause = new Error('ECONNREFUSED');
    const outage = problem('store_unavailable', { cause, headers: { connection: 'close' } });
    expect(outage).toBeInstanceOf(GatehouseError);
    expect(outage).toMatchObject({
      code: 'store_unavailable',
      status: 503,
      title: 'Service Unavailable',
      expose: true,
      message: 'Session storage is unavailable; try again.',
      cause,
      headers: { 'retry-after': '5', connection: 'close' },
    });

    const precise = problem('unknown_tenant', { detail: 'No organisation "x".', extra: { a: 1 } });
    expect(precise).toMatchObject({
      status: 404,
      message: 'No organisation "x".',
      extra: { a: 1 },
    });
    expect(precise.headers).toEqual({});
    expect(problem('secret_mismatch').expose).toBe(false);
  });

  it('turns anything thrown into a catalogue code', () => {
    const seen = [
      toGatehouseError(problem('conflict')),
      toGatehouseError(Object.assign(new Error('x'), { status: 413, type: 'entity.too.large' })),
      toGatehouseError(
        Object.assign(new Error('x'), { status: 403, type: 'entity.verify.failed' }),
      ),
      toGatehouseError(Object.assign(new Error('x'), { status: 404 })),
      toGatehouseError(Object.assign(new Error('x'), { status: 500, type: 'stream.not.readable' })),
      toGatehouseError(new TypeError('bug')),
      toGatehouseError('a string'),
    ].map((error) => [error.code, error.status]);
    expect(seen).toEqual([
      ['conflict', 409],
      ['entity_too_large', 413],
      ['bad_request', 400],
      ['bad_request', 400],
      ['internal_error', 500],
      ['internal_error', 500],
      ['internal_error', 500],
    ]);
  });

  it('lists every code the client SDK, its test fakes and the web app match on', () => {
    const sources = [
      'packages/client/src/client.ts',
      'packages/client/test/fake-gatehouse.ts',
      'packages/client/test/fake-admin.ts',
      'apps/web/src/provider-form.ts',
      'apps/web/src/pages/TenantPage.tsx',
      'apps/web/src/pages/AdminPage.tsx',
    ];
    const matched: Array<[string, string, number | undefined]> = [];
    for (const path of sources) {
      const text = read(path);
      for (const [, code] of text.matchAll(/code\s*[!=]==\s*'([a-z_]+)'/g)) {
        matched.push([path, code ?? '', undefined]);
      }
      for (const [, status, code] of text.matchAll(/sendProblem\(res, (\d{3}), '([a-z_]+)'/g)) {
        matched.push([path, code ?? '', Number(status)]);
      }
      for (const [, list] of text.matchAll(/_CODES[^=]*= new Set\(\[([^\]]*)\]/g)) {
        for (const [, code] of (list ?? '').matchAll(/'([a-z_]+)'/g)) {
          matched.push([path, code ?? '', undefined]);
        }
      }
    }
    // The scan finds what it is meant to (a changed idiom must not make this test vacuous).
    expect(new Set(matched.map(([path]) => path)).size).toBe(sources.length);
    for (const [path, code, status] of matched) {
      expect(isProblemCode(code), `${path}: ${code}`).toBe(true);
      if (isProblemCode(code) && status !== undefined) {
        expect(status, `${path}: ${code}`).toBe(PROBLEMS[code].status);
      }
    }
  });
});

/** body-parser's refusals through the real error boundary: fixed catalogue codes, never a 500. */
describe('body parsing problems over HTTP', () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    const app = express();
    app.post('/json', express.json({ limit: '1kb' }), (_req, res) => void res.end('ok'));
    app.post(
      '/form',
      express.urlencoded({ extended: false, limit: '1kb', parameterLimit: 3 }),
      (_req, res) => void res.end('ok'),
    );
    app.use(errorHandler());
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  function post(
    path: string,
    headers: Record<string, string>,
    body: Buffer | string,
  ): Promise<{ status: number; header: string | undefined; body: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            header: res.headers['gatehouse-problem'] as string | undefined,
            body: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  const json = { 'content-type': 'application/json' };
  const form = { 'content-type': 'application/x-www-form-urlencoded' };

  it.each([
    ['malformed JSON', '/json', json, '{"a":', 'entity_parse_failed', 400],
    ['a body over the limit', '/json', json, `"${'x'.repeat(2048)}"`, 'entity_too_large', 413],
    [
      'an unknown encoding',
      '/json',
      { ...json, 'content-encoding': 'nope' },
      '{}',
      'encoding_unsupported',
      415,
    ],
    [
      'an unknown charset',
      '/json',
      { 'content-type': 'application/json; charset=klingon' },
      '{}',
      'charset_unsupported',
      415,
    ],
    ['too many form fields', '/form', form, 'a=1&b=2&c=3&d=4', 'parameters_too_many', 413],
    [
      'a corrupt gzip body',
      '/json',
      { ...json, 'content-encoding': 'gzip' },
      gzipSync('{}').subarray(0, 8),
      'bad_request',
      400,
    ],
  ] as const)(
    'answers %s with a catalogue code',
    async (_name, path, headers, body, code, status) => {
      const answer = await post(path, headers, body);
      expect(answer.status).toBeLessThan(500);
      expect(isProblemCode(String(answer.body.code))).toBe(true);
      expect(answer.header).toBe(answer.body.code);
      expect(answer.body.title).toBe(PROBLEMS[answer.body.code as keyof typeof PROBLEMS].title);
      expect([answer.body.code, answer.status]).toEqual([code, status]);
    },
  );
});
