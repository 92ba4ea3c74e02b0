/**
 * Closes a dev IdP started as a process of its own on SIGTERM or SIGINT, then exits (1 if
 * closing failed). Answers the shutdown function, for other reasons to stop (its parent gone).
 */
export function closeOnSignals(idp: { close(): Promise<void> }): () => void {
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    idp.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('dev IdP shutdown failed', err);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  return shutdown;
}
