import type { Server, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

/** How often idle keep-alive connections are closed while draining. */
const IDLE_SWEEP_MS = 100;

/**
 * How a graceful shutdown went (`Gatehouse.drain`).
 *
 * @example
 * const { drained, destroyed } = await gatehouse.drain(server, 10_000);
 * if (!drained) logger.warn({ destroyed }, 'connections cut at the end of the grace period');
 */
export interface DrainResult {
  /** Every connection ended by itself within the grace period. */
  drained: boolean;
  /** Connections still open when the grace period ended, destroyed then. */
  destroyed: number;
  elapsedMs: number;
}

/**
 * Graceful shutdown of one Gatehouse instance's HTTP server. While draining: `/readyz` answers
 * 503 (a load balancer stops sending), every answer not yet started says `Connection: close`,
 * idle keep-alive connections are closed as soon as they are idle, and open event streams are
 * ended so their clients reconnect, to another instance. Whatever is still open when the grace
 * period ends is destroyed.
 */
export class ConnectionDrain {
  #draining = false;
  /** Answers whose headers may not have been sent yet. */
  readonly #pending = new Set<ServerResponse>();
  /** Enders of open event streams. */
  readonly #streams = new Set<() => void>();
  readonly #drains = new WeakMap<Server, Promise<DrainResult>>();

  get draining(): boolean {
    return this.#draining;
  }

  /** Express middleware (first in the chain): keeps track of answers not finished yet. */
  readonly track: RequestHandler = (_req, res, next) => {
    if (this.#draining) {
      res.setHeader('connection', 'close');
    } else {
      this.#pending.add(res);
      const forget = () => this.#pending.delete(res);
      res.once('finish', forget);
      res.once('close', forget);
    }
    next();
  };

  /**
   * Registers an open event stream; `end` finishes it cleanly when draining starts (at once if
   * it already has). Returns the function that unregisters it.
   */
  onDrain(end: () => void): () => void {
    if (this.#draining) {
      end();
      return () => undefined;
    }
    this.#streams.add(end);
    return () => this.#streams.delete(end);
  }

  /**
   * Drains `server` (see the class) and resolves once every connection is closed, destroying the
   * ones still open after `graceMs`. A second call returns the first one's result.
   */
  drain(server: Server, graceMs: number, logger: Logger): Promise<DrainResult> {
    let drain = this.#drains.get(server);
    if (!drain) {
      drain = this.#drain(server, graceMs, logger);
      this.#drains.set(server, drain);
    }
    return drain;
  }

  async #drain(server: Server, graceMs: number, logger: Logger): Promise<DrainResult> {
    const started = Date.now();
    this.#startDraining();
    const closed = new Promise<void>((resolve) => {
      // The callback's error only says the server was not listening: closed either way.
      server.close(() => resolve());
    });
    server.closeIdleConnections();
    const open = await connectionCount(server);
    logger.info({ connections: open, graceMs }, 'draining connections');

    // A connection whose answer began before draining stays keep-alive: close it once idle.
    const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
    const grace = new AbortController();
    const drained = await Promise.race([
      closed.then(() => true),
      delay(graceMs, false, { signal: grace.signal }).catch(() => false),
    ]);
    grace.abort();
    clearInterval(sweep);
    let destroyed = 0;
    if (!drained) {
      destroyed = await connectionCount(server);
      logger.warn({ connections: destroyed, graceMs }, 'grace period over: closing connections');
      server.closeAllConnections();
      await closed;
    }
    return { drained, destroyed, elapsedMs: Date.now() - started };
  }

  #startDraining(): void {
    if (this.#draining) return;
    this.#draining = true;
    for (const res of this.#pending) {
      if (!res.headersSent) res.setHeader('connection', 'close');
    }
    this.#pending.clear();
    for (const end of this.#streams) end();
    this.#streams.clear();
  }
}

function connectionCount(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.getConnections((error, count) => resolve(error ? 0 : count));
  });
}
