import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/index.ts';
import { OutageLog, reportingFetch } from '../src/observability/outages.ts';
import { jsonLines } from './support/json-lines.ts';

function capture() {
  const lines: Array<{ level: number; msg: string; dependency?: string; stack?: string }> = [];
  const sink = jsonLines(lines);
  return { lines, logger: createLogger('info', sink) };
}

/** An IdP stand-in on a real port: answers `status`, or is not listening at all. */
async function listen(status: { code: number }, port = 0): Promise<Server> {
  const server = createServer((_req, res) => res.writeHead(status.code).end('{}'));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

describe('outage log', () => {
  let server: Server | undefined;
  afterEach(async () => {
    if (server?.listening) await close(server);
  });

  it('logs one line when an IdP goes down and one when it is back, per issuer', async () => {
    const { lines, logger } = capture();
    const outages = new OutageLog(logger);
    const status = { code: 200 };
    server = await listen(status);
    const { port } = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}/token`;
    const one = reportingFetch(fetch, 'IdP https://one.example', outages);
    const two = reportingFetch(fetch, 'IdP https://two.example', outages);

    expect((await one(url)).status).toBe(200);
    // Down: connection refused, many times over, and a 503 from the other issuer.
    await close(server);
    for (let i = 0; i < 20; i += 1) await expect(one(url)).rejects.toThrow();
    server = await listen(status, port);
    status.code = 503;
    for (let i = 0; i < 20; i += 1) expect((await two(url)).status).toBe(503);
    // Back: any answer below 500 (an invalid_grant is the IdP working).
    status.code = 400;
    for (let i = 0; i < 5; i += 1) await one(url);
    for (let i = 0; i < 5; i += 1) await two(url);

    expect(lines.map((line) => `${line.level} ${line.msg}`)).toEqual([
      '50 IdP https://one.example is unavailable',
      '50 IdP https://two.example is unavailable',
      '30 IdP https://one.example is available again',
      '30 IdP https://two.example is available again',
    ]);
    expect(lines.some((line) => line.stack)).toBe(false);
  });
});
