import type { FullResult, Reporter, TestCase, TestResult } from '@playwright/test/reporter';

/** The same names as the fixtures' annotations (kept here so the reporter loads on its own). */
const SIGN_IN_ANNOTATION = 'gatehouse:sign-in';
const SIGN_IN_STEPS_ANNOTATION = 'gatehouse:sign-in-steps';

export interface SignInSummary {
  signIns: number;
  tests: number;
  workers: number;
  totalMs: number;
  meanMs: number;
  maxMs: number;
  /** The first sign-in of each worker (the cold one), in worker order. */
  firstMs: number[];
}

/** Sums the sign-in times a run's tests recorded (in the order they ended). */
export function summarize(
  samples: Array<{ ms: number; workerIndex: number }>,
  tests: number,
): SignInSummary {
  const totalMs = samples.reduce((sum, { ms }) => sum + ms, 0);
  const first = new Map<number, number>();
  for (const { ms, workerIndex } of samples)
    if (!first.has(workerIndex)) first.set(workerIndex, ms);
  return {
    signIns: samples.length,
    tests,
    workers: first.size,
    totalMs,
    meanMs: samples.length ? totalMs / samples.length : 0,
    maxMs: samples.reduce((max, { ms }) => Math.max(max, ms), 0),
    firstMs: [...first.entries()].sort(([a], [b]) => a - b).map(([, ms]) => ms),
  };
}

/** The opt-in breakdown's lines: each step summed over the run, and what no step covers. */
export function describeSteps(steps: ReadonlyMap<string, number[]>, totalMs: number): string[] {
  const width = Math.max(...[...steps.keys()].map((name) => name.length), 20);
  const row = (name: string, sum: number, count: number, max: number) =>
    `  ${name.padEnd(width)} total ${sum.toFixed(0).padStart(6)} ms   mean ${(sum / count).toFixed(1).padStart(7)} ms   max ${max.toFixed(1).padStart(7)} ms`;
  const lines: string[] = [];
  let covered = 0;
  for (const [name, samples] of steps) {
    const sum = samples.reduce((a, b) => a + b, 0);
    covered += sum;
    lines.push(row(name, sum, samples.length, Math.max(...samples)));
  }
  lines.push(
    `  ${'(outside the steps)'.padEnd(width)} total ${(totalMs - covered).toFixed(0).padStart(6)} ms   (hops run in parallel overlap: this can be negative)`,
  );
  return lines;
}

/**
 * Prints, at the end of a run, how long the Gatehouse fixtures spent signing users in: add it
 * beside your usual reporter, `reporter: [['list'], ['@gatehouse/playwright/reporter']]`.
 */
export default class GatehouseSignInReporter implements Reporter {
  readonly #samples: Array<{ ms: number; workerIndex: number }> = [];
  readonly #tests = new Set<string>();
  readonly #steps = new Map<string, number[]>();
  /** The first sign-in's steps in each worker, as recorded. */
  readonly #firstSteps = new Map<number, string>();

  onTestEnd(test: TestCase, result: TestResult): void {
    const annotations = [...(result.annotations ?? []), ...test.annotations];
    const seen = new Set<unknown>();
    for (const annotation of annotations) {
      if (seen.has(annotation)) continue;
      seen.add(annotation);
      if (annotation.type === SIGN_IN_STEPS_ANNOTATION) {
        const described = this.#addSteps(annotation.description);
        if (described && !this.#firstSteps.has(result.workerIndex))
          this.#firstSteps.set(result.workerIndex, described);
      }
      if (annotation.type !== SIGN_IN_ANNOTATION) continue;
      const ms = Number(annotation.description);
      if (!Number.isFinite(ms)) continue;
      this.#samples.push({ ms, workerIndex: result.workerIndex });
      this.#tests.add(test.id);
    }
  }

  /** Adds one sign-in's steps to the sums; returns them as one line (or nothing if malformed). */
  #addSteps(description: string | undefined): string | undefined {
    let parsed: unknown;
    try {
      parsed = JSON.parse(description ?? '');
    } catch {
      return undefined;
    }
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const parts: string[] = [];
    for (const [name, ms] of Object.entries(parsed)) {
      if (typeof ms !== 'number' || !Number.isFinite(ms)) continue;
      const samples = this.#steps.get(name) ?? [];
      samples.push(ms);
      this.#steps.set(name, samples);
      parts.push(`${name} ${ms.toFixed(0)}`);
    }
    return parts.join(', ');
  }

  onEnd(_result: FullResult): void {
    const s = summarize(this.#samples, this.#tests.size);
    if (s.signIns === 0) return;
    const lines = [
      `Gatehouse sign-ins: ${s.signIns} in ${s.tests} tests on ${s.workers} worker(s): total ${s.totalMs.toFixed(0)} ms, mean ${s.meanMs.toFixed(1)} ms, max ${s.maxMs.toFixed(1)} ms (first in each worker: ${s.firstMs.map((ms) => ms.toFixed(0)).join(', ')} ms)`,
    ];
    if (this.#steps.size > 0) {
      lines.push(
        'Gatehouse sign-in steps (GATEHOUSE_SIGN_IN_STEPS=1), summed over the sign-ins:',
        ...describeSteps(this.#steps, s.totalMs),
        ...[...this.#firstSteps.entries()]
          .sort(([a], [b]) => a - b)
          .map(([worker, steps]) => `  first sign-in of worker ${worker} (ms): ${steps}`),
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }

  printsToStdio(): boolean {
    return false;
  }
}
