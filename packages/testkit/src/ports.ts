import { closeSync, mkdirSync, openSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A TCP port that is free on 127.0.0.1 and stays ours until a server binds it.
 *
 * Test processes pick ports before starting the server that will listen on them (Redis,
 * nginx, a Gatehouse whose origin its config names). A port the OS hands out with `listen(0)`
 * comes from the ephemeral range, the same range the kernel takes the local port of every
 * outgoing connection from: a Sentinel group or a Cluster opens dozens of those while the
 * picked port waits to be bound, and one of them taking it failed a run with EADDRINUSE.
 * So the port comes from outside that range, at random, and is reserved across the test
 * processes of a run (vitest's workers, Playwright's) with a file created exclusively; a
 * reservation older than ten minutes is stale and may be taken again.
 */
export async function freePort(): Promise<number> {
  const candidates = portsOutsideEphemeralRange();
  if (candidates.length === 0) return osPickedPort();
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = candidates[Math.floor(Math.random() * candidates.length)]!;
    if (!reserve(port)) continue;
    if (await canBind(port)) return port;
  }
  return osPickedPort();
}

const RESERVATION_DIR = join(tmpdir(), 'gatehouse-test-ports');
const STALE_MS = 10 * 60_000;

function reserve(port: number): boolean {
  mkdirSync(RESERVATION_DIR, { recursive: true });
  const file = join(RESERVATION_DIR, String(port));
  try {
    closeSync(openSync(file, 'wx'));
    return true;
  } catch {
    try {
      if (Date.now() - statSync(file).mtimeMs < STALE_MS) return false;
      const now = new Date();
      utimesSync(file, now, now);
      return true;
    } catch {
      return false;
    }
  }
}

let ranges: number[] | undefined;

/** Ports 10000–65535 that the kernel never gives an outgoing connection. */
function portsOutsideEphemeralRange(): number[] {
  if (ranges) return ranges;
  // Without Linux's setting, below both Linux's default range and macOS's (49152–65535).
  let low = 32768;
  let high = 65535;
  try {
    const [from, to] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (Number.isInteger(from) && Number.isInteger(to)) [low, high] = [from!, to!];
  } catch {
    // Not Linux: the defaults above.
  }
  ranges = [];
  for (let port = 10_000; port < low; port += 1) ranges.push(port);
  for (let port = Math.max(high + 1, 10_000); port <= 65_535; port += 1) ranges.push(port);
  return ranges;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** The OS's pick, for a machine whose whole range is ephemeral. */
function osPickedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
