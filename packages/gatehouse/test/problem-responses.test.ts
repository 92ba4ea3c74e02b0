import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import * as client from 'openid-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { problem } from '../src/errors.ts';
import { errorHandler, toGatehouseError } from '../src/http/problem.ts';
import { requestLog } from '../src/http/request-log.ts';
import { IdpErrorResponse } from '../src/oidc/login.ts';
import { createLogger } from '../src/index.ts';
import { jsonLines } from './support/json-lines.ts';

/**
 * The error boundary (`http/problem.ts`): what a client sees for each kind of failure
 * (problem+json for API callers, an escaped page for sign-in navigations) and what the log
 * keeps: one access line per request, to which the error handler adds its fields and writes no
 * line of its own. A real Express app on loopback (with the real request log); the headers-sent
 * branch is in error-boundary.test.ts.
 */
describe('toGatehouseError', () => {
  it('passes a GatehouseError through as it is', () => {
    const error = problem('conflict');
    expect(toGatehouseError(error)).toBe(error);
  });

  it('keeps a parser’s 4xx status and maps its type to a catalogue code', () => {
    const parserError = Object.assign(new Error('request entity too large'), {
      status: 413,
      type: 'entity.too.large',
    });
    expect(toGatehouseError(parserError)).toMatchObject({
      status: 413,
      code: 'entity_too_large',
      message: 'The request body is too large.',
      expose: true,
      cause: parserError,
    });
  });

  it('calls a 4xx without a known type bad_request', () => {
    expect(toGatehouseError({ status: 400 })).toMatchObject({ status: 400, code: 'bad_request' });
    expect(toGatehouseError({ status: 400, type: 'made.up' })).toMatchObject({
      code: 'bad_request',
    });
  });

  it.each([
    ['an Error', new Error('secret internals')],
    ['a 5xx status', Object.assign(new Error('upstream said'), { status: 502 })],
    ['a thrown string', 'oops'],
    ['undefined', undefined],
  ])('makes %s a bare 500 internal_error that shows nothing', (_name, thrown) => {
    const error = toGatehouseError(thrown);
    expect(error).toMatchObject({ status: 500, code: 'internal_error', expose: false });
    expect(error.message).not.toContain('secret');
  });
});

interface LogLine {
  level: number;
  msg: string;
  req?: { id?: string; url?: string };
  res?: { statusCode?: number };
  reqId?: string;
  errorCode?: string;
  cause?: Record<string, string>;
  reason?: unknown;
  err?: unknown;
}

