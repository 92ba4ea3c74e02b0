/**
 * The two baselines of the benchmark, each in a process of its own: a reverse proxy with no
 * session at all that forwards `/api/demo/*` to the upstream with a fixed bearer token, either
 * on raw `node:http` (`BENCH_KIND=raw`) or as a bare Express 5 app (`BENCH_KIND=express`), both
 * with undici. What Gatehouse adds on top of these (session, CSRF, header policy, logging) is
 * what the benchmark puts a price on.
 *
 *   BENCH_KIND=raw|express PORT=… UPSTREAM=http://127.0.0.1:… BENCH_TOKEN=… node scripts/bench/plain-proxy.ts
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import express from 'express';
import { Agent, request } from 'undici';

const upstream = process.env.UPSTREAM ?? '';
const authorization = `Bearer ${process.env.BENCH_TOKEN ?? ''}`;
const dispatcher = new Agent({ connections: 128, keepAliveTimeout: 60_000 });
const PREFIX = '/api/demo';
const DROPPED = new Set(['host', 'cookie', 'connection', 'keep-alive', 'x-csrf', 'authorization']);

async function forward(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !DROPPED.has(name)) headers[name] = value;
  }
  headers.authorization = authorization;
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  try {
    const answer = await request(upstream + path, {
      dispatcher,
      method: req.method as 'GET',
      headers,
      body: hasBody ? req : null,
    });
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && name !== 'connection' && name !== 'keep-alive') out[name] = value;
    }
    res.writeHead(answer.statusCode, out);
    pipeline(answer.body, res, () => undefined);
  } catch {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  }
}

const port = Number(process.env.PORT);
if (process.env.BENCH_KIND === 'express') {
  const app = express();
  app.disable('x-powered-by');
  app.use(PREFIX, (req, res) => {
    void forward(req, res, req.url);
  });
  app.listen(port, '127.0.0.1');
} else {
  createServer((req, res) => {
    const url = req.url ?? '/';
    if (!url.startsWith(`${PREFIX}/`)) {
      res.writeHead(404).end();
      return;
    }
    void forward(req, res, url.slice(PREFIX.length));
  }).listen(port, '127.0.0.1');
}
process.on('SIGTERM', () => process.exit(0));
