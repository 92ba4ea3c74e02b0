import { request } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import type { ConfigInput } from '../src/index.ts';
import { scrape } from './support/scrape.ts';

const csrf = { 'x-csrf': '1' };
/** The test routes' methods: OPTIONS too, which a route allows only when it says so. */
const methods: NonNullable<ConfigInput['routes']>[number]['methods'] = [
  'GET',
  'HEAD',
  'OPTIONS',
  'POST',
  'DELETE',
];

/** One request as the upstream read it: its connection, its place on it, and its head. */
interface Seen {
  connection: number;
  /** 0 for a connection's first request, 1 for the next one, … */
  index: number;
  method: string;
  path: string;
  headers: Record<string, string>;
}

/** What the upstream does with a request: answer it, or break its connection in some way. */
type Action = 'answer' | 'close' | 'reset' | 'partial-head' | 'partial-body' | 'hang';

interface Upstream {
  origin: string;
  seen: Seen[];
  /** Connections accepted so far. */
  connections: () => number;
  /** Connections the upstream saw closed (by either side), by number. */
  closed: Set<number>;
  stop: () => Promise<void>;
}

/**
 * An HTTP/1.1 upstream on node:net, every byte of it written here: it answers `200 ok` with a
 * Content-Length and no `Keep-Alive: timeout=` header (as many servers do), and keeps the
 * connection open; `behave` decides, for each request it reads, whether to answer it or to end
 * the connection the moment the request arrives (FIN or RST), to start an answer and break it,
 * or to say nothing.
 */
async function startUpstream(behave: (seen: Seen) => Action): Promise<Upstream> {
  const seen: Seen[] = [];
  const closed = new Set<number>();
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    const connection = connections++;
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      closed.add(connection);
    });
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    let index = 0;
    let stopped = false;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (!stopped) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const [line = '', ...fields] = buffered.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const field of fields) {
          const colon = field.indexOf(':');
          headers[field.slice(0, colon).trim().toLowerCase()] = field.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.subarray(end + 4 + length);
        const [method = '', path = ''] = line.split(' ');
        const request: Seen = { connection, index: index++, method, path, headers };
        seen.push(request);
        const action = behave(request);
        if (action === 'answer') {
          socket.write(
            'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok',
          );
          continue;
        }
        stopped = true;
        if (action === 'close') socket.destroy();
        else if (action === 'reset') socket.resetAndDestroy();
        else if (action === 'partial-head') socket.end('HTTP/1.1 200 OK\r\ncontent-ty');
        else if (action === 'partial-body') {
          socket.end(
            'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 10\r\n\r\nabc',
          );
        }
        // 'hang': reads on, answers nothing.
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    connections: () => connections,
    closed,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A connection's first request is answered; any later one finds it closed (or reset). */
const staleAfterFirst =
  (how: 'close' | 'reset' | 'partial-head' | 'partial-body') =>
  (seen: Seen): Action =>
    seen.index === 0 ? 'answer' : how;

/** An HTTP call to Gatehouse that reports a cut answer instead of failing. */
function call(
  url: string,
  init: { method?: string; body?: string; signal?: AbortSignal } = {},
): Promise<{ status: number; body: string; cut: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: init.method ?? 'GET',
        headers: {
          ...csrf,
          ...(init.body === undefined ? {} : { 'content-length': String(init.body.length) }),
        },
        signal: init.signal,
      },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cut: false }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, body, cut: true }));
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Upstreams close idle keep-alive connections on their own schedule: a request Gatehouse sends
 * on a pooled connection the moment the upstream closes it fails before any answer. An
 * idempotent call without a body is sent again, once, on a connection of its own; nothing else is.
 */
