import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from 'prom-client';

/** What the listener answers with: a registry, or anything that renders the same way. */
export type MetricsSource = Pick<Registry, 'metrics' | 'contentType'>;

/** One process's metrics as data (`Registry.getMetricsAsJSON()`), to be merged with others'. */
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/**
 * The metrics listener, apart from the public one: `GET /metrics` answers the registry in the
 * Prometheus text format; anything else is a 404. Bind it where only the scraper reaches it.
 */
export function listenMetrics(
  registry: MetricsSource,
  port: number,
  host: string,
  logger: Logger,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  });
  // A scraper that hangs up mid-answer must not take the process with it.
  server.on('clientError', (_error, socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', (error) => logger.error({ err: error }, 'metrics listener error'));
      resolve(server);
    });
  });
}

/**
 * The metrics listener of a cluster's primary (`GATEHOUSE_WORKERS` > 1): each scrape gets every
 * worker's snapshot from `collect` and answers their merge (prom-client's rules: counters and
 * histograms summed, each default metric as prom-client aggregates it). A worker's metrics alone
 * would be wrong: the workers share the port, so each scrape would reach one of them at random.
 */
export function listenMergedMetrics(
  collect: () => Promise<MetricsSnapshot[]>,
  port: number,
  host: string,
  logger: Logger,
): Promise<Server> {
  const source: MetricsSource = {
    contentType: AggregatorRegistry.PROMETHEUS_CONTENT_TYPE,
    metrics: async () => AggregatorRegistry.aggregate(await collect()).metrics(),
  };
  return listenMetrics(source, port, host, logger);
}
