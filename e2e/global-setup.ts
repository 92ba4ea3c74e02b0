import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

interface StackInfo {
  baseURL: string;
  idpOrigin: string;
  controlUrl: string;
  glewlwyd: unknown;
}

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

/** Starts e2e/stack.ts in a child Node process and exports its URLs to the workers. */
export default async function globalSetup(): Promise<() => Promise<void>> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./stack.ts', import.meta.url))], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let info: StackInfo;
  try {
    info = await new Promise<StackInfo>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('stack did not start within 60 s')),
        START_TIMEOUT_MS,
      );
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`stack exited early with ${code}`));
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (!line.startsWith('{')) return;
        clearTimeout(timer);
        resolve(JSON.parse(line) as StackInfo);
      });
    });
  } catch (error) {
    await stop(child);
    throw error;
  }
  process.env.E2E_BASE_URL = info.baseURL;
  process.env.E2E_IDP_ORIGIN = info.idpOrigin;
  process.env.E2E_CONTROL_URL = info.controlUrl;
  process.env.E2E_GLEWLWYD = JSON.stringify(info.glewlwyd);
  return () => stop(child);
}

/** SIGTERM, then SIGKILL after a while; never waits for a process that is already gone. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
