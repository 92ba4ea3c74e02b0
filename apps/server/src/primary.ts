import cluster, { type Worker } from 'node:cluster';
import type { createLogger, MetricsSnapshot } from '@gatehouse/core';
import { collectWorkerMetrics, servingWorkers } from './cluster-metrics.ts';

type Logger = ReturnType<typeof createLogger>;

export interface PrimaryOptions {
  /** How many workers to keep running. */
  workers: number;
  logger: Logger;
  /** After a SIGTERM/SIGINT, how long the workers have to drain and exit before being killed. */
  stopTimeoutMs: number;
  /**
   * Starts the listener of the workers' merged metrics (`METRICS_PORT`), which calls `collect`
   * for each scrape; absent when metrics are off. (Passed in: this module is imported before
   * tracing starts, and must not load `@gatehouse/core` itself.)
   */
  listenMetrics?: (collect: () => Promise<MetricsSnapshot[]>) => Promise<unknown>;
}

/** The exit code of a configuration error (main.ts): never worth a restart. */
const CONFIGURATION_ERROR = 2;

/** Restart back-off of a worker that died: 1 s doubling up to 30 s, reset once one lives a minute. */
const FIRST_RESTART_MS = 1000;
const MAX_RESTART_MS = 30_000;
const STABLE_AFTER_MS = 60_000;

/**
 * The cluster's primary (`GATEHOUSE_WORKERS` > 1): forks the workers, which share the listening
 * socket (node:cluster hands out connections round-robin); restarts a worker that dies, with
 * back-off; on SIGTERM/SIGINT forwards the signal to every worker, each of which drains as a
 * single process does, and exits 0 once all of them exited 0 (1 otherwise, or after
 * `stopTimeoutMs`). A second signal is forwarded too (the workers then exit at once). A worker
 * that exits 2 found a configuration error (the key check's mismatch, which Redis coming back
 * may reveal long after the start) that every restart would find again: the primary stops the
 * others and exits 2 rather than restart it in a loop.
 */
export function runPrimary(options: PrimaryOptions): void {
  const { logger } = options;
  let stopping = false;
  let failed = false;
  /** A worker exited with a configuration error: the primary's exit code is 2. */
  let misconfigured = false;
  const exitCode = () => (misconfigured ? CONFIGURATION_ERROR : failed ? 1 : 0);
  /** Consecutive quick deaths, per worker slot, for the back-off. */
  const slots = new Map<number, { deaths: number; startedAt: number }>();
  const slotOf = new Map<Worker, number>();
  /** The signal passed on to the workers when stopping. */
  let stoppedWith: NodeJS.Signals | undefined;
  /** Restarts waiting for their back-off to pass. */
  const restarts = new Set<NodeJS.Timeout>();
  /** Whether any worker ever listened: until then a death means the start-up itself failed. */
  let started = false;
  cluster.on('listening', () => {
    started = true;
  });

  const fork = (slot: number) => {
    const worker = cluster.fork();
    slotOf.set(worker, slot);
    const state = slots.get(slot) ?? { deaths: 0, startedAt: 0 };
    state.startedAt = Date.now();
    slots.set(slot, state);
  };

  cluster.on('exit', (worker, code, signal) => {
    const slot = slotOf.get(worker) ?? 0;
    slotOf.delete(worker);
    if (stopping) {
      // A worker still loading when the signal came has no handler yet: the signal's default
      // ends it, before it could accept anything. That is a clean stop too.
      if (code !== 0 && signal !== stoppedWith) failed = true;
      logger.info({ worker: worker.process.pid, code, signal }, 'worker stopped');
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        logger.info('every worker stopped');
        process.exit(exitCode());
      }
      return;
    }
    if (code === CONFIGURATION_ERROR) {
      logger.fatal(
        { worker: worker.process.pid, code },
        'a worker found a configuration error; stopping every worker',
      );
      misconfigured = true;
      stop('SIGTERM');
      return;
    }
    if (!started) {
      // No worker has ever listened (the port is taken, the host is not this machine's, …):
      // a restart would fail the same way, for ever. Stop like a single process that cannot
      // listen: the others are stopped and the primary exits 1.
      logger.fatal({ worker: worker.process.pid, code, signal }, 'a worker failed to start');
      failed = true;
      stop('SIGTERM');
      return;
    }
    const state = slots.get(slot) ?? { deaths: 0, startedAt: Date.now() };
    if (Date.now() - state.startedAt >= STABLE_AFTER_MS) state.deaths = 0;
    const delay = Math.min(MAX_RESTART_MS, FIRST_RESTART_MS * 2 ** state.deaths);
    state.deaths += 1;
    logger.error(
      { worker: worker.process.pid, code, signal, restartInMs: delay },
      'worker died; restarting it',
    );
    // Not unref'd: when every worker died at once this timer is all that keeps the primary
    // running, and without it the primary would exit 0 with no worker left.
    const restart = setTimeout(() => {
      restarts.delete(restart);
      fork(slot);
    }, delay);
    restarts.add(restart);
  });

  const stop = (signal: NodeJS.Signals) => {
    if (!stopping) {
      stopping = true;
      stoppedWith = signal;
      logger.info({ signal }, 'stopping the workers');
      for (const restart of restarts) clearTimeout(restart);
      // Every worker had died and was waiting for its restart: nothing is left to stop.
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        logger.info('every worker stopped');
        process.exit(exitCode());
      }
      setTimeout(() => {
        logger.fatal('workers did not stop in time');
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
        process.exit(1);
      }, options.stopTimeoutMs).unref();
    }
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  const serving = servingWorkers();
  for (let slot = 0; slot < options.workers; slot += 1) fork(slot);
  logger.info({ workers: options.workers }, 'cluster started');
  options
    .listenMetrics?.(() => collectWorkerMetrics(serving()))
    .then(
      () => logger.info('metrics listening'),
      (err: unknown) => {
        // As a single process: a metrics port that cannot be had stops the whole server.
        logger.fatal(
          { err },
          'cannot listen for metrics (METRICS_PORT, METRICS_HOST; 0 turns them off)',
        );
        failed = true;
        stop('SIGTERM');
      },
    );
}
