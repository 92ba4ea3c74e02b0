import type { Logger } from 'pino';

interface Outage {
  since: number;
  probe: NodeJS.Timeout | undefined;
}

/** How often a dependency that is down is probed, when it has a probe. */
const PROBE_INTERVAL_MS = 500;

/**
 * Logs a dependency's outages (Redis, an IdP) once per transition: one error line when it
 * becomes unreachable and one line when it is back — instead of a stack per failed command or
 * request. A dependency with a probe (Redis: PING) is probed while down, so "back" is logged
 * even when nothing else uses it meanwhile; one without is back at its next success.
 */
export class OutageLog {
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #outages = new Map<string, Outage>();
  #closed = false;

  constructor(logger: Logger, clock: () => number = Date.now) {
    this.#logger = logger;
    this.#clock = clock;
  }

  /** Whether `dependency` is currently known to be down. */
  isDown(dependency: string): boolean {
    return this.#outages.has(dependency);
  }

  /** `dependency` failed: logged only when it was up until now. */
  down(dependency: string, error: unknown, probe?: () => Promise<unknown>): void {
    if (this.#closed || this.#outages.has(dependency)) return;
    const outage: Outage = { since: this.#clock(), probe: undefined };
    this.#outages.set(dependency, outage);
    this.#logger.error({ dependency, reason: describe(error) }, `${dependency} is unavailable`);
    if (probe) this.#scheduleProbe(dependency, outage, probe);
  }

  /** `dependency` answered: logged only when it was down until now. */
  up(dependency: string): void {
    const outage = this.#outages.get(dependency);
    if (!outage) return;
    this.#outages.delete(dependency);
    clearTimeout(outage.probe);
    this.#logger.warn(
      { dependency, downForMs: this.#clock() - outage.since },
      `${dependency} is available again`,
    );
  }

  /** Stops probing (shutdown). */
  close(): void {
    this.#closed = true;
    for (const outage of this.#outages.values()) clearTimeout(outage.probe);
  }

  #scheduleProbe(dependency: string, outage: Outage, probe: () => Promise<unknown>): void {
    outage.probe = setTimeout(() => {
      probe().then(
        () => this.up(dependency),
        () => {
          if (!this.#closed && this.#outages.get(dependency) === outage)
            this.#scheduleProbe(dependency, outage, probe);
        },
      );
    }, PROBE_INTERVAL_MS);
    outage.probe.unref();
  }
}

/** The error's message and code: enough to tell a refused connection from a timeout, no stack. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const cause = error.cause instanceof Error ? `: ${describe(error.cause)}` : '';
  return `${typeof code === 'string' ? `${code} ` : ''}${error.message}${cause}`;
}

/**
 * A fetch that tells the outage log about one dependency: a network failure or a 5xx is "down",
 * any other answer "up". The answer itself is passed on untouched.
 */
export function reportingFetch<F extends (...args: never[]) => Promise<Response>>(
  fetch: F,
  dependency: string,
  outages: OutageLog,
): F {
  const wrapped = async (...args: Parameters<F>): Promise<Response> => {
    let response: Response;
    try {
      response = await fetch(...args);
    } catch (error) {
      outages.down(dependency, error);
      throw error;
    }
    if (response.status >= 500) outages.down(dependency, `HTTP ${response.status}`);
    else outages.up(dependency);
    return response;
  };
  return wrapped as F;
}