describe('errorHandler answers', () => {
  let server: Server;
  let origin: string;
  const lines: LogLine[] = [];
  /** What the next request's handler throws. */
  let failure: unknown;

  beforeAll(async () => {
    const sink = jsonLines(lines);
    const app = express();
    app.use(requestLog(app, createLogger('info', sink), { proxiedSuccessSampleRate: 1 }));
    app.use(express.json({ limit: '1kb' }));
    app.all('/{*path}', () => {
      throw failure;
    });
    app.use(errorHandler());
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });
  beforeEach(() => {
    lines.length = 0;
  });

  async function fetchProblem(path: string, init: RequestInit = {}) {
    const response = await fetch(`${origin}${path}`, init);
    return { response, body: (await response.json()) as Record<string, unknown> };
  }

  /**
   * Every line of one request (the access line is written when the answer closes, which may be
   * just after the client has read it): waits for its access line, then gives them all.
   */
  async function linesOf(id: string): Promise<LogLine[]> {
    const of = () => lines.filter((line) => line.req?.id === id || line.reqId === id);
    await expect.poll(() => of().some((line) => line.res?.statusCode)).toBe(true);
    return of();
  }

  /** Fetches a problem with a request id of its own, and gives the request's log lines. */
  async function problemLines(path: string, id: string, init: RequestInit = {}) {
    const answer = await fetchProblem(path, { ...init, headers: { 'x-request-id': id } });
    return { ...answer, logged: await linesOf(id) };
  }

  it('sends an exposed error as problem+json with its code, detail and headers', async () => {
    failure = problem('store_unavailable', { cause: new Error('ECONNREFUSED') });
    const { response, body } = await fetchProblem('/api/x');
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('gatehouse-problem')).toBe('store_unavailable');
    expect(body).toEqual({
      type: 'https://gatehouse.dev/problems/store_unavailable',
      title: 'Service Unavailable',
      status: 503,
      code: 'store_unavailable',
      detail: 'Session storage is unavailable; try again.',
    });
  });

  it('hides the message and extra members of an error that is not exposed', async () => {
    failure = problem('internal_error', { detail: 'token abc123 leaked', extra: { secret: 'x' } });
    const { response, body } = await fetchProblem('/api/x');
    expect(response.status).toBe(500);
    expect(body).toEqual({
      type: 'https://gatehouse.dev/problems/internal_error',
      title: 'Internal Server Error',
      status: 500,
      code: 'internal_error',
    });
  });

  it('sends extra members of an exposed error, which never replace the standard ones', async () => {
    failure = problem('validation_failed', {
      detail: 'The body is invalid.',
      extra: { errors: [{ path: 'a' }], status: 200, code: 'forged', type: 'x', detail: 'y' },
    });
    const { response, body } = await fetchProblem('/api/x');
    expect(response.status).toBe(422);
    expect(body).toMatchObject({
      errors: [{ path: 'a' }],
      status: 422,
      code: 'validation_failed',
      title: 'Unprocessable Content',
      type: 'https://gatehouse.dev/problems/validation_failed',
      detail: 'The body is invalid.',
    });
  });

  it('answers a body parser’s refusal with its 4xx, not a 500', async () => {
    const { response, body } = await fetchProblem('/api/x', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"broken":',
    });
    expect(response.status).toBe(400);
    expect(body.code).toBe('entity_parse_failed');
  });

  it('shows a sign-in navigation an escaped HTML page instead of JSON', async () => {
    failure = problem('login_failed', { detail: 'Bad <script>alert("x")</script> & more' });
    const response = await fetch(`${origin}/bff/callback/acme/dev?code=1`, {
      headers: { accept: 'text/html,application/xhtml+xml' },
    });
    const html = await response.text();
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(html).not.toContain('<script>');
    expect(html).toContain('Bad &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; more');
    expect(html).toContain('<code>login_failed</code>');
  });

  it('shows a generic sentence on the page for an error that is not exposed', async () => {
    failure = new Error('redis password is hunter2');
    const response = await fetch(`${origin}/bff/login/acme/dev`, {
      headers: { accept: 'text/html' },
    });
    const html = await response.text();
    expect(response.status).toBe(500);
    expect(html).toContain('Something went wrong.');
    expect(html).not.toContain('hunter2');
  });

  it('answers a navigation elsewhere, and an API call to a sign-in path, with problem+json', async () => {
    failure = problem('not_found');
    const elsewhere = await fetch(`${origin}/bff/user`, { headers: { accept: 'text/html' } });
    expect(elsewhere.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const api = await fetch(`${origin}/bff/login/acme/dev`, {
      headers: { accept: 'application/json' },
    });
    expect(api.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('logs a client error at info with the IdP’s own words, never sent to the client', async () => {
    failure = problem('login_failed', {
      detail: 'The identity provider did not sign you in.',
      cause: new IdpErrorResponse('access_denied', 'user pressed <cancel>'),
    });
    const { body, logged } = await problemLines('/api/x', 'idp-words');
    expect(JSON.stringify(body)).not.toContain('cancel');
    expect(logged).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'request completed',
        res: { statusCode: 400 },
        errorCode: 'login_failed',
        reason: 'access_denied',
        cause: {
          name: 'IdpErrorResponse',
          idpError: 'access_denied',
          idpErrorDescription: 'user pressed <cancel>',
          message: expect.any(String) as unknown,
        },
      }),
    ]);
    expect(logged[0]?.err).toBeUndefined();
  });

  it('logs an openid-client rejection’s error and a clipped description', async () => {
    failure = problem('login_failed', {
      cause: new client.ResponseBodyError('server responded with an error in the response body', {
        cause: { error: 'invalid_grant', error_description: 'x'.repeat(500) },
        response: new Response(null, { status: 400 }),
      }),
    });
    const { logged } = await problemLines('/api/x', 'clipped');
    expect(logged).toHaveLength(1);
    const cause = logged[0]?.cause;
    expect(cause?.idpError).toBe('invalid_grant');
    expect(cause?.idpErrorDescription?.length).toBe(201);
  });

  it('logs only the name and code of other causes (a parser’s message may quote the body)', async () => {
    failure = problem('bad_request', {
      cause: Object.assign(new SyntaxError('Unexpected token in {"password":"hunter2"'), {
        code: 'E_PARSE',
      }),
    });
    const { logged } = await problemLines('/api/x?password=hunter2', 'parser');
    expect(logged).toHaveLength(1);
    expect(logged[0]?.cause).toEqual({ name: 'SyntaxError', code: 'E_PARSE' });
    expect(logged[0]?.req?.url).toBe('/api/x?password=…');
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  it('logs a dependency outage as one warning without a stack, and a bug as an error with its cause', async () => {
    failure = problem('store_unavailable', { cause: new Error('ECONNREFUSED') });
    const outage = await problemLines('/api/x', 'outage');
    expect(outage.logged).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'request errored',
        res: { statusCode: 503 },
        errorCode: 'store_unavailable',
        reason: 'ECONNREFUSED',
      }),
    ]);
    expect(outage.logged[0]?.err).toBeUndefined();
    expect(JSON.stringify(outage.logged)).not.toContain('"stack"');

    failure = new Error('a bug');
    const bug = await problemLines('/api/x', 'bug');
    expect(bug.logged).toEqual([
      expect.objectContaining({
        level: 50,
        msg: 'request errored',
        res: { statusCode: 500 },
        errorCode: 'internal_error',
      }),
    ]);
    expect(bug.logged[0]?.err).toMatchObject({
      type: 'Error',
      message: 'a bug',
      stack: expect.stringContaining('a bug') as unknown,
    });
  });

  it('writes exactly one line for each failing request: an IdP refusal, a store outage, a bug', async () => {
    const failures: Array<[string, unknown]> = [
      [
        'one-4xx',
        problem('login_failed', {
          cause: new IdpErrorResponse('invalid_request', 'the IdP says: bad scope'),
        }),
      ],
      ['one-503', problem('store_unavailable', { cause: new Error('connect ECONNREFUSED') })],
      ['one-500', new TypeError('undefined is not a function')],
    ];
    for (const [id, thrown] of failures) {
      failure = thrown;
      await fetchProblem('/api/x', { headers: { 'x-request-id': id } });
    }
    const [refused, outage, bug] = await Promise.all(failures.map(([id]) => linesOf(id)));
    expect(refused).toHaveLength(1);
    expect(refused?.[0]).toMatchObject({
      level: 30,
      errorCode: 'login_failed',
      cause: { idpError: 'invalid_request', idpErrorDescription: 'the IdP says: bad scope' },
    });
    expect(outage).toHaveLength(1);
    expect(outage?.[0]).toMatchObject({
      level: 40,
      errorCode: 'store_unavailable',
      reason: 'connect ECONNREFUSED',
    });
    expect(bug).toHaveLength(1);
    expect(bug?.[0]).toMatchObject({
      level: 50,
      errorCode: 'internal_error',
      err: { type: 'TypeError', message: 'undefined is not a function' },
    });
    // Nothing else was written at all: no second line without a request id.
    expect(lines).toHaveLength(3);
  });
});
