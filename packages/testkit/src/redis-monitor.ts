import { connect, type Socket } from 'node:net';

/** The commands a Redis server ran, as MONITOR reports them, in order. */
export interface RedisMonitor {
  /** Every command seen so far: its name (lower case) and arguments. */
  readonly commands: string[][];
  stop(): void;
}

/**
 * Watches every command a Redis server runs (MONITOR) on a plain socket. ioredis's own
 * `monitor()` switches to monitoring mode a tick after MONITOR's `+OK`; when the first
 * monitored command arrives in the same packet as that `+OK`, it throws "Command queue state
 * error" instead. Resolves once Redis has acknowledged MONITOR.
 */
export function monitorRedis(port: number, host = '127.0.0.1'): Promise<RedisMonitor> {
  return new Promise((resolve, reject) => {
    const commands: string[][] = [];
    const socket: Socket = connect({ port, host });
    let buffered = '';
    let acknowledged = false;
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write('MONITOR\r\n'));
    socket.on('error', (error) => {
      if (!acknowledged) reject(error);
    });
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\r\n')) !== -1) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (!acknowledged) {
          if (line !== '+OK') {
            socket.destroy();
            reject(new Error(`MONITOR refused: ${line}`));
            return;
          }
          acknowledged = true;
          resolve({ commands, stop: () => socket.destroy() });
          continue;
        }
        const args = parseMonitorLine(line);
        if (args.length > 0) commands.push([args[0]!.toLowerCase(), ...args.slice(1)]);
      }
    });
  });
}

/** `+1700000000.123456 [0 127.0.0.1:5555] "set" "key" "a \"b\""` → `['set', 'key', 'a "b"']`. */
function parseMonitorLine(line: string): string[] {
  if (!line.startsWith('+')) return [];
  const args: string[] = [];
  for (const [, quoted] of line.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    args.push(
      (quoted ?? '').replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, escape: string) => {
        if (escape.startsWith('x') && escape.length === 3) {
          return String.fromCharCode(parseInt(escape.slice(1), 16));
        }
        return (
          ({ n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' } as Record<string, string>)[escape] ??
          escape
        );
      }),
    );
  }
  return args;
}
