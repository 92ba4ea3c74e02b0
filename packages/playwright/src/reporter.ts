import type { FullResult, Reporter, TestCase, TestResult } from '@playwright/test/reporter';

/** The same name as the fixtures' annotation (kept here so the reporter loads on its own). */
const SIGN_IN_ANNOTATION = 'gatehouse:sign-in';

export interface SignInSummary {
  signIns: number;
  tests: number;
  workers: number;
  totalMs: number;
  meanMs: number;
  maxMs: number;
}

/** Sums the sign-in times a run's tests recorded. */
export function summarize(samples: Array<{ ms: number; workerIndex: number }>, tests: number) {
  const totalMs = samples.reduce((sum, { ms }) => sum + ms, 0);
  return {
    signIns: samples.length,
    tests,
    workers: new Set(samples.map((s) => s.workerIndex)).size,
    totalMs,
    meanMs: samples.length ? totalMs / samples.length : 0,
    maxMs: samples.reduce((max, { ms }) => Math.max(max, ms), 0),
  } satisfies SignInSummary;
}

/**
 * Prints, at the end of a run, how long the Gatehouse fixtures spent signing users in: add it
 * beside your usual reporter, `reporter: [['list'], ['@gatehouse/playwright/reporter']]`.
 */
export default class GatehouseSignInReporter implements Reporter {
  readonly #samples: Array<{ ms: number; workerIndex: number }> = [];
  readonly #tests = new Set<string>();

  onTestEnd(test: TestCase, result: TestResult): void {
    const annotations = [...(result.annotations ?? []), ...test.annotations];
    const seen = new Set<unknown>();
    for (const annotation of annotations) {
      if (annotation.type !== SIGN_IN_ANNOTATION || seen.has(annotation)) continue;
      seen.add(annotation);
      const ms = Number(annotation.description);
      if (!Number.isFinite(ms)) continue;
      this.#samples.push({ ms, workerIndex: result.workerIndex });
      this.#tests.add(test.id);
    }
  }

  onEnd(_result: FullResult): void {
    const s = summarize(this.#samples, this.#tests.size);
    if (s.signIns === 0) return;
    process.stdout.write(
      `Gatehouse sign-ins: ${s.signIns} in ${s.tests} tests on ${s.workers} worker(s): total ${s.totalMs.toFixed(0)} ms, mean ${s.meanMs.toFixed(1)} ms, max ${s.maxMs.toFixed(1)} ms\n`,
    );
  }

  printsToStdio(): boolean {
    return false;
  }
}
