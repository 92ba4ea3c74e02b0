/**
 * The benchmark's upstream API, in a process of its own: `GET /me` answers a small JSON
 * document, `POST /echo` reads the whole body and answers its length. A request without a
 * bearer token is refused (401), so a contender that forgets the token cannot look fast.
 *
 *   PORT=4100 node scripts/bench/upstream.ts
 */
import { createServer } from 'node:http';

const ME = JSON.stringify({
  sub: 'alice',
  name: 'Alice Anderson',
  email: 'alice@acme.test',
  roles: ['gatehouse-admin'],
  notes: 3,
});

const server = createServer((req, res) => {
  const authorization = req.headers.authorization;
  if (!authorization?.startsWith('Bearer ') || authorization.length < 20) {
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"no token"}');
    req.resume();
    return;
  }
  if (req.method === 'POST') {
    let received = 0;
    req.on('data', (chunk: Buffer) => (received += chunk.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ received }));
    });
    req.on('error', () => res.destroy());
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(ME);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
