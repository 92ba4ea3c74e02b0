import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';

/** The kernel's clock ticks per second (`/proc/<pid>/stat`'s unit); 0 off Linux. */
export const CLOCK_TICKS = process.platform === 'linux' ? clockTicks() : 0;
function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/**
 * User + system CPU microseconds of the process `pid` itself, all its threads, in the kernel's
 * clock ticks (`systemOnly`: the system part alone); undefined off Linux or once it is gone.
 */
export function ownCpuMicros(pid: number | undefined, systemOnly = false): number | undefined {
  if (!pid || !CLOCK_TICKS || !existsSync(`/proc/${pid}/stat`)) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = (systemOnly ? 0 : Number(fields[11])) + Number(fields[12]);
    return (ticks * 1e6) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** The live child processes of `pid` (started by any of its threads). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const listed = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const child of listed ? listed.split(' ') : []) children.push(Number(child));
    }
  } catch {
    // Gone meanwhile.
  }
  return children;
}
