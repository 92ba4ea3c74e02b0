// The deployable process on SIGTERM: keep-alive clients, an API call still waiting for its
// upstream and an open event stream; it must answer the call with `Connection: close`, end the
// stream, close the idle connections and exit 0 well within its grace period.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import {
  Agent,
  createServer,
  request,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@gatehouse/testkit';

const mainScript = resolve(import.meta.dirname, '../src/main.ts');
const GRACE_SECONDS = 10;

describe('apps/server shutdown on SIGTERM', () => {
  let upstream: Server;
  let child: ChildProcess;
  let dir: string;
  let origin: string;
  const held: ServerResponse[] = [];
  /** The process's log (pino, on stdout) and anything else it printed. */
  const output: string[] = [];
  const errorOutput: string[] = [];

  beforeAll(async () => {
    // The upstream: `/slow` answers only when the test says so; `/events` streams forever.
    upstream = createServer((req, res) => {
      if (req.url === '/slow') {
        held.push(res);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let n = 0;
      const timer = setInterval(() => res.write(`event: tick\ndata: ${(n += 1)}\n\n`), 100);
      res.on('close', () => clearInterval(timer));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const upstreamOrigin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

    dir = mkdtempSync(join(tmpdir(), 'gatehouse-shutdown-'));
    const configPath = join(dir, 'config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        mode: 'development',
        publicUrl: 'http://localhost:3000',
        routes: [{ prefix: '/api/up', upstream: upstreamOrigin, tokenMode: 'none' }],
      }),
    );
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [mainScript], {
      env: {
        PATH: process.env.PATH,
        GATEHOUSE_CONFIG: configPath,
        PORT: String(port),
        HOST: '127.0.0.1',
        SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS),
        // No metrics listener: the default port may be taken by another suite's process.
        METRICS_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => errorOutput.push(chunk.toString()));
    await new Promise<void>((resolveListening, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no start: ${output.join('')}${errorOutput.join('')}`)),
        15_000,
      );
      child.stdout?.on('data', () => {
        if (output.join('').includes('gatehouse listening')) {
          clearTimeout(timer);
          resolveListening();
        }
      });
      child.once('exit', () =>
        reject(new Error(`exited early: ${output.join('')}${errorOutput.join('')}`)),
      );
    });
  });
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    upstream?.closeAllConnections();
    await new Promise((done) => upstream?.close(done));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function send(
    agent: Agent,
    path: string,
  ): { socket: Promise<Socket>; response: Promise<IncomingMessage> } {
    const req = request(`${origin}${path}`, { agent, headers: { 'x-csrf': '1' } });
    const socket = new Promise<Socket>((done) => req.once('socket', done));
    const response = new Promise<IncomingMessage>((done, reject) => {
      req.once('response', done);
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

  it('drains and exits 0', async () => {
    // Separate pools: the idle connections must not be reused for the calls below.
    const idleAgent = new Agent({ keepAlive: true });
    const agent = new Agent({ keepAlive: true });
    const idle = [1, 2, 3].map(() => send(idleAgent, '/healthz'));
    const idleSockets = await Promise.all(idle.map((sent) => sent.socket));
    for (const sent of idle) await readAll(await sent.response);
    const idleClosed = Promise.all(idleSockets.map((socket) => once(socket, 'close')));

    const slow = send(agent, '/api/up/slow');
    await expect.poll(() => held.length).toBe(1);
    const events = await send(agent, '/api/up/events').response;
    expect(events.statusCode).toBe(200);
    const [first] = (await once(events, 'data')) as [Buffer];
    expect(first.toString()).toContain('event: tick');

    const signalled = Date.now();
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    child.kill('SIGTERM');

    // The stream ends cleanly and the idle connections close, while the call is still held.
    await readAll(events);
    expect(events.complete).toBe(true);
    await idleClosed;
    expect(child.exitCode).toBeNull();

    held[0]?.writeHead(200, { 'content-type': 'application/json' }).end('{"done":true}');
    const answer = await slow.response;
    expect(answer.statusCode).toBe(200);
    expect(answer.headers.connection).toBe('close');
    expect(await readAll(answer)).toBe('{"done":true}');

    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(GRACE_SECONDS * 1000);
    const lines = output
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; msg: string; drained?: boolean });
    const from = lines.findIndex((line) => line.msg === 'shutting down');
    expect(from).toBeGreaterThan(0);
    // A clean drain: nothing worth a warning, and every connection closed by itself.
    expect(lines.slice(from).filter((line) => line.level >= 40)).toEqual([]);
    // The access line of the last request may be written just after this one: find it by name.
    const stopped = lines.slice(from).filter((line) => line.msg === 'stopped');
    expect(stopped).toEqual([expect.objectContaining({ drained: true, destroyed: 0 })]);
    agent.destroy();
    idleAgent.destroy();
  });
});
