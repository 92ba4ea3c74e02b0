import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { checkBearer, type AccessTokenVerifier } from './access-token.ts';

/** The one WebSocket endpoint: `GET /ws/echo` with a bearer token. */
export const ECHO_SOCKET_PATH = '/ws/echo';
const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * A WebSocket echo behind the same bearer check as the HTTP routes: a valid access token (jose,
 * the issuer's remote JWKS) or a 401 with the RFC 6750 challenge before any upgrade. The first
 * message reports the verified token (and the request headers, `authorization` redacted, so a
 * proxy's tests can see what reached the API); every message after it is echoed unchanged.
 * Returns a function that closes every open socket (for shutdown).
 */
export function attachEchoSocket(server: Server, verify: AccessTokenVerifier): () => void {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
  });
  wss.on('connection', (socket: WebSocket, req: IncomingMessage, token: unknown) => {
    socket.on('error', () => socket.terminate());
    const headers: Record<string, unknown> = { ...req.headers };
    if (headers.authorization !== undefined) headers.authorization = '<present>';
    const { sub, iss, aud } = token as { sub: string; iss: string; aud: unknown };
    socket.send(JSON.stringify({ type: 'welcome', sub, iss, aud, headers }));
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== ECHO_SOCKET_PATH) return refuse(socket, 404, { error: 'not_found' });
    checkBearer(verify, req.headers.authorization).then(
      (check) => {
        if (!check.ok) {
          return refuse(
            socket,
            401,
            {
              error: check.error,
              ...(check.description === undefined ? {} : { error_description: check.description }),
            },
            { 'WWW-Authenticate': check.challenge },
          );
        }
        if (socket.destroyed) return;
        wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req, check.token));
      },
      () => refuse(socket, 500, { error: 'internal_error' }),
    );
  });

  return () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
  };
}

function refuse(
  socket: Duplex,
  status: number,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): void {
  if (socket.destroyed) return;
  const json = JSON.stringify(body);
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(json)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${json}`);
}
