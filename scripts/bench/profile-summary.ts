/**
 * A plain-text summary of a V8 CPU profile (`node --cpu-prof`): self time by function and by
 * package, so a profile can be read without opening DevTools.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  /** Monotonic clock, µs (the clock of `process.hrtime`). */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a script lives, short: `pkg/file.js` for dependencies, the repository path otherwise. */
function where(url: string): string {
  const inModules =
    /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url);
  if (inModules) return `${inModules[1]}/${inModules[2]?.split('/').pop() ?? ''}`;
  const repo = /\/(packages|apps|scripts)\/(.*)$/.exec(url);
  if (repo) return `${repo[1]}/${repo[2]}`;
  return url.replace(/^file:\/\//, '') || '(native)';
}

function packageOf(url: string): string {
  const inModules = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(
    url,
  );
  if (inModules) return inModules[1] ?? '?';
  if (/\/packages\/gatehouse\//.test(url)) return '@gatehouse/core';
  if (/\/apps\//.test(url)) return 'apps';
  if (url.startsWith('node:')) return 'node internals';
  return url ? 'other' : '(native / GC / idle)';
}

/**
 * `window`: only the samples taken between these instants of the monotonic clock, in µs
 * (`process.hrtime.bigint() / 1000n` of any process on the machine), e.g. one phase of a run;
 * several spans: the samples of any of them.
 */
export function summariseProfile(
  json: string,
  top = 25,
  window?: { from: bigint; to: bigint } | Array<{ from: bigint; to: bigint }>,
): string {
  const spans = (window === undefined ? [] : Array.isArray(window) ? window : [window]).map(
    ({ from, to }) => [Number(from), Number(to)] as const,
  );
  const profile = JSON.parse(json) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfTime = new Map<number, number>();
  let total = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    if (spans.length && !spans.some(([from, to]) => at >= from && at <= to)) return;
    selfTime.set(id, (selfTime.get(id) ?? 0) + delta);
    total += delta;
  });
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let idle = 0;
  for (const [id, time] of selfTime) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    if (frame.functionName === '(idle)') {
      idle += time;
      continue;
    }
    const key = `${frame.functionName || '(anonymous)'}  ${where(frame.url)}:${frame.lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + time);
    const pkg = packageOf(frame.url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + time);
  }
  const busy = total - idle;
  const pct = (time: number) => `${((time / busy) * 100).toFixed(1).padStart(5)} %`;
  const lines = [
    `\nBusy ${(busy / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms sampled. Self time by package:`,
  ];
  for (const [pkg, time] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    lines.push(`  ${pct(time)}  ${pkg}`);
  }
  lines.push(`Top ${top} functions by self time:`);
  for (const [key, time] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${pct(time)}  ${key}`);
  }
  return `${lines.join('\n')}\n`;
}
