// Run by proxy-timeouts.integration.test.ts inside a fresh network namespace in which
// BLACKHOLE_NET is routed into the loopback device, where packets for addresses nobody holds are
// dropped without a word: a connection attempt to it gets no answer at all, like an upstream
// behind a firewall that drops SYNs. Starts one Gatehouse with a route to such an address,
// calls it once and prints the outcome as JSON.
import { pino } from 'pino';
import { createGatehouse, loadConfig } from '../../src/index.ts';

export const BLACKHOLE_NET = '10.201.0.0/24';
const BLACKHOLE_UPSTREAM = 'http://10.201.0.2:8080';

async function main(timeoutMs: number): Promise<void> {
  const { config } = loadConfig({
    env: { GATEHOUSE_MODE: 'development' },
    input: {
      mode: 'development',
      publicUrl: 'http://localhost:3000',
      routes: [
        { prefix: '/api/blackhole', upstream: BLACKHOLE_UPSTREAM, tokenMode: 'none', timeoutMs },
      ],
    },
  });
  const gatehouse = createGatehouse(config, { logger: pino({ level: 'silent' }) });
  const server = await gatehouse.listen(0, '127.0.0.1');
  const { port } = server.address() as { port: number };
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/api/blackhole/x`, {
    headers: { 'x-csrf': '1' },
  });
  const body = (await res.json()) as { code?: string };
  const elapsedMs = Math.round(performance.now() - started);
  process.stdout.write(JSON.stringify({ status: res.status, code: body.code, elapsedMs }));
  server.closeAllConnections();
  server.close();
  await gatehouse.close();
}

if (process.argv[1] === import.meta.filename) await main(Number(process.argv[2]));
