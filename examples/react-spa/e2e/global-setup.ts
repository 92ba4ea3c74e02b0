import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 10_000;

/** Starts e2e/stack.ts in a child Node process and hands its URL to the tests. */
export default async function globalSetup(): Promise<() => Promise<void>> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./stack.ts', import.meta.url))], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const baseURL = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('the example stack did not start within 90 s')),
        START_TIMEOUT_MS,
      );
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the example stack exited early with ${code}`));
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (!line.startsWith('{')) return;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { baseURL: string }).baseURL);
      });
    });
    process.env.EXAMPLE_BASE_URL = baseURL;
  } catch (error) {
    await stop(child);
    throw error;
  }
  return () => stop(child);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
