import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouse, loadConfig, type Gatehouse } from '../src/index.ts';

/**
 * Limits on slow clients (`Gatehouse.listen`): a client trickling its headers or stalling its
 * body gets 408 and loses the connection; an idle keep-alive connection and a long answer
 * (an event stream) are not limited by them. Short limits here; the defaults are in the README.
 */
describe('slow clients', () => {
  let gatehouse: Gatehouse;
  let server: Server;
  let upstream: Server;
  let port: number;

  beforeAll(async () => {
    // An event stream of 15 events 200 ms apart: 3 s, longer than the request timeout below.
    // An upload is read to its end before the answer.
    upstream = createServer((req, res) => {
      if (req.method === 'POST') {
        req.resume().on('end', () => res.end('uploaded'));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let sent = 0;
      const timer = setInterval(() => {
        res.write(`event: tick\ndata: ${(sent += 1)}\n\n`);
        if (sent === 15) res.end();
      }, 200);
      res.on('close', () => clearInterval(timer));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const { config } = loadConfig({
      env: { GATEHOUSE_MODE: 'development' },
      input: {
        mode: 'development',
        publicUrl: 'http://localhost:3000',
        routes: [
          {
            prefix: '/api/events',
            upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
            tokenMode: 'none',
          },
        ],
      },
    });
    gatehouse = createGatehouse(config, { logger: pino({ level: 'silent' }) });
    server = await gatehouse.listen(0, '127.0.0.1', {
      headersTimeoutMs: 1000,
      requestTimeoutMs: 2000,
      checkIntervalMs: 100,
    });
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await gatehouse?.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  /** A raw connection and everything it receives until the server closes it. */
  async function rawConnection(): Promise<{ socket: Socket; received: Promise<string> }> {
    const socket = connect(port, '127.0.0.1');
    // The server may reset the connection after its 408 while the test still writes: that is
    // how the exchange ends, not a failure ('close' follows and settles `received`).
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    const received = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
    });
    return { socket, received };
  }

  it('uses the documented defaults', async () => {
    const other = await gatehouse.listen(0, '127.0.0.1');
    try {
      expect(other.keepAliveTimeout).toBe(65_000);
      expect(other.headersTimeout).toBe(30_000);
      expect(other.requestTimeout).toBe(600_000);
    } finally {
      other.close();
    }
  });

  it('answers 408 and closes when the headers trickle in too slowly', async () => {
    const { socket, received } = await rawConnection();
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write('X-Slow: 1\r\n');
    }, 200);
    try {
      expect(await received).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(trickle);
    }
  });

  it('answers 408 and closes when a request body stalls', async () => {
    const { socket, received } = await rawConnection();
    socket.write(
      'POST /api/events HTTP/1.1\r\nHost: localhost\r\nX-CSRF: 1\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n0123456789',
    );
    expect(await received).toMatch(/HTTP\/1\.1 408 /);
  });

  it('leaves an idle keep-alive connection open, and an event stream longer than the request timeout', async () => {
    const { socket, received } = await rawConnection();
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await once(socket, 'data');
    // Idle for longer than the headers timeout: still open, and still usable.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(socket.destroyed).toBe(false);
    socket.write(
      'GET /api/events HTTP/1.1\r\nHost: localhost\r\nX-CSRF: 1\r\nConnection: close\r\n\r\n',
    );
    const text = await received;
    expect(text.match(/^event: tick$/gm)).toHaveLength(15);
  });
});
