/**
 * The benchmark's throughput rounds driven by wrk (a load generator in C) instead of
 * autocannon, when wrk is installed: the same closed loop (every connection sends its next
 * request when the previous answer has arrived), at about half autocannon's CPU per request
 * (22–27 against 49–51 µs against a bare node:http server), which leaves more of the
 * generator's core to the upstream and Redis that share it.
 *
 * wrk is told what to send by a Lua script written for the run (the session cookie is in it:
 * the file is readable by this user only). The script counts the requests it sent (answered or
 * still in flight when the run stopped, as autocannon's `requests.sent`) and the answers whose
 * status was not 200, and prints the run's figures as one JSON line when wrk is done.
 */
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Whether `wrk` is on PATH. */
export function wrkInstalled(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // `wrk --version` prints its usage and exits 1: installed. ENOENT: not on PATH.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** What one run of a load generator (wrk or autocannon) gave. */
export interface LoadRun {
  /** Answers with status 200. */
  ok: number;
  /** Answers with any other status, plus connect, read and write errors and time-outs. */
  failures: number;
  /** Requests written, including those still in flight when the run stopped. */
  sent: number;
  /** Latency percentiles of the answered requests, ms. */
  p50: number;
  p99: number;
  /** How long the load ran by the generator's own clock, when it says. */
  seconds?: number;
}

export interface WrkOptions {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  connections: number;
  /** wrk takes whole seconds: rounded up, at least 1. */
  seconds: number;
  timeoutSeconds: number;
  /** A directory of this user's where the run's Lua script is written. */
  dir: string;
  /** Kills wrk (`SIGKILL`) when aborted: a script's clean-up. */
  signal?: AbortSignal;
}

/** A Lua string literal holding `text` exactly (every byte escaped as `\ddd` where needed). */
function luaString(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    out +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\${String(byte).padStart(3, '0')}`;
  }
  return `${out}"`;
}

function script(options: WrkOptions): string {
  const headers = Object.entries(options.headers)
    .map(([name, value]) => `wrk.headers[${luaString(name)}] = ${luaString(value)}`)
    .join('\n');
  return `
wrk.method = ${luaString(options.method)}
${headers}
${options.body === undefined ? '' : `wrk.body = ${luaString(options.body)}`}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  sent = 0
  other = 0
  prepared = wrk.format()
end
function request()
  sent = sent + 1
  return prepared
end
function response(status, headers, body)
  if status ~= 200 then other = other + 1 end
end
function done(summary, latency, requests)
  local total, others = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("sent")
    others = others + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration":%d,"sent":%d,"other":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50":%.1f,"p99":%.1f}\\n',
    summary.requests, summary.duration, total, others, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;
}

interface WrkFigures {
  requests: number;
  /** µs */
  duration: number;
  sent: number;
  /** Answers with a status other than 200. */
  other: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  /** µs */
  p50: number;
  p99: number;
}

/** One closed-loop run of wrk (one thread) against `url`. */
export async function runWrk(options: WrkOptions): Promise<LoadRun> {
  const file = join(options.dir, 'wrk.lua');
  writeFileSync(file, script(options), { mode: 0o600 });
  const { stdout } = await run(
    'wrk',
    [
      '--threads',
      '1',
      '--connections',
      String(options.connections),
      '--duration',
      `${Math.max(1, Math.ceil(options.seconds))}s`,
      '--timeout',
      `${options.timeoutSeconds}s`,
      '--script',
      file,
      options.url,
    ],
    {
      maxBuffer: 1024 * 1024,
      killSignal: 'SIGKILL',
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
  const line = stdout
    .split('\n')
    .reverse()
    .find((text) => text.startsWith('{"requests"'));
  if (!line) throw new Error(`wrk printed no figures:\n${stdout}`);
  const figures = JSON.parse(line) as WrkFigures;
  const errors = figures.connect + figures.read + figures.write + figures.timeout;
  return {
    ok: figures.requests - figures.other,
    failures: figures.other + errors,
    sent: figures.sent,
    p50: figures.p50 / 1000,
    p99: figures.p99 / 1000,
    seconds: figures.duration / 1e6,
  };
}
