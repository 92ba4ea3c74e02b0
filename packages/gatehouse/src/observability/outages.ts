import type { Logger } from 'pino';

/**
 * Logs a dependency's outages (each IdP issuer) once per transition: one error line when it
 * becomes unreachable and one line when it answers again (at its next success) — instead of a
 * stack per failed request.
 */
export class OutageLog {
  readonly #logger: Logger;
  readonly #clock: () => number;
  /** Since when each dependency that is down has been down. */
  readonly #outages = new Map<string, number>();

  constructor(logger: Logger, clock: () => number = Date.now) {
    this.#logger = logger;
    this.#clock = clock;
  }

  /** `dependency` failed: logged only when it was up until now. */
  down(dependency: string, error: unknown): void {
    if (this.#outages.has(dependency)) return;
    this.#outages.set(dependency, this.#clock());
    this.#logger.error({ dependency, reason: describe(error) }, `${dependency} is unavailable`);
  }

  /** `dependency` answered: logged only when it was down until now. */
  up(dependency: string): void {
    const since = this.#outages.get(dependency);
    if (since === undefined) return;
    this.#outages.delete(dependency);
    this.#logger.info(
      { dependency, downForMs: this.#clock() - since },
      `${dependency} is available again`,
    );
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
