import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { Tracing } from './tracing.ts';
import { TRACING_PROTOCOLS, tracingEnabled, tracingProtocol } from './tracing-switch.ts';
import { runPrimary } from './primary.ts';
import { answerMetricsRequests } from './cluster-metrics.ts';

/** After the drain: how long closing the stores (Redis) may take. */
const CLOSE_TIMEOUT_MS = 5000;
/**
 * A configuration error: the process stops, and a cluster's primary does not restart a worker
 * that exits with it (it stops them all and exits with it too).
 */
const CONFIGURATION_ERROR = 2;

/**
 * The deployable Gatehouse: reads the config (GATEHOUSE_CONFIG + environment), builds the app,
 * listens, and shuts down gracefully. `--check-config` validates and exits.
 */
async function main(): Promise<void> {
  if (process.argv[2] === 'keys') {
    const { keysCommand } = await import('./keys.ts');
    process.exitCode = keysCommand(process.argv.slice(3), process.stdout);
    return;
  }
  // Tracing first: its instrumentations patch express, ioredis and http only when they are
  // imported after it, so the app (@gatehouse/core) is imported below, not at the top.
  const tracing = process.argv.includes('--check-config') ? undefined : await startTracing();
  const { ConfigError, createGatehouse, createLogger, listenMergedMetrics, loadConfig } =
    await import('@gatehouse/core');
  const env = { ...process.env };
  // Serve the built SPA (`pnpm build`) when there is one and nothing else was configured; in
  // `pnpm dev` Vite serves it instead.
  const builtSpa = resolve(import.meta.dirname, '../../web/dist');
  if (
    !env.GATEHOUSE_STATIC_DIR &&
    !env.GATEHOUSE_CONFIG &&
    existsSync(resolve(builtSpa, 'index.html'))
  ) {
    env.GATEHOUSE_STATIC_DIR = builtSpa;
  }

  let loaded;
  try {
    loaded = loadConfig({ env });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const { config, warnings } = loaded;
  if (process.argv.includes('--check-config')) {
    process.stdout.write(
      `Configuration OK (${config.mode} mode, ${config.tenants.length} tenants, ${config.routes.length} routes)\n`,
    );
    return;
  }

  const workers = config.workers === 'auto' ? availableParallelism() : config.workers;
  if (workers > 1 && cluster.isPrimary) {
    // The primary only forks, restarts and signals workers, and serves their merged metrics: it
    // holds no connection to Redis or an IdP of its own.
    const logger = createLogger(config.logLevel).child({ role: 'primary' });
    // The configuration's warnings once, here: every worker loads the same configuration.
    for (const warning of warnings) logger.warn(warning);
    const { port, host } = config.metrics;
    runPrimary({
      workers,
      logger,
      stopTimeoutMs: config.shutdownGraceSeconds * 1000 + CLOSE_TIMEOUT_MS + 1000,
      ...(port > 0
        ? { listenMetrics: (collect) => listenMergedMetrics(collect, port, host, logger) }
        : {}),
    });
    return;
  }
  // Every line of a worker says which process wrote it.
  const baseLogger = createLogger(config.logLevel);
  const logger = cluster.isWorker ? baseLogger.child({ pid: process.pid }) : baseLogger;
  if (!cluster.isWorker) for (const warning of warnings) logger.warn(warning);
  if (!config.redis)
    logger.warn(
      'No Redis is configured (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES): sessions live in this process only and die with it (development only).',
    );

  const gatehouse = createGatehouse(config, { logger });
  // A worker's metrics go to the primary, which serves every worker's together.
  if (cluster.isWorker) answerMetricsRequests(() => gatehouse.metricsSnapshot());
  // Drain (see Gatehouse.drain), then close the stores: exit 0 after a drain, even when the
  // grace period ran out and the last connections were cut; 1 if closing hangs or a second
  // signal comes. Set up before listening: a signal that comes earlier (a worker told to stop
  // while it starts) finds nothing to drain and stops cleanly, rather than the signal's default
  // ending the process, or cutting a connection accepted before the handler was there.
  const graceMs = config.shutdownGraceSeconds * 1000;
  let server: Server | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      // A second signal: the operator does not want to wait.
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, 'shutting down');
    setTimeout(() => {
      logger.fatal('shutdown did not finish in time');
      process.exit(1);
    }, graceMs + CLOSE_TIMEOUT_MS).unref();
    const result = server ? await gatehouse.drain(server, graceMs) : { beforeListening: true };
    await gatehouse.close();
    logger.info(result, 'stopped');
    // The last spans (the drained requests') before the exit.
    await tracing?.shutdown().catch((err: unknown) => logger.warn({ err }, 'trace export failed'));
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      shutdown(signal).catch((err: unknown) => {
        logger.fatal({ err }, 'shutdown failed');
        process.exit(1);
      });
    });
  }

  // The key check (README, Key rotation): an encryption or signing kid whose bytes are not
  // those the other instances sharing Redis use is a configuration error, found before
  // listening. With Redis down the instance listens but is not ready, and the check runs when
  // Redis answers again; a mismatch found then stops it the same way.
  const keyMismatch = () => {
    logger.fatal(
      'refusing to run: a key differs from the one the other instances use under the same kid (see the key check lines above)',
    );
    process.exit(CONFIGURATION_ERROR);
  };
  const keys = await gatehouse.checkKeys();
  if (keys === 'mismatch') keyMismatch();
  if (keys === 'pending') {
    void gatehouse.keysChecked().then((state) => {
      if (state === 'mismatch' && !stopping) keyMismatch();
    });
  }

  try {
    server = await gatehouse.listen(config.port, config.host);
  } catch (err) {
    logger.fatal({ err }, 'cannot listen');
    process.exit(1);
  }
  // Stopped while it was starting to listen: the shutdown above ends the process.
  if (stopping) {
    server.close();
    return;
  }
  logger.info(
    { port: config.port, host: config.host, publicUrl: config.publicUrl, mode: config.mode },
    'gatehouse listening',
  );
  try {
    if (!cluster.isWorker && (await gatehouse.listenMetrics())) {
      logger.info({ port: config.metrics.port, host: config.metrics.host }, 'metrics listening');
    }
  } catch (err) {
    logger.fatal(
      { err },
      'cannot listen for metrics (METRICS_PORT, METRICS_HOST; 0 turns them off)',
    );
    process.exit(1);
  }
  // After an encryption key promotion: dynamic providers' client secrets and every provider's
  // private_key_jwt signing keys move to the new key (README, Key rotation). Best effort; the
  // next start tries again.
  gatehouse.resealClientSecrets().then(
    (count) => {
      if (count > 0) logger.info({ count }, 'client secrets re-sealed under the current key');
    },
    (err: unknown) => logger.warn({ err }, 'could not re-seal client secrets'),
  );
  gatehouse.resealClientKeys().then(
    (count) => {
      if (count > 0) logger.info({ count }, 'client signing keys re-sealed under the current key');
    },
    (err: unknown) => logger.warn({ err }, 'could not re-seal client signing keys'),
  );
  server.on('error', (err) => {
    logger.fatal({ err }, 'server error');
    process.exit(1);
  });
}

/** OpenTelemetry when `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` is set; nothing of it is loaded otherwise. */
async function startTracing(): Promise<Tracing | undefined> {
  if (!tracingEnabled(process.env)) return undefined;
  if (!tracingProtocol(process.env)) {
    process.stderr.write(
      `Invalid Gatehouse configuration:\n  - OTEL_EXPORTER_OTLP_PROTOCOL: must be one of ${TRACING_PROTOCOLS.join(', ')}\n`,
    );
    process.exit(2);
  }
  const { startTracing: start } = await import('./tracing.ts');
  return start(process.env);
}

await main();
