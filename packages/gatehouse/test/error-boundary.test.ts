import { once } from 'node:events';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { problem } from '../src/errors.ts';
import { errorHandler } from '../src/http/problem.ts';
import { requestLog } from '../src/http/request-log.ts';
import { createLogger } from '../src/index.ts';
import { jsonLines } from './support/json-lines.ts';

/**
 * The error boundary once an answer has started: no problem document can follow, so the
 * connection is cut (a truncated answer never looks complete) and the request's one access line
 * says so (`request failed mid-answer`, at the level of the status the failure would have had),
 * instead of Express's final handler printing a raw stack or the error handler a second line.
 */
describe('error boundary after the headers were sent', () => {
  let server: Server;
  let origin: string;
  const lines: Array<{
    level: number;
    msg: string;
    req?: { id?: string; url?: string };
    res?: { statusCode?: number };
    errorCode?: string;
    errorStatus?: number;
    err?: { message?: string; stack?: string };
  }> = [];

  let arrived: () => void = () => {};

  beforeAll(async () => {
    const sink = jsonLines(lines);
    const app = express();
    app.use(requestLog(app, createLogger('info', sink), { proxiedSuccessSampleRate: 1 }));
    app.get('/broken', (_req, res, next) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // Once the start of the answer is on its way, the handler fails.
      res.write('{"started":', () => next(new Error('store went away')));
    });
    app.get('/refused', (_req, res, next) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial', () => next(problem('bad_request')));
    });
    app.get('/late', (_req, res, next) => {
      // Still working when the client hangs up; then the handler fails.
      res.once('close', () => next(new Error('late bug')));
      arrived();
    });
    app.get('/late-refusal', (_req, res, next) => {
      res.once('close', () => next(problem('bad_request')));
      arrived();
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

  function get(path: string): Promise<{ status: number; body: string; cut: boolean }> {
    return new Promise((resolve, reject) => {
      const req = request(`${origin}${path}`, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cut: false }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, body, cut: true }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('cuts the connection and logs a bug mid-answer on its access line, with its stack', async () => {
    const consoleError = vi.spyOn(console, 'error');
    try {
      const outcome = await get('/broken');
      expect(outcome).toEqual({ status: 200, body: '{"started":', cut: true });
      expect(consoleError).not.toHaveBeenCalled();
    } finally {
      consoleError.mockRestore();
    }
    await expect.poll(() => lines.length).toBeGreaterThan(0);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        msg: 'request failed mid-answer',
        // What was sent, and what the failure would have answered.
        res: { statusCode: 200 },
        errorStatus: 500,
        errorCode: 'internal_error',
      }),
    ]);
    expect(lines[0]?.err).toMatchObject({ message: 'store went away' });
    expect(lines[0]?.err?.stack).toContain('store went away');
  });

  it('logs a client error mid-answer at info level, on the access line only', async () => {
    lines.length = 0;
    const outcome = await get('/refused');
    expect(outcome.cut).toBe(true);
    await expect.poll(() => lines.length).toBeGreaterThan(0);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'request failed mid-answer',
        errorStatus: 400,
        errorCode: 'bad_request',
      }),
    ]);
    expect(lines[0]?.err).toBeUndefined();
  });

  it('logs a failure after the client left on a line of its own, since its access line is written', async () => {
    lines.length = 0;
    const reached = new Promise<void>((resolve) => (arrived = resolve));
    const req = request(`${origin}/late`, { headers: { 'x-request-id': 'late-1' } });
    req.on('error', () => {});
    req.end();
    await reached;
    req.destroy();
    await expect.poll(() => lines.length).toBe(2);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'request aborted',
        req: expect.objectContaining({ id: 'late-1' }) as unknown,
      }),
      expect.objectContaining({
        level: 50,
        msg: 'request failed after its connection closed',
        req: expect.objectContaining({ id: 'late-1', url: '/late' }) as unknown,
        errorCode: 'internal_error',
        errorStatus: 500,
      }),
    ]);
    expect(lines[1]?.err?.stack).toContain('late bug');
  });

  it('adds nothing to the aborted line for a client error after the client left', async () => {
    lines.length = 0;
    const reached = new Promise<void>((resolve) => (arrived = resolve));
    const req = request(`${origin}/late-refusal`, { headers: { 'x-request-id': 'late-2' } });
    req.on('error', () => {});
    req.end();
    await reached;
    req.destroy();
    await expect.poll(() => lines.length).toBe(1);
    // Give the error handler its turn, then check that it wrote nothing.
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toEqual([expect.objectContaining({ level: 30, msg: 'request aborted' })]);
  });
});
