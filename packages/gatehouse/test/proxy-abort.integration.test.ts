import { Agent, createServer, request, type ClientRequest, type Server } from 'node:http';
import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  freePort,
  signIn,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { createLogger, type ConfigInput } from '../src/index.ts';
import { jsonLines } from './support/json-lines.ts';

/** pino's numeric levels: 50 = error, 60 = fatal. */
const ERROR_LEVEL = 50;
const CONNECTIONS = 200;

/**
 * Clients that hang up and upstreams that break never end the process: 200 in-flight
 * connections on a proxied JSON route and on an SSE route are destroyed at once, an upload is
 * cut off half-way, an upstream dies mid-body; the same Gatehouse instance keeps serving and no
 * abort is logged as an error.
 */
describe('proxy under client aborts and broken upstreams', () => {
  let stack: Stack;
  let cookie: string;
  let breaking: Server;
  const lines: Array<{ level: number; msg?: string; [key: string]: unknown }> = [];
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  const csrf = { 'x-csrf': '1' };

  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
    // An upstream that sends its headers and half a body, then drops the connection.
    breaking = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"partial":');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    await new Promise<void>((resolve) => breaking.listen(0, '127.0.0.1', resolve));
    const breakingPort = (breaking.address() as AddressInfo).port;
    const deadPort = await freePort();
    const sink = jsonLines(lines);
    stack = await startStack({
      deps: { logger: createLogger('info', sink) },
      configure: (input: ConfigInput) => ({
        ...input,
        routes: [
          ...(input.routes ?? []),
          {
            prefix: '/api/public',
            upstream: `${input.routes?.[0]?.upstream}/public`,
            tokenMode: 'user',
          },
          {
            prefix: '/api/breaking',
            upstream: `http://127.0.0.1:${breakingPort}`,
            tokenMode: 'none',
          },
          // Nothing listens there: every call is refused at once (502).
          { prefix: '/api/dead', upstream: `http://127.0.0.1:${deadPort}`, tokenMode: 'none' },
        ],
      }),
    });
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    cookie = (await http.jar.getCookieString(stack.origin)) ?? '';
  });
  afterEach(() => {
    expect(uncaught).toEqual([]);
  });
  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    await stack?.close();
    breaking?.closeAllConnections();
    await new Promise((resolve) => breaking?.close(resolve));
  });

  const errorLines = () => lines.filter((line) => line.level >= ERROR_LEVEL);

  async function apiStats(): Promise<{ openEventStreams: number; pendingSlowRequests: number }> {
    const res = await fetch(`${stack.api.origin}/public/stats`);
    return (await res.json()) as { openEventStreams: number; pendingSlowRequests: number };
  }

  async function waitFor(what: string, condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** A request on its own connection (no pooling), so destroying it is one client hanging up. */
  function open(path: string, init: { method?: string; headers?: Record<string, string> } = {}) {
    const url = new URL(stack.origin);
    const req = request({
      host: url.hostname,
      port: url.port,
      path,
      method: init.method ?? 'GET',
      agent: false,
      headers: { ...csrf, cookie, ...init.headers },
    });
    // The client side of a destroyed request errors with ECONNRESET or "socket hang up".
    req.on('error', () => undefined);
    return req;
  }

  /** Half the clients close politely (FIN), half reset the connection (RST). */
  function hangUp(clients: ClientRequest[]): void {
    for (const [index, req] of clients.entries()) {
      if (index % 2 === 0) req.destroy();
      else if (req.socket) req.socket.resetAndDestroy();
      else req.destroy();
    }
  }

  async function stillServing(): Promise<void> {
    const res = await fetch(`${stack.origin}/api/public/echo`, { headers: { ...csrf, cookie } });
    expect(res.status).toBe(200);
    expect((await res.json()) as { method: string }).toMatchObject({ method: 'GET' });
    expect((await fetch(`${stack.origin}/healthz`)).status).toBe(200);
  }

  it(`survives ${CONNECTIONS} clients hanging up on a slow JSON route`, async () => {
    const before = lines.length;
    const clients: ClientRequest[] = [];
    for (let i = 0; i < CONNECTIONS; i += 1) {
      const req = open('/api/public/slow?ms=20000');
      req.end();
      clients.push(req);
    }
    // Every request reached the upstream: all are in flight through Gatehouse.
    await waitFor(`${CONNECTIONS} pending upstream requests`, async () => {
      return (await apiStats()).pendingSlowRequests === CONNECTIONS;
    });
    hangUp(clients);
    // Gatehouse passes the hang-up on: the upstream sees every request go away.
    await waitFor('the upstream requests to be cancelled', async () => {
      return (await apiStats()).pendingSlowRequests === 0;
    });
    await stillServing();
    expect(errorLines()).toEqual([]);
    const aborted = lines.slice(before).filter((line) => line.msg === 'request aborted');
    expect(aborted.length).toBeGreaterThanOrEqual(CONNECTIONS);
  });

  it(`survives ${CONNECTIONS} clients hanging up on open SSE streams`, async () => {
    const clients: ClientRequest[] = [];
    const firstEvents: Array<Promise<void>> = [];
    for (let i = 0; i < CONNECTIONS; i += 1) {
      const req = open('/api/demo/events?count=100&intervalMs=200', {
        headers: { accept: 'text/event-stream' },
      });
      firstEvents.push(
        new Promise((resolve, reject) => {
          req.on('response', (res) => {
            if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
            res.once('data', () => resolve());
          });
        }),
      );
      req.end();
      clients.push(req);
    }
    // Each stream is open end to end and has delivered at least one event.
    await Promise.all(firstEvents);
    expect((await apiStats()).openEventStreams).toBe(CONNECTIONS);
    hangUp(clients);
    await waitFor('the upstream streams to close', async () => {
      return (await apiStats()).openEventStreams === 0;
    });
    await stillServing();
    expect(errorLines()).toEqual([]);
  });

  it('survives clients hanging up half-way through an upload', async () => {
    const sockets: Array<Promise<void>> = [];
    for (let i = 0; i < 50; i += 1) {
      const req = open('/api/public/upload', {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'content-length': '1048576' },
      });
      sockets.push(
        new Promise((resolve) => {
          req.on('socket', (socket: Socket) => {
            socket.once('connect', () => {
              req.write(Buffer.alloc(64 * 1024));
              // Long enough for Gatehouse to read the session and start the upstream upload.
              setTimeout(() => {
                req.destroy();
                resolve();
              }, 300);
            });
          });
        }),
      );
    }
    await Promise.all(sockets);
    await stillServing();
    expect(errorLines()).toEqual([]);
  });

  it('survives keep-alive clients whose connections are cut at random moments under load', async () => {
    const url = new URL(stack.origin);
    const agent = new Agent({ keepAlive: true, maxSockets: 30 });
    // Event streams, short JSON answers and uploads, each on a loop until the churn stops.
    const paths = [
      '/api/demo/events?count=20&intervalMs=10',
      '/api/public/slow?ms=5',
      '/api/public/upload',
    ];
    let stopped = false;
    let completed = 0;
    const once = (path: string) =>
      new Promise<void>((resolve) => {
        const upload = path.endsWith('/upload');
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path,
            method: upload ? 'POST' : 'GET',
            agent,
            headers: { ...csrf, cookie },
          },
          (res) => {
            res.resume();
            res.on('end', () => (completed += 1));
            res.on('close', resolve);
            res.on('error', () => resolve());
          },
        );
        req.on('error', () => resolve());
        req.end(upload ? Buffer.alloc(200_000) : undefined);
      });
    const loops = Array.from({ length: 30 }, async (_, index) => {
      const path = paths[index % paths.length] ?? '/api/public/echo';
      while (!stopped) await once(path);
    });
    // Every tick, some open connections are closed (FIN) or reset (RST) in whatever state.
    let tick = 0;
    const churn = setInterval(() => {
      tick += 1;
      const sockets = Object.values(agent.sockets)
        .flatMap((list) => list ?? [])
        .filter((socket) => !socket.connecting && !socket.destroyed);
      for (const [index, socket] of sockets.entries()) {
        if ((index + tick) % 4 === 0) socket.destroy();
        else if ((index + tick) % 4 === 1) socket.resetAndDestroy();
      }
    }, 7);
    await new Promise((resolve) => setTimeout(resolve, 4000));
    clearInterval(churn);
    stopped = true;
    await Promise.all(loops);
    agent.destroy();
    expect(completed).toBeGreaterThan(0);
    await stillServing();
    expect(errorLines()).toEqual([]);
  });

  it('survives a client that hangs up on an upload whose upstream call already failed', async () => {
    const url = new URL(stack.origin);
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    // Pipelined: a slow call, then an upload to an upstream that refuses it. The upload's 502 is
    // decided at once but waits behind the first answer, its body still arriving.
    socket.write(
      `GET /api/public/slow?ms=1000 HTTP/1.1\r\nHost: ${url.host}\r\nX-CSRF: 1\r\n` +
        `Cookie: ${cookie}\r\n\r\n` +
        `POST /api/dead/x HTTP/1.1\r\nHost: ${url.host}\r\nX-CSRF: 1\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n`,
    );
    socket.write(Buffer.alloc(64 * 1024));
    // Long enough for the upstream call to be refused; then the client resets the connection.
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.resetAndDestroy();
    await once(socket, 'close');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await stillServing();
    expect(errorLines()).toEqual([]);
  });

  it('ends the response when the upstream breaks mid-body, and keeps serving', async () => {
    const outcome = await new Promise<{ status: number; error?: string; body: string }>(
      (resolve) => {
        const req = open('/api/breaking/x');
        req.on('response', (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('error', (error) =>
            resolve({ status: res.statusCode ?? 0, error: error.message, body }),
          );
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('close', () => resolve({ status: res.statusCode ?? 0, error: 'closed', body }));
        });
        req.end();
      },
    );
    // Headers were already sent: the client sees the status, a partial body and a cut connection.
    expect(outcome.status).toBe(200);
    expect(outcome.body).toBe('{"partial":');
    expect(outcome.error).toBeDefined();
    await stillServing();
    // A broken upstream is worth one warning, not an error, let alone a crash.
    expect(lines.filter((line) => line.msg === 'API connection broke mid-answer')).toHaveLength(1);
    expect(errorLines()).toEqual([]);
  });
});

