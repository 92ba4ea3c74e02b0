// The access log on a loopback Express app: one line per request from an allow-list of fields,
// proxied successes sampled, errors and aborted requests always logged, `req.log` carrying the
// request's fields.
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/index.ts';
import { requestLog } from '../src/http/request-log.ts';

interface Line {
  level: number;
  msg: string;
  req?: { id: string; method: string; url: string };
  res?: { statusCode: number };
  responseTime?: number;
  note?: string;
}

describe('request log', () => {
  const lines: Line[] = [];
  let server: Server;
  let origin: string;
  /** The next values the sampler draws. */
  const draws: number[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          lines.push(JSON.parse(line) as Line);
        }
        done();
      },
    });
    const app = express();
    app.use(
      requestLog(app, createLogger('info', sink), {
        proxiedSuccessSampleRate: 0.25,
        random: () => draws.shift() ?? 0.99,
      }),
    );
    // A matched API route marks itself as the proxy does.
    app.use('/api', (req, res) => {
      res.locals.apiRoute = {};
      res.status(req.path === '/missing' ? 404 : 200).json({ ok: true });
    });
    app.get('/bff/user', (req, res) => {
      req.log.info({ note: 'from a handler' }, 'handler line');
      res.json({ ok: true });
    });
    app.get('/healthz', (_req, res) => {
      res.json({ ok: true });
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  /** Lines about the request with this id, once its access line is there. */
  async function linesOf(id: string): Promise<Line[]> {
    await expect.poll(() => lines.some((line) => line.req?.id === id && line.res)).toBe(true);
    return lines.filter((line) => line.req?.id === id);
  }

  it('logs a BFF request with only allow-listed fields and no query value', async () => {
    const res = await fetch(`${origin}/bff/user?code=secret-code&state=s`, {
      headers: {
        'x-request-id': 'bff-1',
        cookie: 'gatehouse=s%3Asecret-session.sig',
        authorization: 'Bearer secret-bearer',
      },
    });
    expect(res.headers.get('x-request-id')).toBe('bff-1');
    const [handler, access] = await linesOf('bff-1');
    expect(handler).toMatchObject({ msg: 'handler line', note: 'from a handler' });
    expect(access).toEqual({
      level: 30,
      time: expect.any(Number) as number,
      service: 'gatehouse',
      msg: 'request completed',
      req: { id: 'bff-1', method: 'GET', url: '/bff/user?code=…&state=…' },
      res: { statusCode: 200 },
      responseTime: expect.any(Number) as number,
    });
    const text = JSON.stringify(lines);
    for (const secret of ['secret-code', 'secret-session', 'secret-bearer']) {
      expect(text).not.toContain(secret);
    }
  });

  it('samples proxied successes and always logs proxied errors', async () => {
    draws.push(0.1, 0.9);
    await fetch(`${origin}/api/demo/me`, { headers: { 'x-request-id': 'api-in' } });
    await fetch(`${origin}/api/demo/me`, { headers: { 'x-request-id': 'api-out' } });
    await fetch(`${origin}/api/missing`, { headers: { 'x-request-id': 'api-404' } });
    expect(await linesOf('api-in')).toHaveLength(1);
    expect((await linesOf('api-404'))[0]).toMatchObject({ res: { statusCode: 404 } });
    // Requests are answered in order on one connection each: the sampled-out one came before.
    expect(lines.some((line) => line.req?.id === 'api-out')).toBe(false);
  });

  it('refuses a malformed request id and logs no successful probe', async () => {
    const res = await fetch(`${origin}/healthz`, { headers: { 'x-request-id': 'bad id\u00e9' } });
    const id = res.headers.get('x-request-id') ?? '';
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await fetch(`${origin}/bff/user`, { headers: { 'x-request-id': 'after-probe' } });
    await linesOf('after-probe');
    expect(lines.some((line) => line.req?.id === id)).toBe(false);
  });
});
