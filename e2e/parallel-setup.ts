import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import globalSetup from './global-setup.ts';

/** What each parallel test writes down: who it was signed in as, in which worker, which session. */
export interface ParallelRecord {
  test: number;
  worker: number;
  sub: string;
  session: string;
}

/** The shared stack, plus a log of users and sessions checked once every test has run. */
export default async function parallelSetup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-parallel-'));
  const log = join(dir, 'users.jsonl');
  process.env.E2E_PARALLEL_LOG = log;
  const stopStack = await globalSetup();
  return async () => {
    try {
      const text = await readFile(log, 'utf8').catch(() => '');
      checkNothingShared(
        text
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as ParallelRecord),
      );
    } finally {
      await stopStack();
      await rm(dir, { recursive: true, force: true });
    }
  };
}

function checkNothingShared(records: ParallelRecord[]): void {
  const workers = new Set(records.map((r) => r.worker));
  const subs = new Set(records.map((r) => r.sub));
  const sessions = new Set(records.map((r) => r.session));
  const problems = [
    records.length === 20 ? '' : `expected 20 records, got ${records.length}`,
    workers.size === 2 ? '' : `expected 2 workers, got ${workers.size}`,
    subs.size === records.length
      ? ''
      : `a user was shared: ${subs.size} users for ${records.length} tests`,
    sessions.size === records.length
      ? ''
      : `a session was shared: ${sessions.size} sessions for ${records.length} tests`,
  ].filter(Boolean);
  if (problems.length > 0)
    throw new Error(`parallel fixtures check failed: ${problems.join('; ')}`);
  process.stdout.write(
    `Parallel check: ${records.length} tests on ${workers.size} workers, ${subs.size} users and ${sessions.size} sessions, none shared\n`,
  );
}
