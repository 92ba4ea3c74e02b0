// The benchmark's latency probe (scripts/bench/paced-load.ts) against a local server. Only
// properties that hold on any machine are asserted: how many requests were scheduled, sent and
// counted, and lower bounds of latency that the server itself imposes (a slower machine only
// raises them). No upper bound on a latency, no timing.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { PacedConfig, PacedResult } from '../../../scripts/bench/paced-load.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-paced-load-'));
let server: Server | undefined;

/** Serves `answer(n)` for the n-th request (1-based); resolves with the origin. */
async function serve(
  answer: (n: number, res: ServerResponse) => void,
): Promise<{ origin: string; seen: () => number }> {
  let count = 0;
  server = createServer((req, res) => {
    count += 1;
    const n = count;
    req.resume();
    req.on('end', () => answer(n, res));
  });
  await new Promise<void>((ready) => server?.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, seen: () => count };
}

async function paced(config: Partial<PacedConfig> & { url: string }): Promise<PacedResult> {
  const configFile = join(dir, 'config.json');
  const resultFile = join(dir, 'result.json');
  const full: PacedConfig = {
    method: 'GET',
    headers: { accept: 'application/json' },
    rate: 100,
    seconds: 1,
    warmupSeconds: 0,
    connections: 4,
    arrivals: 'constant',
    timeoutSeconds: 30,
    ...config,
  };
  writeFileSync(configFile, JSON.stringify(full));
  await run(process.execPath, ['scripts/bench/paced-load.ts', configFile, resultFile], {
    cwd: root,
    timeout: 60_000,
  });
  return JSON.parse(readFileSync(resultFile, 'utf8')) as PacedResult;
}

describe('the paced latency probe', () => {
  afterEach(async () => {
    await new Promise((done) => (server ? server.close(done) : done(undefined)));
    server = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps sending while an answer stalls, and measures the wait from the intended send times', async () => {
    // The first answer is held 300 ms; with one connection, the requests scheduled meanwhile
    // (every 10 ms) wait behind it. Request i (i ≤ 11) cannot finish before 300 ms after
    // request 1's intended time, so its latency from its own intended time is ≥ 200 ms: the
    // 11 largest values are, so p90 of 100 is. Timed from the actual send (a closed loop),
    // only the first would be slow.
    const { origin, seen } = await serve((n, res) => {
      const reply = () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      if (n === 1) setTimeout(reply, 300);
      else reply();
    });
    const result = await paced({ url: `${origin}/me`, rate: 100, seconds: 1, connections: 1 });
    expect(result.sent).toBe(100);
    expect(result.ok).toBe(100);
    expect(result.failures).toBe(0);
    expect(seen()).toBe(100);
    expect(result.maxMs).toBeGreaterThanOrEqual(300);
    expect(result.p90Ms).toBeGreaterThanOrEqual(200);
    expect(result.p99Ms).toBeGreaterThanOrEqual(result.p90Ms);
    expect(result.p90Ms).toBeGreaterThanOrEqual(result.p50Ms);
  });

  it('leaves the warm-up out, counts other statuses as failures, sends bodies (Poisson arrivals)', async () => {
    const bodies: string[] = [];
    const { origin, seen } = await serve((n, res) => {
      // Every 4th request fails.
      res.writeHead(n % 4 === 0 ? 503 : 200).end();
    });
    server?.prependListener('request', (req) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => bodies.push(body));
    });
    const result = await paced({
      url: `${origin}/echo`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"note":"x"}',
      rate: 400,
      seconds: 0.5,
      warmupSeconds: 0.5,
      arrivals: 'poisson',
    });
    // 200 warm-up requests, then 200 measured ones: all sent, only the measured counted.
    expect(seen()).toBe(400);
    expect(result.sent).toBe(200);
    expect(result.ok + result.failures).toBe(200);
    expect(result.failures).toBeGreaterThan(0);
    expect(result.arrivals).toBe('poisson');
    expect(new Set(bodies)).toEqual(new Set(['{"note":"x"}']));
  });

  it('counts requests the server never answers as failures, not as latencies', async () => {
    // Every answer is cut: the connection is destroyed without a response.
    const { origin } = await serve((_n, res) => res.socket?.destroy());
    const result = await paced({ url: `${origin}/me`, rate: 50, seconds: 0.4 });
    expect(result.sent).toBe(20);
    expect(result.ok).toBe(0);
    expect(result.failures).toBe(20);
  });
});
