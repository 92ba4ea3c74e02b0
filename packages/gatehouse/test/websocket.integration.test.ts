import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import {
  connect,
  createServer as createTcpServer,
  type Server as TcpServer,
  type Socket,
} from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  createCookieFetch,
  freePort,
  inspectSession,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type RunningGatehouse,
  type Stack,
} from '@gatehouse/testkit';
import { gatehouseInternals } from '@gatehouse/core/testing';
import { createLogger } from '../src/index.ts';
import { jsonLines } from './support/json-lines.ts';

interface LogLine {
  level: number;
  msg: string;
}

interface Welcome {
  type: string;
  sub: string;
  iss: string;
  headers: IncomingHttpHeaders;
}

interface Refusal {
  status: number;
  headers: IncomingHttpHeaders;
  body: { code?: string; status?: number };
}

/** A browser-side socket with its messages queued and its close awaited. */
interface OpenSocket {
  ws: WebSocket;
  next(): Promise<{ data: Buffer; isBinary: boolean }>;
  closed: Promise<{ code: number; reason: string }>;
}

const csrf = { 'x-csrf': '1' };
/** The sessions of open sockets are checked this often in this suite. */
const CHECK_MS = 200;
const POLL = { timeout: 15_000, interval: 50 };

/**
 * WebSocket routes end to end over real HTTP: two Gatehouse instances sharing a real Redis, the
 * dev IdP, the demo API's bearer-checked echo (`/ws/echo`), and small local upstreams that
 * record, refuse or hang.
 */
