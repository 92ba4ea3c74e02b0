// The benchmark scripts' command lines: `--help` prints what the script measures and how to run
// it; a mistyped option is refused with the reason and that text, exit code 2, no stack trace,
// before anything is started.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');

const SCRIPTS = [
  'scripts/bench-proxy.ts',
  'scripts/bench-outage.ts',
  'scripts/bench-gateway.ts',
  'scripts/bench-metrics.ts',
  'scripts/bench-websocket.ts',
  'scripts/bench-dpop.ts',
  'scripts/bench-sign-in.ts',
  'scripts/measure-sign-in-cpu.ts',
];

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function node(script: string, ...args: string[]): Promise<Outcome> {
  return nodeWith({}, script, ...args);
}

async function nodeWith(
  env: Record<string, string>,
  script: string,
  ...args: string[]
): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...args], {
      cwd: root,
      timeout: 60_000,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** The first sentence's opening words of the script's header comment. */
function opening(script: string): string {
  const source = readFileSync(resolve(root, script), 'utf8');
  const first = /\/\*\*\s*\n\s*\*\s*(.+)/.exec(source)?.[1] ?? '';
  return first.split(' ').slice(0, 4).join(' ');
}

describe.concurrent('benchmark scripts: command line', () => {
  it.each(SCRIPTS)('%s --help prints its header comment', { timeout: 60_000 }, async (script) => {
    const { code, stdout } = await node(script, '--help');
    expect(code).toBe(0);
    expect(opening(script).length).toBeGreaterThan(10);
    expect(stdout.startsWith(opening(script))).toBe(true);
    // How to run it is part of the text, and no comment markers are left.
    expect(stdout).toMatch(/(pnpm|node scripts\/)[\w:.-]*/);
    expect(stdout).not.toMatch(/^\s*\*/m);
  });

  it.each(SCRIPTS)(
    '%s refuses an unknown option: exit 2, no stack',
    { timeout: 60_000 },
    async (script) => {
      const { code, stdout, stderr } = await node(script, '--', '--no-such-option', '3');
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr.split('\n')[0]).toBe("Unknown option '--no-such-option'");
      expect(stderr).toContain(opening(script));
      expect(stderr).not.toMatch(/^\s+at /m);
    },
  );

  it('pnpm bench refuses an unknown load generator', { timeout: 60_000 }, async () => {
    const { code, stderr } = await node('scripts/bench-proxy.ts', '--generator', 'ab');
    expect(code).toBe(2);
    expect(stderr).toBe('--generator: wrk or autocannon, not ab\n');
  });

  it(
    'pnpm bench --generator wrk says so where wrk is not installed',
    { timeout: 60_000 },
    async () => {
      // Only Node's own directory on PATH: no wrk.
      const { code, stderr } = await nodeWith(
        { PATH: dirname(process.execPath) },
        'scripts/bench-proxy.ts',
        '--generator',
        'wrk',
      );
      expect(code).toBe(2);
      expect(stderr).toBe('--generator wrk: wrk is not on PATH (Debian: apt-get install wrk)\n');
    },
  );
});
