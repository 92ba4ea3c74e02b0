import { Router, raw } from 'express';
import type { RequestHandler } from 'express';
import { verifiedTokenOf } from './access-token.ts';
import type { DemoApiStats } from './types.ts';

/** Reads a query integer, falling back when absent or not a plain number, clamped to [min, max]. */
function boundedInt(value: unknown, fallback: number, min: number, max: number): number {
  const parsed = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : fallback;
  return Math.min(max, Math.max(min, parsed));
}

/** `GET /events`: `count` ticks (default 3, max 100) every `intervalMs` (default 100, min 10), then ends. */
export function streamTicks(stats: DemoApiStats): RequestHandler {
  return function streamTicks(req, res) {
    const count = boundedInt(req.query.count, 3, 1, 100);
    const intervalMs = boundedInt(req.query.intervalMs, 100, 10, 60_000);
    const { sub } = verifiedTokenOf(res);
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    stats.openEventStreams += 1;
    let sent = 0;
    const timer = setInterval(() => {
      sent += 1;
      res.write(`event: tick\ndata: ${JSON.stringify({ n: sent, sub })}\n\n`);
      if (sent >= count) res.end();
    }, intervalMs);
    // 'close' fires both after end() and when the client goes away mid-stream.
    res.on('close', () => {
      clearInterval(timer);
      stats.openEventStreams -= 1;
    });
  };
}

/** Token-free endpoints that let the BFF's proxy tests observe exactly what reached upstream. */
export function createPublicRouter(stats: DemoApiStats): Router {
  const router = Router();
  router.all('/echo{/*rest}', raw({ type: () => true, limit: '1mb' }), (req, res) => {
    const headers: Record<string, unknown> = { ...req.headers };
    if (headers.authorization !== undefined) headers.authorization = '<present>';
    const body: unknown = req.body;
    res.json({
      method: req.method,
      path: req.originalUrl,
      headers,
      body: Buffer.isBuffer(body) ? body.toString('utf8') : '',
    });
  });
  router.get('/slow', (req, res) => {
    const ms = boundedInt(req.query.ms, 1000, 0, 30_000);
    stats.pendingSlowRequests += 1;
    const timer = setTimeout(() => res.json({ waitedMs: ms }), ms);
    res.on('close', () => {
      clearTimeout(timer);
      stats.pendingSlowRequests -= 1;
    });
  });
  router.get('/redirect', (_req, res) => {
    res.status(302).location('http://example.invalid/elsewhere').end();
  });
  router.get('/set-cookie', (_req, res) => {
    res.set('Set-Cookie', 'upstream=1; Path=/').json({ ok: true });
  });
  router.post('/upload', async (req, res) => {
    // Counted chunk by chunk, never buffered: proves a proxy streams large bodies through.
    let bytes = 0;
    for await (const chunk of req) bytes += (chunk as Buffer).length;
    res.json({ bytes });
  });
  router.get('/stats', (_req, res) => {
    res.json(stats);
  });
  router.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });
  return router;
}