describe('WebSocket routes', () => {
  let redis: RedisServer;
  let stack: Stack;
  let offsetMs = 0;
  const clock = () => Date.now() + offsetMs;
  const lines: LogLine[] = [];
  const opened = new Set<WebSocket>();
  const rawSockets = new Set<Socket>();

  // The recording upstream: keeps each handshake's headers, says hello, then echoes.
  let recorder: WebSocketServer;
  const recorded: IncomingHttpHeaders[] = [];
  const recordedUrls: string[] = [];
  const recordedCloses: Array<{ code: number; reason: string }> = [];
  // Accepts sockets but never answers a ping (a dead peer as seen from Gatehouse).
  let mute: WebSocketServer;
  // Answers every upgrade with 403.
  let refuser: Server;
  // Accepts TCP connections and never answers.
  let hanger: TcpServer;
  const hanging = new Set<Socket>();
  let hangingClosed = 0;

  beforeAll(async () => {
    recorder = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      handleProtocols: (offered) => (offered.has('chat.v1') ? 'chat.v1' : false),
    });
    await new Promise((resolve) => recorder.once('listening', resolve));
    recorder.on('connection', (socket, req) => {
      recorded.push(req.headers);
      recordedUrls.push(req.url ?? '');
      socket.on('close', (code, reason) =>
        recordedCloses.push({ code, reason: reason.toString() }),
      );
      socket.send(JSON.stringify({ type: 'hello' }));
      socket.on('message', (data, isBinary) => {
        const text = isBinary ? '' : (data as Buffer).toString();
        if (!text.startsWith('flood ')) return socket.send(data, { binary: isBinary });
        // `flood <count>`: that many 64 KiB messages at once, each numbered in its first bytes.
        for (let i = 0; i < Number(text.slice(6)); i += 1) {
          const message = Buffer.alloc(64 * 1024, 7);
          message.writeUInt32BE(i, 0);
          socket.send(message);
        }
      });
    });
    mute = new WebSocketServer({ port: 0, host: '127.0.0.1', autoPong: false });
    await new Promise((resolve) => mute.once('listening', resolve));
    refuser = createServer((_req, res) => res.end());
    refuser.on('upgrade', (_req, socket) => {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    await new Promise<void>((resolve) => refuser.listen(0, '127.0.0.1', resolve));
    hanger = createTcpServer((socket) => {
      hanging.add(socket);
      // Reads (and drops) the request, so that the peer's FIN is seen.
      socket.resume();
      socket.on('error', () => undefined);
      socket.on('close', () => {
        hanging.delete(socket);
        hangingClosed += 1;
      });
    });
    await new Promise<void>((resolve) => hanger.listen(0, '127.0.0.1', resolve));
    const nobody = await freePort();
    const at = (server: { address(): unknown }) =>
      `http://127.0.0.1:${(server.address() as { port: number }).port}`;

    redis = await startRedisServer({ appendOnly: true });
    stack = await startStack({
      redis,
      instances: 2,
      devIdp: { controlApi: true, accessTokenTtlSeconds: 300 },
      deps: { clock, logger: createLogger('info', jsonLines(lines)) },
      configure: (input) => {
        const demo = input.routes?.[0]?.upstream ?? '';
        return {
          ...input,
          websocket: { sessionCheckIntervalMs: CHECK_MS, pingIntervalMs: 1000 },
          routes: [
            ...(input.routes ?? []),
            {
              prefix: '/api/tiny',
              upstream: demo,
              tokenMode: 'user',
              websocket: true,
              websocketMaxMessageBytes: 4096,
            },
            {
              prefix: '/api/idle',
              upstream: demo,
              tokenMode: 'user',
              websocket: true,
              websocketIdleTimeoutMs: 1000,
            },
            { prefix: '/api/rec', upstream: at(recorder), tokenMode: 'user', websocket: true },
            { prefix: '/api/refuse', upstream: at(refuser), tokenMode: 'user', websocket: true },
            { prefix: '/api/mute', upstream: at(mute), tokenMode: 'user', websocket: true },
            {
              prefix: '/api/globex-only',
              upstream: demo,
              tokenMode: 'user',
              tenants: ['globex'],
              websocket: true,
            },
            {
              prefix: '/api/gh-ws',
              upstream: demo,
              tokenMode: 'gatehouse',
              audience: 'urn:gatehouse:demo-api',
              websocket: true,
            },
            {
              prefix: '/api/hang',
              upstream: at(hanger),
              tokenMode: 'user',
              websocket: true,
              timeoutMs: 500,
            },
            {
              prefix: '/api/hang-long',
              upstream: at(hanger),
              tokenMode: 'user',
              websocket: true,
              timeoutMs: 60_000,
            },
            {
              prefix: '/api/down',
              upstream: `http://127.0.0.1:${nobody}`,
              tokenMode: 'user',
              websocket: true,
            },
          ],
        };
      },
    });
  });
  afterAll(async () => {
    // An upgraded connection is no longer the HTTP server's to close: end them first.
    for (const ws of opened) ws.terminate();
    for (const socket of rawSockets) socket.destroy();
    await stack?.close();
    await redis?.stop();
    recorder?.close();
    mute?.close();
    for (const socket of hanging) socket.destroy();
    await new Promise((resolve) => hanger?.close(resolve));
    await new Promise((resolve) => refuser?.close(resolve));
  });

  const instance = (index: number): RunningGatehouse => stack.gatehouses[index]!;
  const socketUrl = (path: string, index = 0) =>
    `${instance(index).origin.replace(/^http/, 'ws')}${path}`;

  async function signedIn(login = 'alice'): Promise<CookieFetch> {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login, password: login });
    return http;
  }

  async function cookieOf(http: CookieFetch | undefined): Promise<Record<string, string>> {
    const cookie = http ? await http.jar.getCookieString(stack.origin) : '';
    return cookie ? { cookie } : {};
  }

  /** Opens a socket as a browser of the site would: its cookie and the exact public Origin. */
  async function open(
    http: CookieFetch,
    path: string,
    options: { index?: number; protocols?: string[]; headers?: Record<string, string> } = {},
  ): Promise<OpenSocket> {
    const index = options.index ?? 0;
    const ws = new WebSocket(socketUrl(path, index), options.protocols ?? [], {
      headers: {
        ...(await cookieOf(http)),
        origin: instance(index).publicOrigin,
        ...options.headers,
      },
    });
    opened.add(ws);
    const queue: Array<{ data: Buffer; isBinary: boolean }> = [];
    const waiters: Array<(message: { data: Buffer; isBinary: boolean }) => void> = [];
    ws.on('message', (data: RawData, isBinary) => {
      const message = { data: Buffer.from(data as Buffer), isBinary };
      const waiter = waiters.shift();
      if (waiter) waiter(message);
      else queue.push(message);
    });
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade refused with ${res.statusCode}`)),
      );
    });
    ws.on('error', () => undefined);
    return {
      ws,
      closed,
      next: () =>
        new Promise((resolve, reject) => {
          const queued = queue.shift();
          if (queued) return resolve(queued);
          waiters.push(resolve);
          void closed.then(({ code }) => reject(new Error(`closed with ${code}`)));
        }),
    };
  }

  async function welcomeOf(socket: OpenSocket): Promise<Welcome> {
    const { data } = await socket.next();
    return JSON.parse(data.toString()) as Welcome;
  }

  /** The answer to an upgrade that must be refused. */
  function refusal(url: string, headers: Record<string, string>): Promise<Refusal> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.on('open', () => {
        ws.terminate();
        reject(new Error('the upgrade was accepted'));
      });
      ws.on('error', reject);
      ws.on('unexpected-response', (req, res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: JSON.parse(text) as Refusal['body'],
          });
          req.destroy();
        });
      });
    });
  }

  /** Writes a raw request on a TCP socket; resolves with everything read until the server closes. */
  function rawExchange(request: string, index = 0): Promise<string> {
    const { port } = new URL(instance(index).origin);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
      rawSockets.add(socket);
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
  }

  /** A hand-made upgrade request to instance 0: `path`, the usual handshake, then `headers`. */
  function upgradeRequest(path: string, headers: Record<string, string>, method = 'GET'): string {
    const lines = Object.entries({
      host: new URL(instance(0).origin).host,
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      origin: instance(0).publicOrigin,
      ...headers,
    }).map(([name, value]) => `${name}: ${value}`);
    return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
  }

  /** A hand-made upgrade's whole exchange, read until the server closes. */
  function rawUpgrade(path: string, headers: Record<string, string>, method = 'GET') {
    return rawExchange(upgradeRequest(path, headers, method));
  }

  /** A hand-made upgrade of `path` with the session's cookie, on a raw socket left open. */
  async function openRawUpgrade(http: CookieFetch, path: string): Promise<Socket> {
    const request = upgradeRequest(path, await cookieOf(http));
    const socket = connect(Number(new URL(instance(0).origin).port), '127.0.0.1');
    rawSockets.add(socket);
    socket.on('error', () => undefined);
    socket.write(request);
    return socket;
  }

  const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1]);
  const problemOf = (answer: string) =>
    JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: string };

  it('proxies a signed-in socket to the demo API, which verifies the bearer token and echoes', async () => {
    const http = await signedIn('alice');
    const me = (await (await http(`${stack.origin}/api/demo/me`, { headers: csrf })).json()) as {
      sub: string;
    };
    const socket = await open(http, '/api/demo/ws/echo');
    const welcome = await welcomeOf(socket);
    expect(welcome.type).toBe('welcome');
    expect(welcome.sub).toBe(me.sub);
    expect(welcome.iss).toBe(stack.idp.issuer(''));
    // The API saw our bearer token, never the browser's cookie or CSRF marker.
    expect(welcome.headers.authorization).toBe('<present>');
    expect(welcome.headers.cookie).toBeUndefined();
    expect(welcome.headers['x-forwarded-host']).toBe(new URL(instance(0).publicOrigin).host);

    socket.ws.send('hello');
    expect(await socket.next()).toEqual({ data: Buffer.from('hello'), isBinary: false });
    socket.ws.send(Buffer.from([0, 1, 2, 255]));
    expect(await socket.next()).toEqual({ data: Buffer.from([0, 1, 2, 255]), isBinary: true });
    socket.ws.close(1000, 'done');
    expect((await socket.closed).code).toBe(1000);
    // One line when it opened and one when it closed; never a token or a cookie in the log.
    await expect
      .poll(() => lines.filter((line) => /^websocket (opened|closed)$/.test(line.msg)).length, POLL)
      .toBeGreaterThanOrEqual(2);
    const logged = JSON.stringify(lines);
    expect(logged).not.toMatch(/Bearer|eyJ[A-Za-z0-9_-]{10,}/);
    expect(logged).not.toContain((await cookieOf(http)).cookie);
  });

  it('carries the browser’s close to the upstream as it was sent: code and reason, or none', async () => {
    const http = await signedIn('alice');
    for (const [code, reason, expected] of [
      [4000, 'signed out in the app', { code: 4000, reason: 'signed out in the app' }],
      [1000, '', { code: 1000, reason: '' }],
      // No code at all: the upstream hears none either (1005), not "going away".
      [undefined, undefined, { code: 1005, reason: '' }],
    ] as const) {
      const before = recordedCloses.length;
      const socket = await open(http, '/api/rec/close');
      await socket.next(); // hello
      socket.ws.close(code, reason);
      await socket.closed;
      await expect.poll(() => recordedCloses.slice(before), POLL).toEqual([expected]);
    }
  });

  it('sends a Gatehouse-signed token on a gatehouse-mode route', async () => {
    const http = await signedIn('alice');
    const socket = await open(http, '/api/gh-ws/ws/echo');
    const welcome = await welcomeOf(socket);
    expect(welcome.iss).toBe(instance(0).publicOrigin);
    socket.ws.close();
    await socket.closed;
  });

  it('keeps a route’s tenant restriction: 403 for another tenant’s session', async () => {
    const http = await signedIn('alice');
    const headers = { ...(await cookieOf(http)), origin: instance(0).publicOrigin };
    const answer = await refusal(socketUrl('/api/globex-only/ws/echo'), headers);
    expect([answer.status, answer.body.code]).toEqual([403, 'tenant_not_allowed']);
  });

  it('sends the upstream a Bearer token and its own handshake, never the browser’s credentials', async () => {
    const http = await signedIn('alice');
    const before = recorded.length;
    const socket = await open(http, '/api/rec/x', {
      protocols: ['chat.v2', 'chat.v1'],
      headers: { authorization: 'Basic YWxpY2U6YWxpY2U=', 'x-custom': 'kept' },
    });
    expect(JSON.parse((await socket.next()).data.toString())).toEqual({ type: 'hello' });
    // The subprotocol the upstream chose is the browser's.
    expect(socket.ws.protocol).toBe('chat.v1');
    const headers = recorded[before]!;
    expect(headers.authorization).toMatch(/^Bearer [A-Za-z0-9._-]+$/);
    expect(headers.cookie).toBeUndefined();
    expect(headers['x-custom']).toBe('kept');
    expect(headers['sec-websocket-protocol']).toBe('chat.v2,chat.v1');
    expect(headers.origin).toBe(instance(0).publicOrigin);
    socket.ws.close();
    await socket.closed;
  });

  describe('refuses the upgrade with a problem document and closes the socket', () => {
    it.each([
      ['a cross-site Origin', 'https://evil.example', 403, 'foreign_origin'],
      ['a look-alike Origin', 'http://localhost', 403, 'foreign_origin'],
      ['no Origin at all', undefined, 403, 'foreign_origin'],
    ])('%s', async (_name, origin, status, code) => {
      const http = await signedIn('alice');
      const headers: Record<string, string> = {
        ...(await cookieOf(http)),
        ...(origin === undefined ? {} : { origin }),
      };
      const answer = await refusal(socketUrl('/api/demo/ws/echo'), headers);
      expect(answer.status).toBe(status);
      expect(answer.headers['content-type']).toBe('application/problem+json');
      expect(answer.headers['gatehouse-problem']).toBe(code);
      expect(answer.body).toMatchObject({ code, status });
    });

    it('no session: 401', async () => {
      const answer = await refusal(socketUrl('/api/demo/ws/echo'), {
        origin: instance(0).publicOrigin,
      });
      expect([answer.status, answer.body.code]).toEqual([401, 'unauthenticated']);
      // A cookie that names no session is no better.
      const forged = await refusal(socketUrl('/api/demo/ws/echo'), {
        origin: instance(0).publicOrigin,
        cookie: `${gatehouseInternals(instance(0).gatehouse).cookies.session}=s%3A${randomUUID()}.forged`,
      });
      expect([forged.status, forged.body.code]).toEqual([401, 'unauthenticated']);
    });

    it('a route without websocket, an unknown route, a path outside /api', async () => {
      const http = await signedIn('alice');
      const headers = { ...(await cookieOf(http)), origin: instance(0).publicOrigin };
      const noWs = await refusal(socketUrl('/api/demo-gh/ws/echo'), headers);
      expect([noWs.status, noWs.body.code]).toEqual([404, 'websocket_not_enabled']);
      const unknown = await refusal(socketUrl('/api/nope/ws'), headers);
      expect([unknown.status, unknown.body.code]).toEqual([404, 'not_found']);
      for (const path of ['/bff/user', '/bff/logout', '/admin/api/tenants', '/']) {
        const outside = await refusal(socketUrl(path), headers);
        expect([outside.status, outside.body.code]).toEqual([404, 'not_found']);
      }
      // Sent raw: a URL parser would resolve the dot segment first.
      const dotted = await rawUpgrade('/api/demo/%2e%2e/admin', headers);
      expect([statusOf(dotted), problemOf(dotted).code]).toEqual([400, 'invalid_path']);
    });

    it('hostile handshakes: bad key, bad version, non-GET, bad subprotocols', async () => {
      const http = await signedIn('alice');
      const cookie = await cookieOf(http);
      const badKey = await rawUpgrade('/api/demo/ws/echo', {
        ...cookie,
        'sec-websocket-key': 'short',
      });
      expect(statusOf(badKey)).toBe(400);
      expect(problemOf(badKey).code).toBe('bad_websocket_handshake');
      const badVersion = await rawUpgrade('/api/demo/ws/echo', {
        ...cookie,
        'sec-websocket-version': '8',
      });
      expect(statusOf(badVersion)).toBe(400);
      expect(badVersion.toLowerCase()).toContain('sec-websocket-version: 13');
      const post = await rawUpgrade('/api/demo/ws/echo', cookie, 'POST');
      expect(statusOf(post)).toBe(405);
      expect(post.toLowerCase()).toContain('allow: get');
      expect(problemOf(post).code).toBe('method_not_allowed');
      const protocols = await rawUpgrade('/api/demo/ws/echo', {
        ...cookie,
        'sec-websocket-protocol': 'a, a',
      });
      expect(problemOf(protocols).code).toBe('bad_websocket_handshake');
      const garbage = await rawUpgrade('/api/demo/ws/echo', {
        ...cookie,
        'sec-websocket-protocol': 'bad name, "quoted"',
      });
      expect(statusOf(garbage)).toBe(400);
      // A request that only names another upgrade (h2c) is served as plain HTTP.
      const h2c = await rawExchange(
        `GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings, close\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n`,
      ).catch(() => '');
      expect(statusOf(h2c)).toBe(200);
      // The instance is unharmed.
      expect((await fetch(`${instance(0).origin}/healthz`)).status).toBe(200);
    });
  });

  it('drops a fragment in a hand-made request’s query, as for an HTTP call, instead of blaming the upstream', async () => {
    // Browsers never send a fragment; `ws` refuses to dial a URL that has one, which made this
    // client's input a 502 and an upstream warning.
    const http = await signedIn('alice');
    const before = recordedUrls.length;
    const socket = await openRawUpgrade(http, '/api/rec/x?a=b#c');
    const head = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n\r\n')) resolve(text);
      });
      socket.on('close', () => resolve(text));
    });
    expect(statusOf(head)).toBe(101);
    expect(recordedUrls[before]).toBe('/x?a=b');
    socket.destroy();
  });

  it('refreshes an expired access token before the upstream handshake', async () => {
    const http = await signedIn('alice');
    const refreshes = () => stack.idp.tokenEndpointCallsByGrantType('')['refresh_token'] ?? 0;
    const before = refreshes();
    offsetMs = 301_000; // the access token (300 s) has expired for Gatehouse
    try {
      const socket = await open(http, '/api/demo/ws/echo');
      expect(refreshes() - before).toBe(1);
      expect((await welcomeOf(socket)).type).toBe('welcome');
      socket.ws.close();
      await socket.closed;
    } finally {
      offsetMs = 0;
    }
  });

  describe('closes the socket with 4401 when its session ends anywhere', () => {
    it('logout on the same instance', async () => {
      const http = await signedIn('alice');
      const socket = await open(http, '/api/demo/ws/echo');
      await welcomeOf(socket);
      const logout = await http(`${instance(0).origin}/bff/logout`, {
        method: 'POST',
        headers: csrf,
      });
      expect(logout.status).toBeLessThan(400);
      expect(await socket.closed).toEqual({ code: 4401, reason: 'session ended' });
    });

    it('logout through the other instance', async () => {
      const http = await signedIn('alice');
      const socket = await open(http, '/api/demo/ws/echo');
      await welcomeOf(socket);
      const logout = await http(`${instance(1).origin}/bff/logout`, {
        method: 'POST',
        headers: csrf,
      });
      expect(logout.status).toBeLessThan(400);
      expect((await socket.closed).code).toBe(4401);
    });

    it('back-channel logout from the IdP, and only for that user', async () => {
      const bob = await signedIn('bob');
      const alice = await signedIn('alice');
      const bobs = await open(bob, '/api/demo/ws/echo', { index: 1 });
      const alices = await open(alice, '/api/demo/ws/echo', { index: 1 });
      await welcomeOf(bobs);
      await welcomeOf(alices);
      const res = await fetch(`${stack.idp.origin}/__control/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ realm: '', sub: 'bob' }),
      });
      expect(res.status).toBe(200);
      expect((await bobs.closed).code).toBe(4401);
      // The same check read Alice's session too, and left her socket open.
      alices.ws.send('still here');
      expect((await alices.next()).data.toString()).toBe('still here');
      alices.ws.close();
      await alices.closed;
    });

    it('session expiry', async () => {
      const http = await signedIn('alice');
      const { record } = await inspectSession(stack, http);
      const socket = await open(http, '/api/demo/ws/echo');
      await welcomeOf(socket);
      // Past the absolute limit for Gatehouse (the record is still in Redis).
      offsetMs = record.absoluteExpiresAtMs - Date.now() + 1000;
      try {
        expect((await socket.closed).code).toBe(4401);
      } finally {
        offsetMs = 0;
      }
    });
  });

  it('keeps sockets open while Redis is down: a store error is never a sign-out', async () => {
    const http = await signedIn('alice');
    const socket = await open(http, '/api/demo/ws/echo');
    await welcomeOf(socket);
    const failedChecks = () =>
      lines.filter((line) => line.msg.startsWith('websocket session check: store unavailable'))
        .length;
    const before = failedChecks();
    await redis.kill();
    try {
      // Several checks fail while it is down.
      await expect.poll(failedChecks, POLL).toBeGreaterThanOrEqual(before + 3);
      // A new upgrade cannot read its session: 503, not 401.
      const refused = await refusal(socketUrl('/api/demo/ws/echo'), {
        ...(await cookieOf(http)),
        origin: instance(0).publicOrigin,
      });
      expect([refused.status, refused.body.code]).toEqual([503, 'store_unavailable']);
      expect(refused.headers['retry-after']).toBe('5');
      socket.ws.send('during the outage');
      expect((await socket.next()).data.toString()).toBe('during the outage');
      expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      await redis.restart();
    }
    await expect.poll(async () => (await fetch(`${stack.origin}/readyz`)).status, POLL).toBe(200);
    socket.ws.send('after the outage');
    expect((await socket.next()).data.toString()).toBe('after the outage');
    // And the session still ends sockets once it really ends.
    await http(`${stack.origin}/bff/logout`, { method: 'POST', headers: csrf });
    expect((await socket.closed).code).toBe(4401);
  });

  it('closes with 1009 when the browser sends a message over the route’s limit', async () => {
    const http = await signedIn('alice');
    const socket = await open(http, '/api/tiny/ws/echo');
    await welcomeOf(socket);
    socket.ws.send(Buffer.alloc(4096, 1));
    expect((await socket.next()).data.length).toBe(4096);
    socket.ws.send(Buffer.alloc(4097, 1));
    expect((await socket.closed).code).toBe(1009);
  });

  it('closes an idle socket with 4408', async () => {
    const http = await signedIn('alice');
    const socket = await open(http, '/api/idle/ws/echo');
    await welcomeOf(socket);
    expect(await socket.closed).toEqual({ code: 4408, reason: 'idle timeout' });
  });

  describe('upstream failures', () => {
    it('an upstream that refuses the handshake: 502', async () => {
      const http = await signedIn('alice');
      const headers = { ...(await cookieOf(http)), origin: instance(0).publicOrigin };
      const answer = await refusal(socketUrl('/api/refuse/x'), headers);
      expect([answer.status, answer.body.code]).toEqual([502, 'upstream_unavailable']);
      const down = await refusal(socketUrl('/api/down/x'), headers);
      expect([down.status, down.body.code]).toEqual([502, 'upstream_unavailable']);
    });

    it('an upstream that never answers the handshake: 504, and its connection is dropped', async () => {
      const http = await signedIn('alice');
      const closedBefore = hangingClosed;
      const headers = { ...(await cookieOf(http)), origin: instance(0).publicOrigin };
      const answer = await refusal(socketUrl('/api/hang/x'), headers);
      expect([answer.status, answer.body.code]).toEqual([504, 'upstream_timeout']);
      await expect.poll(() => hangingClosed, POLL).toBeGreaterThan(closedBefore);
    });

    it('a browser that hangs up during the upstream handshake: the upstream attempt is dropped', async () => {
      const http = await signedIn('alice');
      const closedBefore = hangingClosed;
      const openBefore = hanging.size;
      const socket = await openRawUpgrade(http, '/api/hang-long/x');
      // The upstream attempt is under way (a 60 s timeout), then the browser leaves.
      await expect.poll(() => hanging.size, POLL).toBeGreaterThan(openBefore);
      socket.destroy();
      await expect.poll(() => hangingClosed, POLL).toBeGreaterThan(closedBefore);
      expect((await fetch(`${instance(0).origin}/healthz`)).status).toBe(200);
    });

    it('an upstream that closes or vanishes mid-stream closes the browser’s socket', async () => {
      const http = await signedIn('alice');
      const first = await open(http, '/api/rec/y');
      await first.next();
      const [upstreamSide] = [...recorder.clients].slice(-1);
      upstreamSide!.close(4000, 'upstream says bye');
      expect(await first.closed).toEqual({ code: 4000, reason: 'upstream says bye' });

      const second = await open(http, '/api/rec/z');
      await second.next();
      const [cut] = [...recorder.clients].slice(-1);
      cut!.terminate();
      expect((await second.closed).code).toBe(1014);
    });
  });

  it('pauses an upstream that sends faster than the browser reads, losing nothing', async () => {
    const http = await signedIn('alice');
    const socket = await open(http, '/api/rec/flood');
    await socket.next();
    const [upstreamSide] = [...recorder.clients].slice(-1);
    const stats = () => instance(0).gatehouse.websockets.stats();
    // The browser stops reading; the upstream sends 32 MiB.
    socket.ws.pause();
    socket.ws.send('flood 512');
    // Gatehouse stops reading the upstream once 1 MiB waits for the browser: the rest stays
    // queued at the upstream, not in Gatehouse's memory.
    await expect.poll(() => stats().pausedLegs, POLL).toBe(1);
    expect(upstreamSide!.bufferedAmount).toBeGreaterThan(0);
    socket.ws.resume();
    for (let i = 0; i < 512; i += 1) {
      const { data, isBinary } = await socket.next();
      expect([isBinary, data.length, data.readUInt32BE(0)]).toEqual([true, 64 * 1024, i]);
    }
    await expect.poll(() => stats().pausedLegs, POLL).toBe(0);
    socket.ws.close();
    await socket.closed;
  });

  it('cuts an upstream that stops answering pings, and tells the browser with 1014', async () => {
    const http = await signedIn('alice');
    const socket = await open(http, '/api/mute/x');
    // The browser answers Gatehouse's pings (ws does), so only the upstream leg is cut.
    expect(await socket.closed).toEqual({ code: 1014, reason: 'upstream connection lost' });
  });

  it('closes open sockets with 1001 when the instance drains', async () => {
    const http = await signedIn('alice');
    const socket = await open(http, '/api/demo/ws/echo', { index: 1 });
    await welcomeOf(socket);
    const { gatehouse, server } = instance(1);
    const drained = gatehouse.drain(server, 10_000);
    expect((await socket.closed).code).toBe(1001);
    expect((await drained).drained).toBe(true);
  });

  // Last: instance 0 drains too.
  it('abandons an upgrade still in its upstream handshake when the instance drains: 503, and the drain ends', async () => {
    const http = await signedIn('alice');
    const openBefore = hanging.size;
    const closedBefore = hangingClosed;
    // The upstream never answers and the route waits 60 s for it: far longer than the grace.
    const answer = rawUpgrade('/api/hang-long/x', await cookieOf(http));
    await expect.poll(() => hanging.size, POLL).toBeGreaterThan(openBefore);
    const { gatehouse, server } = instance(0);
    const drained = gatehouse.drain(server, 2000);
    const outcome = await Promise.race([
      drained,
      new Promise<'still draining'>((resolve) => setTimeout(resolve, 6000, 'still draining')),
    ]);
    expect(outcome).toMatchObject({ drained: true });
    const text = await answer;
    expect([statusOf(text), problemOf(text).code]).toEqual([503, 'shutting_down']);
    await expect.poll(() => hangingClosed, POLL).toBeGreaterThan(closedBefore);
  });
});
