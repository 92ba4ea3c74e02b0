/**
 * Stops what a script started (redis-server, nginx, child processes, temporary files) however
 * the script ends early: an uncaught failure (exit code 1, its stack printed), Ctrl-C (`SIGINT`,
 * 130), `kill` or a CI job's time-out (`SIGTERM`, 143), a closed terminal (`SIGHUP`, 129).
 * Without it, a benchmark stopped by a signal left its redis-server and the contenders' processes
 * running, each holding a core's worth of sockets and ports.
 *
 * Returns the clean-up, which runs at most once, for the script's own end (`finally`).
 *
 * @example
 * const cleanUp = cleanUpOnExit(async () => {
 *   await stack.close();
 *   await redis.stop();
 * });
 * try {
 *   await measure();
 * } finally {
 *   await cleanUp();
 * }
 */
export function cleanUpOnExit(cleanUp: () => Promise<unknown>): () => Promise<void> {
  let running: Promise<void> | undefined;
  const once = () =>
    (running ??= cleanUp().then(
      () => undefined,
      (error: unknown) => {
        process.stderr.write(`clean-up failed: ${String(error)}\n`);
      },
    ));
  const exitAfterCleanUp = (code: number) => void once().then(() => process.exit(code));
  for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
    process.once(event, (error: unknown) => {
      process.stderr.write(
        `${error instanceof Error ? (error.stack ?? String(error)) : String(error)}\n`,
      );
      exitAfterCleanUp(1);
    });
  }
  for (const [signal, code] of SIGNALS) process.once(signal, () => exitAfterCleanUp(code));
  return once;
}

/** The signals that end a script, with the exit code a shell gives for each (128 + number). */
const SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const;