describe('a pooled upstream connection closed under a request', () => {
  let redis: RedisServer;
  let stack: Stack;
  let metricsOrigin: string;
  const upstreams = new Map<string, Upstream>();
  // Each test has its route and upstream of its own: no pooled connection is shared.
  const behaviours: Record<string, (seen: Seen) => Action> = {
    'get-close': staleAfterFirst('close'),
    'get-reset': staleAfterFirst('reset'),
    'head-close': staleAfterFirst('close'),
    'options-close': staleAfterFirst('close'),
    'post-close': staleAfterFirst('close'),
    'delete-close': staleAfterFirst('close'),
    'get-body-close': staleAfterFirst('close'),
    'reset-all': () => 'reset',
    'partial-head': staleAfterFirst('partial-head'),
    'partial-body': staleAfterFirst('partial-body'),
    // The stale connection, then a fresh one that never answers: the client gives up.
    abort: (seen) => (seen.connection === 0 ? (seen.index === 0 ? 'answer' : 'close') : 'hang'),
    // Answers nothing at all: the route's timeoutMs runs out.
    silent: () => 'hang',
    // Answers, and never closes a connection itself.
    idle: () => 'answer',
  };
  let downPort: number;

  beforeAll(async () => {
    redis = await startRedisServer();
    for (const [name, behave] of Object.entries(behaviours)) {
      upstreams.set(name, await startUpstream(behave));
    }
    downPort = await freePort();
    stack = await startStack({
      redis,
      metrics: true,
      configure: (input: ConfigInput) => ({
        ...input,
        routes: [
          ...(input.routes ?? []),
          ...[...upstreams].map(([name, upstream]) => ({
            prefix: `/api/${name}`,
            upstream: upstream.origin,
            tokenMode: 'none' as const,
            methods,
            timeoutMs: name === 'silent' ? 500 : 30_000,
          })),
          { prefix: '/api/down', upstream: `http://127.0.0.1:${downPort}`, tokenMode: 'none' },
        ],
      }),
    });
    metricsOrigin = stack.gatehouses[0]?.metricsOrigin ?? '';
  });
  afterAll(async () => {
    await stack?.close();
    for (const upstream of upstreams.values()) await upstream.stop();
    await redis?.stop();
  });

  const upstream = (name: string): Upstream => {
    const found = upstreams.get(name);
    if (!found) throw new Error(`no upstream ${name}`);
    return found;
  };

  /** The retries and the upstream errors counted for a route so far. */
  async function counts(name: string): Promise<{ retries: number; unavailable: number }> {
    const scraped = await scrape(metricsOrigin);
    return {
      retries: scraped.sum('gatehouse_upstream_retries_total', { route: `api:${name}` }),
      unavailable: scraped.sum('gatehouse_upstream_errors_total', {
        route: `api:${name}`,
        kind: 'unavailable',
      }),
    };
  }

  /** A first call that leaves a kept-alive connection in Gatehouse's pool. */
  async function warm(name: string): Promise<void> {
    const first = await call(`${stack.origin}/api/${name}/warm`);
    expect(first).toEqual({ status: 200, body: 'ok', cut: false });
    expect(upstream(name).connections()).toBe(1);
  }

  it.each([
    ['get-close', 'GET', 'closed'],
    ['get-reset', 'GET', 'reset'],
    ['head-close', 'HEAD', 'closed'],
    ['options-close', 'OPTIONS', 'closed'],
  ])(
    '%s: a %s whose pooled connection is %s is sent again on a fresh one',
    async (name, method) => {
      const up = upstream(name);
      await warm(name);

      const res = await call(`${stack.origin}/api/${name}/again`, { method });

      expect(res.status).toBe(200);
      expect(res.body).toBe(method === 'HEAD' ? '' : 'ok');
      // The stale connection read it and closed; a new connection, its first request, answered.
      expect(
        up.seen.map(({ connection, index, method, path }) => ({ connection, index, method, path })),
      ).toEqual([
        { connection: 0, index: 0, method: 'GET', path: '/warm' },
        { connection: 0, index: 1, method, path: '/again' },
        { connection: 1, index: 0, method, path: '/again' },
      ]);
      // Not a pooled connection: it asks to be closed after this one answer.
      expect(up.seen[2]?.headers.connection).toBe('close');
      expect(await counts(name)).toEqual({ retries: 1, unavailable: 0 });
    },
  );

  it.each([
    ['post-close', 'POST', 'x'],
    ['delete-close', 'DELETE', undefined],
    ['get-body-close', 'GET', 'x'],
  ])(
    '%s: a %s (body %s) in the same situation is not sent again: 502',
    async (name, method, body) => {
      const up = upstream(name);
      await warm(name);

      const res = await call(`${stack.origin}/api/${name}/again`, { method, body });

      expect(res.status).toBe(502);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'upstream_unavailable' });
      await sleep(300);
      expect(up.connections()).toBe(1);
      expect(up.seen.filter((seen) => seen.path === '/again')).toHaveLength(1);
      expect(await counts(name)).toEqual({ retries: 0, unavailable: 1 });
    },
  );

  it('an upstream that resets every connection gets one retry, then the 502', async () => {
    const up = upstream('reset-all');

    const res = await call(`${stack.origin}/api/reset-all/x`);

    expect(res.status).toBe(502);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'upstream_unavailable' });
    await sleep(300);
    expect(up.connections()).toBe(2);
    expect(up.seen.map(({ connection, index }) => ({ connection, index }))).toEqual([
      { connection: 0, index: 0 },
      { connection: 1, index: 0 },
    ]);
    expect(await counts('reset-all')).toEqual({ retries: 1, unavailable: 1 });
    // And the next call is handled the same way, not refused or looping.
    expect((await call(`${stack.origin}/api/reset-all/y`)).status).toBe(502);
    await sleep(300);
    expect(up.connections()).toBe(4);
    expect(await counts('reset-all')).toEqual({ retries: 2, unavailable: 2 });
  });

  it('a connection that breaks after the first bytes of the answer is not retried', async () => {
    // Part of the status line and headers: no answer to pass on, a 502, and not sent again.
    const head = upstream('partial-head');
    await warm('partial-head');
    const cutHead = await call(`${stack.origin}/api/partial-head/again`);
    expect(cutHead.status).toBe(502);
    // Headers and part of the body: the browser's answer is cut, as it started.
    const body = upstream('partial-body');
    await warm('partial-body');
    const cutBody = await call(`${stack.origin}/api/partial-body/again`);
    expect(cutBody).toEqual({ status: 200, body: 'abc', cut: true });

    await sleep(300);
    for (const up of [head, body]) {
      expect(up.connections()).toBe(1);
      expect(up.seen.filter((seen) => seen.path === '/again')).toHaveLength(1);
    }
    expect((await counts('partial-head')).retries).toBe(0);
    expect((await counts('partial-body')).retries).toBe(0);
  });

  it('a client that goes away during the retry aborts it at once', async () => {
    const up = upstream('abort');
    await warm('abort');
    const controller = new AbortController();
    const pending = call(`${stack.origin}/api/abort/again`, { signal: controller.signal });
    // The retry reached the upstream on a connection of its own, which never answers.
    await expect.poll(() => up.seen.length, { timeout: 5000 }).toBe(3);
    expect(up.seen[2]).toMatchObject({ connection: 1, index: 0, path: '/again' });
    const abortedAt = performance.now();
    controller.abort();
    await expect(pending).rejects.toThrow();
    await expect.poll(() => up.closed.has(1), { timeout: 2000, interval: 10 }).toBe(true);
    expect(performance.now() - abortedAt).toBeLessThan(1000);
    await sleep(300);
    expect(up.connections()).toBe(2);
    expect((await counts('abort')).retries).toBe(1);
  });

  it('lets go of an idle connection before the 5 s after which a Node upstream closes it', async () => {
    const up = upstream('idle');
    expect(await call(`${stack.origin}/api/idle/x`)).toEqual({
      status: 200,
      body: 'ok',
      cut: false,
    });
    const answeredAt = performance.now();
    // The upstream never closes it and announces no Keep-Alive timeout: Gatehouse closes it.
    await expect.poll(() => up.closed.has(0), { timeout: 8000, interval: 20 }).toBe(true);
    const idleMs = performance.now() - answeredAt;
    expect(idleMs).toBeGreaterThan(3000);
    expect(idleMs).toBeLessThan(5000);
  });

  it('a timeout and a refused connection are not retried', async () => {
    const silent = upstream('silent');
    const timedOut = await call(`${stack.origin}/api/silent/x`);
    expect(timedOut.status).toBe(504);
    await sleep(300);
    expect(silent.connections()).toBe(1);
    expect(silent.seen).toHaveLength(1);
    expect((await counts('silent')).retries).toBe(0);

    const refused = await call(`${stack.origin}/api/down/x`);
    expect(refused.status).toBe(502);
    expect(await counts('down')).toEqual({ retries: 0, unavailable: 1 });
  });
});
