/** A script's clean-up: runs at most once, however often it is called. */
export interface CleanUp {
  (): Promise<void>;
  /** Adds what stops something just started; the clean-up stops the last one added first. */
  add(stop: () => Promise<unknown> | void): void;
}

/**
 * Stops what a script started (redis-server, nginx, child processes, temporary files) however
 * the script ends early: an uncaught failure (exit code 1, its stack printed), Ctrl-C (`SIGINT`,
 * 130), `kill` or a CI job's time-out (`SIGTERM`, 143), a closed terminal (`SIGHUP`, 129).
 * Without it, a benchmark stopped by a signal left its redis-server and the contenders' processes
 * running, each holding a core's worth of sockets and ports.
 *
 * `first` runs before the stops added since (a failing step does not stop the others). Returns
 * the clean-up, for the script's own end (`finally`) too.
 *
 * @example
 * const cleanUp = cleanUpOnExit();
 * const redis = await startRedisServer();
 * cleanUp.add(() => redis.stop());
 * try {
 *   await measure();
 * } finally {
 *   await cleanUp();
 * }
 */
export function cleanUpOnExit(first?: () => Promise<unknown> | void): CleanUp {
  const stops: Array<() => Promise<unknown> | void> = [];
  let running: Promise<void> | undefined;
  const run = async () => {
    for (const stop of [...(first ? [first] : []), ...stops.reverse()]) {
      try {
        await stop();
      } catch (error) {
        process.stderr.write(`clean-up failed: ${String(error)}\n`);
      }
    }
  };
  const cleanUp = Object.assign(() => (running ??= run()), {
    add: (stop: () => Promise<unknown> | void) => void stops.push(stop),
  });
  const exitAfterCleanUp = (code: number) => void cleanUp().then(() => process.exit(code));
  for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
    process.once(event, (error: unknown) => {
      // Once the clean-up runs (a signal), what it stops fails the work in flight: not news.
      if (!running) {
        process.stderr.write(
          `${error instanceof Error ? (error.stack ?? String(error)) : String(error)}\n`,
        );
      }
      exitAfterCleanUp(1);
    });
  }
  for (const [signal, code] of SIGNALS) process.once(signal, () => exitAfterCleanUp(code));
  return cleanUp;
}

/** The signals that end a script, with the exit code a shell gives for each (128 + number). */
const SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const;
