/// <reference types="node" />
/**
 * gatehouseDevProxy() in a real Vite dev server, in front of a stand-in Gatehouse that records
 * what reaches it: the paths it forwards (and those it leaves to the SPA), the Host and cookies
 * both ways, redirects untouched, no X-Forwarded-* headers.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createViteServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_GATEHOUSE_DEV_TARGET, gatehouseDevProxy } from '../src/vite.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let gatehouse: Server;
let target: string;
let root: string;
const seen: Seen[] = [];
const vites: ViteDevServer[] = [];

beforeAll(async () => {
  gatehouse = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      if (req.url?.startsWith('/bff/login')) {
        res.writeHead(302, { location: 'http://idp.test/auth?client_id=gh' }).end();
        return;
      }
      res
        .writeHead(200, {
          'content-type': 'application/json',
          'set-cookie': 'gatehouse=s%3Anew; Path=/; HttpOnly; SameSite=Strict',
        })
        .end(JSON.stringify({ from: 'gatehouse' }));
    });
  });
  // WebSocket routes: the stand-in accepts every upgrade (Gatehouse does so under /api only).
  gatehouse.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' });
    const accept = createHash('sha1')
      .update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64');
    socket.end(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
  });
  await new Promise<void>((done) => gatehouse.listen(0, '127.0.0.1', done));
  target = `http://127.0.0.1:${(gatehouse.address() as AddressInfo).port}`;
  root = await mkdtemp(join(tmpdir(), 'gatehouse-vite-'));
  await writeFile(
    join(root, 'index.html'),
    '<!doctype html><title>SPA</title><div id="root"></div>',
  );
});

afterAll(async () => {
  for (const vite of vites.splice(0)) await vite.close();
  await new Promise<void>((done) => gatehouse.close(() => done()));
  await rm(root, { recursive: true, force: true });
});

beforeEach(() => {
  seen.length = 0;
});

async function startVite(proxy: ReturnType<typeof gatehouseDevProxy>): Promise<string> {
  const vite = await createViteServer({
    configFile: false,
    root,
    logLevel: 'silent',
    appType: 'spa',
    server: { host: '127.0.0.1', port: 0, proxy, hmr: false, watch: null },
  });
  vites.push(vite);
  await vite.listen();
  return `127.0.0.1:${(vite.httpServer?.address() as AddressInfo).port}`;
}

/** A raw request (fetch would neither show a 302 as is nor let us check every header). */
function send(
  host: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port: Number(port), method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A WebSocket handshake: the status it got (101 once upgraded), or `'no answer'` in 3 s. */
function upgrade(
  host: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<number | 'no answer'> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve, reject) => {
    const req = request({
      hostname,
      port: Number(port),
      path,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-version': '13',
        ...headers,
      },
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve('no answer');
    }, 3_000);
    req.on('upgrade', (res, socket) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end();
  });
}

