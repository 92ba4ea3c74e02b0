import { spawnSync } from 'node:child_process';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieFetch, signIn, startStack, type Stack } from '@gatehouse/testkit';
import { createLogger, type ConfigInput } from '../src/index.ts';
import { BLACKHOLE_NET } from './support/blackhole-upstream.ts';
import { jsonLines } from './support/json-lines.ts';

const blackholeScript = new URL('./support/blackhole-upstream.ts', import.meta.url).pathname;

/**
 * A route's `timeoutMs` covers connecting as well as waiting for the headers, and
 * `idleTimeoutMs` bounds silence in the upstream's body.
 */
describe('route timeouts', () => {
  it('answers 504 within the route’s timeout when the upstream drops connection attempts', () => {
    // A network namespace of its own (iproute2 + util-linux, root or user namespaces): there,
    // BLACKHOLE_NET goes into the loopback device and SYNs to it vanish without an answer.
    const timeoutMs = 1000;
    const run = spawnSync(
      'unshare',
      [
        '--map-root-user',
        '--net',
        'sh',
        '-c',
        `ip link set lo up && ip route add ${BLACKHOLE_NET} dev lo && exec "$0" "$@"`,
        process.execPath,
        blackholeScript,
        String(timeoutMs),
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const outcome = JSON.parse(run.stdout) as { status: number; code: string; elapsedMs: number };
    expect(outcome).toMatchObject({ status: 504, code: 'upstream_timeout' });
    expect(outcome.elapsedMs).toBeGreaterThanOrEqual(timeoutMs - 50);
    // undici's own connect timeout is 10 s: this is the route's budget, not that one.
    expect(outcome.elapsedMs).toBeLessThan(timeoutMs + 6000);
  });

  describe('against live upstreams', () => {
    let stack: Stack;
    let stalling: Server;
    let cookie: string;
    const stalled: ServerResponse[] = [];
    const upstreamClosed: boolean[] = [];
    const lines: Array<{ level: number; msg?: string }> = [];
    const csrf = { 'x-csrf': '1' };

    beforeAll(async () => {
      // Sends its headers and a first chunk, then nothing more.
      stalling = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write('first chunk');
        const index = stalled.push(res) - 1;
        upstreamClosed[index] = false;
        res.on('close', () => (upstreamClosed[index] = true));
      });
      await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve));
      const stallingPort = (stalling.address() as AddressInfo).port;
      const sink = jsonLines(lines);
      stack = await startStack({
        deps: { logger: createLogger('info', sink) },
        configure: (input: ConfigInput) => ({
          ...input,
          routes: [
            ...(input.routes ?? []),
            {
              prefix: '/api/stalling',
              upstream: `http://127.0.0.1:${stallingPort}`,
              tokenMode: 'none',
              idleTimeoutMs: 1000,
            },
            {
              prefix: '/api/events',
              upstream: `${input.routes?.[0]?.upstream}/events`,
              tokenMode: 'user',
              idleTimeoutMs: 2000,
            },
            {
              prefix: '/api/upload',
              upstream: `${input.routes?.[0]?.upstream}/public/upload`,
              tokenMode: 'none',
              timeoutMs: 1000,
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
      stalling?.closeAllConnections();
      await new Promise((resolve) => stalling?.close(resolve));
    });

    it('cuts an answer whose upstream goes silent for longer than idleTimeoutMs', async () => {
      const url = new URL(`${stack.origin}/api/stalling/x`);
      const outcome = await new Promise<{ status: number; body: string; cut: boolean }>(
        (resolve, reject) => {
          const req = request(url, { headers: csrf }, (res) => {
            let body = '';
            res.on('data', (chunk: Buffer) => (body += chunk.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cut: false }));
            res.on('error', () => resolve({ status: res.statusCode ?? 0, body, cut: true }));
          });
          req.on('error', reject);
          req.end();
        },
      );
      expect(outcome).toEqual({ status: 200, body: 'first chunk', cut: true });
      // Gatehouse let go of the upstream too.
      await expect.poll(() => upstreamClosed, { timeout: 5000 }).toEqual([true]);
      expect(lines.map((line) => line.msg)).toContain('API went silent mid-answer (idle timeout)');
      expect(lines.filter((line) => line.level >= 50)).toEqual([]);
      // And it goes on serving.
      expect((await fetch(`${stack.origin}/healthz`)).status).toBe(200);
    });

    it('keeps an event stream open for longer than idleTimeoutMs while events keep coming', async () => {
      // 12 events 200 ms apart: 2.4 s in all, never 2 s of silence.
      const res = await fetch(`${stack.origin}/api/events?count=12&intervalMs=200`, {
        headers: { ...csrf, cookie },
      });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text.match(/^event: tick$/gm)).toHaveLength(12);
    });

    it('does not count a slowly flowing upload against timeoutMs', async () => {
      // 8 chunks 250 ms apart (2 s in all) on a route whose timeoutMs is 1 s.
      const chunks = Array.from({ length: 8 }, () => new Uint8Array(1024));
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const chunk = chunks.shift();
          if (!chunk) {
            controller.close();
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 250));
          controller.enqueue(chunk);
        },
      });
      const res = await fetch(`${stack.origin}/api/upload`, {
        method: 'POST',
        headers: { ...csrf, 'content-type': 'application/octet-stream' },
        body,
        duplex: 'half',
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { bytes: number }).bytes).toBe(8 * 1024);
    });
  });
});
