import { once } from 'node:events';
import { Agent, createServer, request, type IncomingMessage, type RequestOptions } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieFetch, signIn, startStack, type Stack } from '@gatehouse/testkit';
import type { ConfigInput } from '../src/index.ts';

/** Graceful shutdown of one instance (`Gatehouse.drain`) with real clients on every kind of connection. */
describe('drain', () => {
  let stack: Stack;
  let cookie: string;
  const csrf = { 'x-csrf': '1' };

  beforeAll(async () => {
    // Two instances: each test drains one.
    stack = await startStack({
      instances: 2,
      configure: (input: ConfigInput) => ({
        ...input,
        routes: [
          ...(input.routes ?? []),
          {
            prefix: '/api/public',
            upstream: `${input.routes?.[0]?.upstream}/public`,
            tokenMode: 'none',
          },
        ],
      }),
    });
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    cookie = (await http.jar.getCookieString(stack.origin)) ?? '';
  });
  afterAll(async () => {
    await stack?.close();
  });

  interface Sent {
    socket: Promise<Socket>;
    response: Promise<IncomingMessage>;
  }

  function send(origin: string, path: string, options: RequestOptions = {}): Sent {
    const url = new URL(origin);
    const req = request({
      host: url.hostname,
      port: url.port,
      path,
      ...options,
      headers: { ...csrf, cookie, ...options.headers },
    });
    const socket = new Promise<Socket>((resolve) => req.once('socket', resolve));
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
    });
    req.end();
    return { socket, response };
  }

  async function readAll(res: IncomingMessage): Promise<string> {
    let text = '';
    for await (const chunk of res) text += (chunk as Buffer).toString();
    return text;
  }

  async function pendingSlowRequests(): Promise<number> {
    const res = await fetch(`${stack.api.origin}/public/stats`);
    return ((await res.json()) as { pendingSlowRequests: number }).pendingSlowRequests;
  }

  it('finishes in-flight work with Connection: close, closes idle connections and ends event streams', async () => {
    const { origin, server, gatehouse } = stack.gatehouses[0]!;
    // Separate pools: the idle connections must not be reused for the calls below.
    const idleAgent = new Agent({ keepAlive: true });
    const keepAlive = new Agent({ keepAlive: true });

    // Three keep-alive connections, idle after one answer each.
    const idle = [1, 2, 3].map(() => send(origin, '/healthz', { agent: idleAgent }));
    const idleSockets = await Promise.all(idle.map((sent) => sent.socket));
    for (const sent of idle) {
      const res = await sent.response;
      expect(res.headers.connection).toBe('keep-alive');
      await readAll(res);
    }
    const idleClosed = Promise.all(idleSockets.map((socket) => once(socket, 'close')));

    // An API call still waiting for its upstream, and an event stream already flowing.
    const slow = send(origin, '/api/public/slow?ms=3000', { agent: keepAlive });
    await expect.poll(pendingSlowRequests).toBe(1);
    const events = send(origin, '/api/demo/events?count=100&intervalMs=100', {
      agent: keepAlive,
      headers: { accept: 'text/event-stream' },
    });
    const stream = await events.response;
    expect(stream.statusCode).toBe(200);
    const [first] = (await once(stream, 'data')) as [Buffer];
    expect(first.toString()).toContain('event: tick');

    const draining = gatehouse.drain(server, 10_000);

    // The instance reports itself unready (asked here through a second, undrained listener).
    const probe = createServer(gatehouse.app);
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const ready = await fetch(`http://127.0.0.1:${(probe.address() as AddressInfo).port}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'draining' });
    probe.close();

    // The event stream ends cleanly (EventSource reconnects), well before the slow answer.
    await readAll(stream);
    expect(stream.complete).toBe(true);
    expect(await pendingSlowRequests()).toBe(1);
    await idleClosed;

    // No new connection is accepted.
    await expect(fetch(`${origin}/healthz`)).rejects.toThrow();

    const answer = await slow.response;
    expect(answer.statusCode).toBe(200);
    expect(answer.headers.connection).toBe('close');
    expect(JSON.parse(await readAll(answer))).toEqual({ waitedMs: 3000 });

    const result = await draining;
    expect(result).toMatchObject({ drained: true, destroyed: 0 });
    expect(result.elapsedMs).toBeLessThan(10_000);
    keepAlive.destroy();
    idleAgent.destroy();
  });

  it('destroys what is still open when the grace period ends', async () => {
    const { origin, server, gatehouse } = stack.gatehouses[1]!;
    const slow = send(origin, '/api/public/slow?ms=20000', { agent: false });
    const outcome = slow.response.then(
      () => 'answered',
      (error: NodeJS.ErrnoException) => error.code,
    );
    await expect.poll(pendingSlowRequests).toBe(1);

    const result = await gatehouse.drain(server, 500);
    expect(result).toMatchObject({ drained: false, destroyed: 1 });
    expect(await outcome).toBe('ECONNRESET');
    // Cutting the browser's connection cancels the upstream call too.
    await expect.poll(pendingSlowRequests).toBe(0);
  });
});
