import cluster, { type Worker } from 'node:cluster';
import type { MetricsSnapshot } from '@gatehouse/core';

/**
 * Metrics with `GATEHOUSE_WORKERS` > 1: the primary alone listens on `METRICS_PORT` and, for each
 * scrape, asks every worker for its snapshot over the cluster's IPC channel; the workers do not
 * listen there (they would share the port, and each scrape would reach one of them at random).
 */

const REQUEST = 'gatehouse:metrics-request';
const ANSWER = 'gatehouse:metrics-answer';

/**
 * How long a scrape waits for the workers: below Prometheus's default scrape timeout (10 s), so
 * a hung worker gives a failed scrape the scraper sees, not one it gives up on.
 */
export const WORKER_METRICS_TIMEOUT_MS = 5000;

interface MetricsRequest {
  type: typeof REQUEST;
  id: number;
}
interface MetricsAnswer {
  type: typeof ANSWER;
  id: number;
  metrics?: MetricsSnapshot;
  error?: string;
}

/** In a worker: answers the primary's requests with this worker's snapshot. */
export function answerMetricsRequests(snapshot: () => Promise<MetricsSnapshot>): void {
  process.on('message', (message: Partial<MetricsRequest>) => {
    if (message?.type !== REQUEST || typeof message.id !== 'number') return;
    const { id } = message;
    const reply = (answer: Omit<MetricsAnswer, 'type' | 'id'>) =>
      process.send?.({ type: ANSWER, id, ...answer } satisfies MetricsAnswer);
    snapshot().then(
      (metrics) => reply({ metrics }),
      (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }),
    );
  });
}

let nextId = 0;

/**
 * In the primary: the snapshots of `workers`, or a rejection when one of them fails, exits or
 * does not answer within `timeoutMs`. All or nothing: a sum without one worker's counters
 * would look to Prometheus like a counter reset, and their return like a burst of traffic.
 */
export function collectWorkerMetrics(
  workers: readonly Worker[],
  timeoutMs = WORKER_METRICS_TIMEOUT_MS,
): Promise<MetricsSnapshot[]> {
  const id = nextId++;
  return Promise.all(
    workers.map(
      (worker) =>
        new Promise<MetricsSnapshot>((resolve, reject) => {
          const settle = (error: Error | undefined, metrics?: MetricsSnapshot) => {
            clearTimeout(timer);
            worker.off('message', onMessage);
            worker.off('exit', onExit);
            if (error) reject(error);
            else resolve(metrics ?? []);
          };
          const onMessage = (message: Partial<MetricsAnswer>) => {
            if (message?.type !== ANSWER || message.id !== id) return;
            if (message.error !== undefined) {
              settle(new Error(`worker ${worker.process.pid}: ${message.error}`));
            } else settle(undefined, message.metrics);
          };
          const onExit = () => settle(new Error(`worker ${worker.process.pid} exited`));
          const timer = setTimeout(
            () => settle(new Error(`worker ${worker.process.pid} did not answer in time`)),
            timeoutMs,
          );
          worker.on('message', onMessage);
          worker.once('exit', onExit);
          worker.send({ type: REQUEST, id } satisfies MetricsRequest);
        }),
    ),
  );
}

/** The workers that are serving (they answer metrics requests from before they listen). */
export function servingWorkers(): () => Worker[] {
  const serving = new Set<Worker>();
  cluster.on('listening', (worker) => serving.add(worker));
  cluster.on('exit', (worker) => serving.delete(worker));
  return () => [...serving].filter((worker) => worker.isConnected());
}
