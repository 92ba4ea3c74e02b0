import { once } from 'node:events';
import { Agent, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionDrain } from '../src/http/drain.ts';
import { createLogger } from '../src/index.ts';

/**
 * `ConnectionDrain` (`http/drain.ts`) on a real `http.Server` on loopback, without the rest of
 * Gatehouse: what an answer in flight, an idle keep-alive connection, a stuck answer and an event
 * stream see when one instance drains.
 */
const silent = createLogger(
  'silent',
  new Writable({
    write: (_chunk, _encoding, done) => done(),
  }),
);

interface Harness {
  server: Server;
  drain: ConnectionDrain;
  agent: Agent;
  origin: string;
  /** Answers of `/slow` waiting for the test to finish them. */
  slow: Array<() => void>;
}

const open: Harness[] = [];
afterEach(() => {
  for (const { server, agent } of open.splice(0)) {
    agent.destroy();
    server.closeAllConnections();
    server.close();
  }
});

async function start(): Promise<Harness> {
  const drain = new ConnectionDrain();
  const slow: Array<() => void> = [];
  const app = express();
  app.use(drain.track);
  app.get('/fast', (_req, res) => {
    res.send('ok');
  });
  app.get('/slow', (_req, res) => {
    slow.push(() => res.send('late'));
  });
  const server = app.listen(0, '127.0.0.1');
  // Idle keep-alive connections would outlive every test: only the drain may close them.
  server.keepAliveTimeout = 120_000;
  await once(server, 'listening');
  const harness = {
    server,
    drain,
    agent: new Agent({ keepAlive: true, maxSockets: 4 }),
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    slow,
  };
  open.push(harness);
  return harness;
}

function get(h: Harness, path: string): Promise<{ response: IncomingMessage; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${h.origin}${path}`, { agent: h.agent }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ response, body }));
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ConnectionDrain', () => {
  it('closes an idle keep-alive connection at once and resolves as drained', async () => {
    const h = await start();
    const { response } = await get(h, '/fast');
    expect(response.headers.connection).toBe('keep-alive');
    const result = await h.drain.drain(h.server, 60_000, silent);
    expect(result).toMatchObject({ drained: true, destroyed: 0 });
    expect(h.drain.draining).toBe(true);
  });

  it('lets an answer in flight finish, with Connection: close, then resolves as drained', async () => {
    const h = await start();
    const answer = get(h, '/slow');
    await expect.poll(() => h.slow.length).toBe(1);
    const drained = h.drain.drain(h.server, 60_000, silent);
    h.slow[0]?.();
    const { response, body } = await answer;
    expect(body).toBe('late');
    expect(response.headers.connection).toBe('close');
    expect(await drained).toMatchObject({ drained: true, destroyed: 0 });
  });

  it('destroys what is still open when the grace period ends, and says how many', async () => {
    const h = await start();
    const stuck = get(h, '/slow').catch((error: unknown) => error);
    await expect.poll(() => h.slow.length).toBe(1);
    const result = await h.drain.drain(h.server, 100, silent);
    expect(result).toMatchObject({ drained: false, destroyed: 1 });
    expect(await stuck).toMatchObject({ code: 'ECONNRESET' });
  });

  it('ends open event streams when draining starts, and at once for one opened later', async () => {
    const h = await start();
    const ended: string[] = [];
    h.drain.onDrain(() => ended.push('open'));
    const unregister = h.drain.onDrain(() => ended.push('closed before'));
    unregister();
    await h.drain.drain(h.server, 60_000, silent);
    expect(ended).toEqual(['open']);
    h.drain.onDrain(() => ended.push('late'));
    expect(ended).toEqual(['open', 'late']);
  });

  it('a second drain of the same server shares the first one’s result', async () => {
    const h = await start();
    const first = h.drain.drain(h.server, 60_000, silent);
    expect(h.drain.drain(h.server, 1, silent)).toBe(first);
    await first;
  });
});
