/**
 * The example's end-to-end stack, in its own Node process: the dev IdP, the demo API and a
 * Gatehouse (memory stores) whose PUBLIC_URL is the example's origin, and `vite preview` serving
 * the built example (dist/, which imports the SDK packages' dist/) with `gatehouseDevProxy()`
 * forwarding Gatehouse's paths — a team's own SPA joining the dev stack. Test controls are on
 * (development mode, as `GATEHOUSE_TEST_CONTROLS=1 pnpm dev` does: Gatehouse's
 * `/bff/test-controls/*` and the dev IdP's control API) for the @gatehouse/playwright suite.
 * Prints one JSON line with the URL, then runs until SIGTERM.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { freePort, startStack } from '@gatehouse/testkit';

const exampleDir = resolve(import.meta.dirname, '..');
const vitePort = await freePort();
const publicUrl = `http://localhost:${vitePort}`;
const stack = await startStack({
  publicUrl,
  // ES256 ID and access tokens: a fifth of RS256's signing CPU on every sign-in's token request.
  devIdp: { controlApi: true, signingAlg: 'ES256' },
  // Apart from Gatehouse, as a real IdP is: neither waits on the other's event loop.
  devIdpProcess: true,
  configure: (input) => ({ ...input, testControls: true }),
});

// Declared before the preview server's handlers, which read it as soon as it exits.
let stopping = false;
const require = createRequire(resolve(exampleDir, 'package.json'));
const viteBin = resolve(dirname(require.resolve('vite/package.json')), 'bin/vite.js');
const vite = spawn(
  process.execPath,
  [viteBin, 'preview', '--host', '127.0.0.1', '--port', String(vitePort), '--strictPort'],
  {
    cwd: exampleDir,
    env: { ...process.env, GATEHOUSE_DEV_TARGET: stack.origin.replace('localhost', '127.0.0.1') },
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
vite.on('error', (error) => {
  console.error('vite preview failed to start', error);
  void stop(1);
});
vite.on('exit', (code) => {
  if (!stopping) {
    console.error(`vite preview exited with ${code}`);
    void stop(1);
  }
});

// Ready when the app and a proxied Gatehouse path both answer through the preview server.
const deadline = Date.now() + 60_000;
for (;;) {
  const ready = await Promise.all([
    fetch(`http://127.0.0.1:${vitePort}/`).then((r) => r.ok),
    fetch(`http://127.0.0.1:${vitePort}/bff/user`).then((r) => r.status === 401),
  ]).then(
    (answers) => answers.every(Boolean),
    () => false,
  );
  if (ready) break;
  if (Date.now() > deadline) {
    console.error('vite preview did not answer within 60 s');
    await stop(1);
  }
  await new Promise((done) => setTimeout(done, 200));
}

process.stdout.write(`${JSON.stringify({ baseURL: publicUrl })}\n`);

async function stop(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  vite.kill('SIGTERM');
  await stack.close();
  process.exit(code);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