describe('gatehouseDevProxy in a Vite dev server', () => {
  let vite: string;
  beforeAll(async () => {
    vite = await startVite(gatehouseDevProxy({ target }));
  });

  it('forwards /bff with the browser’s Host and cookie, and passes Set-Cookie back unchanged', async () => {
    const answer = await send(vite, 'GET', '/bff/user?slide=false', {
      cookie: 'gatehouse=s%3Aold',
      'x-csrf': '1',
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ from: 'gatehouse' });
    expect(answer.headers['set-cookie']).toEqual([
      'gatehouse=s%3Anew; Path=/; HttpOnly; SameSite=Strict',
    ]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/bff/user?slide=false' });
    // Gatehouse sees the SPA's origin (PUBLIC_URL), not its own port.
    expect(seen[0]?.headers.host).toBe(vite);
    expect(seen[0]?.headers.cookie).toBe('gatehouse=s%3Aold');
    expect(seen[0]?.headers['x-csrf']).toBe('1');
    expect(Object.keys(seen[0]?.headers ?? {}).filter((h) => h.startsWith('x-forwarded'))).toEqual(
      [],
    );
  });

  it('leaves the login redirect to the IdP as it is', async () => {
    const answer = await send(vite, 'GET', '/bff/login?returnTo=%2F&tenant=acme');
    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe('http://idp.test/auth?client_id=gh');
    expect(seen.map((s) => s.url)).toEqual(['/bff/login?returnTo=%2F&tenant=acme']);
  });

  it('forwards API calls with their method, headers and body', async () => {
    const answer = await send(
      vite,
      'POST',
      '/api/demo/notes',
      { 'content-type': 'application/json', 'x-csrf': '1', origin: `http://${vite}` },
      '{"text":"hello"}',
    );
    expect(answer.status).toBe(200);
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/api/demo/notes',
      body: '{"text":"hello"}',
    });
    expect(seen[0]?.headers.origin).toBe(`http://${vite}`);
    await send(vite, 'GET', '/api');
    await send(vite, 'GET', '/api?x=1');
    await send(vite, 'GET', '/admin/api/me');
    expect(seen.map((s) => s.url)).toEqual([
      '/api/demo/notes',
      '/api',
      '/api?x=1',
      '/admin/api/me',
    ]);
  });

  it('forwards WebSocket upgrades under /api (routes with websocket: true), Host and Origin kept', async () => {
    const origin = `http://${vite}`;
    await expect(upgrade(vite, '/api/demo/ws/echo', { origin })).resolves.toBe(101);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/api/demo/ws/echo' });
    // Gatehouse accepts an upgrade only with an Origin equal to PUBLIC_URL's (the SPA's).
    expect(seen[0]?.headers.origin).toBe(origin);
    expect(seen[0]?.headers.host).toBe(vite);
    expect(Object.keys(seen[0]?.headers ?? {}).filter((h) => h.startsWith('x-forwarded'))).toEqual(
      [],
    );
  });

  it('leaves look-alike paths and the SPA’s own /admin page to Vite', async () => {
    for (const path of ['/apiary', '/bffx/user', '/admin', '/admin/apis', '/', '/notes']) {
      const answer = await send(vite, 'GET', path, { accept: 'text/html' });
      expect(answer.body, path).toContain('<title>SPA</title>');
    }
    expect(seen).toEqual([]);
  });
});

describe('gatehouseDevProxy options', () => {
  it('leaves /admin/api to the SPA with admin: false and adds extra prefixes', async () => {
    const vite = await startVite(
      gatehouseDevProxy({ target, admin: false, extraPrefixes: ['/.well-known'] }),
    );
    const admin = await send(vite, 'GET', '/admin/api/me', { accept: 'text/html' });
    expect(admin.body).toContain('<title>SPA</title>');
    await send(vite, 'GET', '/.well-known/jwks.json');
    expect(seen.map((s) => s.url)).toEqual(['/.well-known/jwks.json']);
  });

  it('targets the repository’s dev Gatehouse by default, GATEHOUSE_DEV_TARGET when set', () => {
    const saved = process.env['GATEHOUSE_DEV_TARGET'];
    try {
      delete process.env['GATEHOUSE_DEV_TARGET'];
      expect(Object.values(gatehouseDevProxy())[0]?.target).toBe(DEFAULT_GATEHOUSE_DEV_TARGET);
      expect(DEFAULT_GATEHOUSE_DEV_TARGET).toBe('http://localhost:3100');
      process.env['GATEHOUSE_DEV_TARGET'] = 'http://localhost:4100/';
      expect(Object.values(gatehouseDevProxy())[0]?.target).toBe('http://localhost:4100');
      expect(Object.values(gatehouseDevProxy({ target: 'http://127.0.0.1:9' }))[0]?.target).toBe(
        'http://127.0.0.1:9',
      );
    } finally {
      if (saved === undefined) delete process.env['GATEHOUSE_DEV_TARGET'];
      else process.env['GATEHOUSE_DEV_TARGET'] = saved;
    }
  });

  it.each(['localhost:3100', 'http://localhost:3100/gatehouse', 'ftp://localhost', 'http://x?y'])(
    'refuses the target %s, which is no http(s) origin',
    (bad) => {
      expect(() => gatehouseDevProxy({ target: bad })).toThrow(/must be an http\(s\) origin/);
    },
  );

  it.each(['relative', '/trailing/', '/with?query', '/'])('refuses the extra prefix %s', (bad) => {
    expect(() => gatehouseDevProxy({ target, extraPrefixes: [bad] })).toThrow(/not a path prefix/);
  });
});
