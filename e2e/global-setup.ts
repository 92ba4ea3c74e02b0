import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

interface StackInfo {
  baseURL: string;
  idpOrigin: string;
  controlUrl: string;
}

/** Starts e2e/stack.ts in a child Node process and exports its URLs to the workers. */
export default async function globalSetup(): Promise<() => Promise<void>> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./stack.ts', import.meta.url))], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const info = await new Promise<StackInfo>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('stack did not start within 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`stack exited early with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      clearTimeout(timer);
      resolve(JSON.parse(line) as StackInfo);
    });
  });
  process.env.E2E_BASE_URL = info.baseURL;
  process.env.E2E_IDP_ORIGIN = info.idpOrigin;
  process.env.E2E_CONTROL_URL = info.controlUrl;
  return async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
}