/**
 * A client that leaves while Gatehouse still waits for the store (here: Redis paused with
 * CLIENT PAUSE) must not get an upstream call once the store answers: nobody would read it, and
 * an event stream would hold its upstream connection for good.
 */
describe('proxy when the client left during the session read', () => {
  let redis: RedisServer;
  let stack: Stack;
  let cookie: string;
  const messages: string[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          messages.push((JSON.parse(line) as { msg: string }).msg);
        }
        done();
      },
    });
    stack = await startStack({ redis, deps: { logger: createLogger('info', sink) } });
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    cookie = (await http.jar.getCookieString(stack.origin)) ?? '';
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  async function openEventStreams(): Promise<number> {
    const res = await fetch(`${stack.api.origin}/public/stats`);
    return ((await res.json()) as { openEventStreams: number }).openEventStreams;
  }

  it('never calls the upstream for it', async () => {
    const admin = redis.client();
    const url = new URL(stack.origin);
    try {
      await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
      const closed: Array<Promise<unknown>> = [];
      for (let i = 0; i < 20; i += 1) {
        const socket = connect(Number(url.port), url.hostname);
        socket.on('error', () => undefined);
        // The request, then the hang-up (FIN) while the session read waits on Redis.
        socket.end(
          `GET /api/demo/events?count=100&intervalMs=1000 HTTP/1.1\r\nHost: ${url.host}\r\n` +
            `X-CSRF: 1\r\nCookie: ${cookie}\r\n\r\n`,
        );
        closed.push(once(socket, 'close'));
      }
      await Promise.all(closed);
      // Redis answers again: the requests go on, and stop before the upstream.
      const left = () =>
        messages.filter((msg) => msg === 'client went away before the API was called').length;
      await expect.poll(left, { timeout: 10_000 }).toBe(20);
      expect(await openEventStreams()).toBe(0);
      const res = await fetch(`${stack.origin}/api/demo/me`, {
        headers: { 'x-csrf': '1', cookie },
      });
      expect(res.status).toBe(200);
    } finally {
      admin.disconnect();
    }
  });
});
