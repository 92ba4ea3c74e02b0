import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a real Redis that can stop one client connection at a chosen command:
 * everything before that command reaches Redis at once, the command and everything after it on
 * the same connection wait until {@link HoldingRedisProxy.release} (Redis answering that
 * client slowly: a failover, a fork for a snapshot). Other connections are never held. What
 * Redis answers is passed back untouched.
 */
export interface HoldingRedisProxy {
  /** `redis://127.0.0.1:<port>`: where Gatehouse connects instead of Redis. */
  url: string;
  /**
   * Arms the proxy once: the first command (its arguments as strings, the command's name
   * lower-cased) for which `matches` is true is held with everything after it on its
   * connection. Resolves once a command is held.
   */
  holdAt(matches: (command: string[]) => boolean): Promise<void>;
  /** Sends what is held on and stops holding. */
  release(): void;
  close(): Promise<void>;
}

/** One client connection: its bytes not yet passed on, split into whole commands. */
interface Link {
  client: Socket;
  upstream: Socket;
  pending: Buffer;
  /** Holding: every byte from the held command on waits here. */
  held: Buffer[] | undefined;
}

/**
 * The end of the first whole command in `buffer` (RESP: an array of bulk strings, as every
 * Redis client sends), with its arguments; undefined while it is incomplete.
 */
function firstCommand(buffer: Buffer): { end: number; args: string[] } | undefined {
  const line = (from: number) => {
    const at = buffer.indexOf('\r\n', from);
    return at === -1 ? undefined : { text: buffer.toString('latin1', from, at), next: at + 2 };
  };
  const header = line(0);
  if (!header) return undefined;
  if (!header.text.startsWith('*')) throw new Error(`not a RESP array: ${header.text}`);
  const args: string[] = [];
  let at = header.next;
  for (let i = 0; i < Number(header.text.slice(1)); i += 1) {
    const length = line(at);
    if (!length) return undefined;
    const end = length.next + Number(length.text.slice(1));
    if (buffer.length < end + 2) return undefined;
    args.push(buffer.toString('utf8', length.next, end));
    at = end + 2;
  }
  args[0] = args[0]?.toLowerCase() ?? '';
  return { end: at, args };
}

export async function startHoldingRedisProxy(redisPort: number): Promise<HoldingRedisProxy> {
  const links = new Set<Link>();
  let armed: { matches: (command: string[]) => boolean; held: () => void } | undefined;

  const feed = (link: Link, chunk: Buffer) => {
    if (link.held) {
      link.held.push(chunk);
      return;
    }
    link.pending = Buffer.concat([link.pending, chunk]);
    let passed = 0;
    for (;;) {
      const command = firstCommand(link.pending.subarray(passed));
      if (!command) break;
      if (armed?.matches(command.args)) {
        const { held } = armed;
        armed = undefined;
        link.held = [link.pending.subarray(passed)];
        link.pending = Buffer.alloc(0);
        held();
        return;
      }
      link.upstream.write(link.pending.subarray(passed, passed + command.end));
      passed += command.end;
    }
    link.pending = link.pending.subarray(passed);
  };

  const server: Server = createServer((client) => {
    const upstream = connect(redisPort, '127.0.0.1');
    const link: Link = { client, upstream, pending: Buffer.alloc(0), held: undefined };
    links.add(link);
    const end = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => feed(link, chunk));
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    url: `redis://127.0.0.1:${port}`,
    holdAt: (matches) =>
      new Promise<void>((held) => {
        armed = { matches, held };
      }),
    release() {
      armed = undefined;
      for (const link of links) {
        const held = link.held;
        if (!held) continue;
        link.held = undefined;
        for (const chunk of held) feed(link, chunk);
      }
    },
    async close() {
      for (const link of links) {
        link.client.destroy();
        link.upstream.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
