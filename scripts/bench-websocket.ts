/**
 * WebSocket benchmark: one in-process stack (memory stores, one signed-in session) and a plain
 * `ws` echo server. The same load runs twice in one process — directly against the echo server
 * (the baseline) and through Gatehouse (`/api/bench-echo`, `websocket: true`) — and the figures
 * are printed side by side: round trips one at a time (latency), then a pipelined burst on
 * several sockets (messages per second and process CPU µs per message; the client, Gatehouse and
 * the echo server share the process, so the difference is what Gatehouse adds).
 *
 *   node scripts/bench-websocket.ts [--messages 20000 --sockets 8 --size 256]
 */
import { performance } from 'node:perf_hooks';
import { WebSocket, WebSocketServer } from 'ws';
import { createCookieFetch, signIn, startStack } from '@gatehouse/testkit';
import { scriptOptions } from './bench/script-options.ts';

const values = scriptOptions(import.meta.url, {
  messages: { type: 'string', default: '20000' },
  sockets: { type: 'string', default: '8' },
  size: { type: 'string', default: '256' },
});
const messages = Number(values.messages);
const sockets = Number(values.sockets);
const size = Number(values.size);
if (![messages, sockets, size].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write('--messages, --sockets and --size must be positive integers\n');
  process.exit(2);
}

const echo = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
await new Promise((resolve) => echo.once('listening', resolve));
echo.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
});
const echoOrigin = `http://127.0.0.1:${(echo.address() as { port: number }).port}`;

const stack = await startStack({
  configure: (input) => ({
    ...input,
    routes: [
      ...(input.routes ?? []),
      { prefix: '/api/bench-echo', upstream: echoOrigin, tokenMode: 'user', websocket: true },
    ],
  }),
});
const http = createCookieFetch();
await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
const cookie = await http.jar.getCookieString(stack.origin);
const gatehouse = stack.gatehouses[0]!;

async function connect(viaGatehouse: boolean): Promise<WebSocket> {
  const ws = viaGatehouse
    ? new WebSocket(`${gatehouse.origin.replace(/^http/, 'ws')}/api/bench-echo/`, {
        headers: { cookie, origin: gatehouse.publicOrigin },
        perMessageDeflate: false,
      })
    : new WebSocket(`${echoOrigin.replace(/^http/, 'ws')}/`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

const payload = Buffer.alloc(size, 1);

/** Round trips one at a time on one socket: percentiles in ms. */
async function roundTrips(viaGatehouse: boolean, count: number) {
  const ws = await connect(viaGatehouse);
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const start = performance.now();
    await new Promise<void>((resolve) => {
      ws.once('message', () => resolve());
      ws.send(payload);
    });
    times.push(performance.now() - start);
  }
  ws.close();
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}

/** `messages` echoes over `sockets` sockets, each socket's share sent at once. */
async function burst(viaGatehouse: boolean) {
  const all = await Promise.all(Array.from({ length: sockets }, () => connect(viaGatehouse)));
  const share = Math.ceil(messages / sockets);
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    all.map(
      (ws) =>
        new Promise<void>((resolve) => {
          let received = 0;
          ws.on('message', () => {
            received += 1;
            if (received === share) resolve();
          });
          for (let i = 0; i < share; i += 1) ws.send(payload);
        }),
    ),
  );
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  for (const ws of all) ws.close();
  const sent = share * sockets;
  return { perSecond: sent / seconds, cpuMicros: (used.user + used.system) / sent };
}

const rows: Array<[string, string, string, string]> = [];
const warmUp = 500;
await roundTrips(false, warmUp);
await roundTrips(true, warmUp);
const directRt = await roundTrips(false, 2000);
const proxiedRt = await roundTrips(true, 2000);
const directBurst = await burst(false);
const proxiedBurst = await burst(true);

const fmt = (n: number, digits = 2) => n.toFixed(digits);
rows.push(
  [
    'round trip p50 (ms)',
    fmt(directRt.p50, 3),
    fmt(proxiedRt.p50, 3),
    fmt(proxiedRt.p50 / directRt.p50),
  ],
  [
    'round trip p99 (ms)',
    fmt(directRt.p99, 3),
    fmt(proxiedRt.p99, 3),
    fmt(proxiedRt.p99 / directRt.p99),
  ],
  [
    `echoes/s (${sockets} sockets)`,
    fmt(directBurst.perSecond, 0),
    fmt(proxiedBurst.perSecond, 0),
    fmt(proxiedBurst.perSecond / directBurst.perSecond),
  ],
  [
    'process CPU µs per echo',
    fmt(directBurst.cpuMicros, 1),
    fmt(proxiedBurst.cpuMicros, 1),
    fmt(proxiedBurst.cpuMicros / directBurst.cpuMicros),
  ],
);
process.stdout.write(
  `WebSocket echo, ${size}-byte messages, ${messages} in the burst (baseline: direct to the echo server)\n`,
);
process.stdout.write(
  `${['figure', 'direct (baseline)', 'through Gatehouse', 'ratio'].join(' | ')}\n`,
);
for (const row of rows) process.stdout.write(`${row.join(' | ')}\n`);

await stack.close();
echo.close();
