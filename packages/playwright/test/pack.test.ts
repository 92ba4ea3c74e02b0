import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startStack } from '@gatehouse/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The package as a user gets it: `pnpm pack` (which builds it with tsdown), the tarball installed
 * into a new project outside the workspace — offline, from the local pnpm store, next to the
 * user's own @playwright/test — then imported from Node ESM and type-checked under the tsconfig
 * `tsc --init` writes.
 */
const packageDir = resolve(import.meta.dirname, '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function run(command: string, args: string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 240_000 });
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

function mustRun(command: string, args: string[], cwd: string): string {
  const { status, output } = run(command, args, cwd);
  if (status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${status}):\n${output}`);
  return output;
}

const USAGE = `import { test, expect, type GatehouseTestUser } from '@gatehouse/playwright';

test.use({ gatehouseUser: { tenant: 'acme', roles: ['gatehouse-admin'], claims: { team: 'qa' } } });

test('signed in', async ({ page, context, gatehouse }) => {
  await page.goto('/');
  const user: GatehouseTestUser | undefined = gatehouse.user;
  await expect(page.getByText(\`Signed in as \${user?.name ?? ''}\`)).toBeVisible();
  await gatehouse.expireAccessToken();
  await gatehouse.failStore(5_000, page);
  const other = await gatehouse.signIn(context, { tenant: 'globex', sub: 'other' });
  await gatehouse.backchannelLogout(context);
  expect(other.sub).toContain('other');
});
`;

/** A team's first test: signed in from its first line, against a development stack with test controls. */
const FIRST_TEST = `import { test, expect } from '@gatehouse/playwright';

test.use({ gatehouseUser: { tenant: 'acme' } });

test('signed in from the first line', async ({ page, gatehouse }) => {
  await page.goto('/bff/user');
  await expect(page.locator('body')).toContainText(gatehouse.user?.sub ?? 'no user');
  await gatehouse.expireSession();
  expect((await page.request.get('/bff/user')).status()).toBe(401);
});
`;

/** The consumer's Playwright config: Debian's Chromium where there is one, the stack's URL. */
const FIRST_CONFIG = `import { existsSync } from 'node:fs';
import { defineConfig } from '@playwright/test';

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));
export default defineConfig({
  testDir: '.',
  testMatch: 'first.spec.ts',
  workers: 1,
  reporter: 'line',
  use: {
    baseURL: process.env.GATEHOUSE_URL,
    launchOptions: {
      ...(chromium ? { executablePath: chromium } : {}),
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    },
  },
});
`;

const MISUSE = `import { test } from '@gatehouse/playwright';

test.use({ gatehouseUser: { tenant: 42 } });
test('x', async ({ gatehouse }) => {
  await gatehouse.failIdp('soon');
});
`;

describe('@gatehouse/playwright from its npm tarball', () => {
  let work: string;
  let project: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'gatehouse-pw-pack-'));
    project = join(work, 'consumer');
    mustRun('pnpm', ['pack', '--pack-destination', work], packageDir);
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
    if (!tarball) throw new Error('pnpm pack made no tarball');
    mustRun('mkdir', ['-p', project], work);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    const store = mustRun('pnpm', ['store', 'path'], packageDir).trim();
    const add = (network: '--offline' | '--prefer-offline') =>
      run(
        'pnpm',
        [
          'add',
          network,
          '--store-dir',
          store,
          join(work, tarball),
          '@playwright/test@1.65.1',
          '@types/node@24.19.2',
        ],
        project,
      );
    // The packages come from the workspace's store; only a machine whose pnpm has never resolved
    // them (a fresh CI after a frozen-lockfile install) asks the registry for their metadata.
    if (add('--offline').status !== 0) {
      const online = add('--prefer-offline');
      if (online.status !== 0) throw new Error(`pnpm add failed:\n${online.output}`);
    }
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('holds only the built files and the publish-time exports', () => {
    const listing = mustRun(
      'node',
      [
        '-e',
        'console.log(JSON.stringify(require("./node_modules/@gatehouse/playwright/package.json")))',
      ],
      project,
    );
    const manifest = JSON.parse(listing) as {
      exports: Record<string, unknown>;
      peerDependencies: Record<string, string>;
      dependencies?: Record<string, string>;
    };
    // `default` too: Playwright loads a reporter named in its config with require().
    expect(manifest.exports['.']).toEqual({
      types: './dist/index.d.ts',
      import: './dist/index.js',
      default: './dist/index.js',
    });
    expect(manifest.peerDependencies['@playwright/test']).toBeDefined();
    // One runtime dependency, pinned (the sign-in's own cookie jar); nothing of the workspace.
    expect(manifest.dependencies).toEqual({ 'tough-cookie': '6.1.0' });
    const files = readdirSync(join(project, 'node_modules/@gatehouse/playwright/dist')).sort();
    expect(files).toEqual(['index.d.ts', 'index.js', 'reporter.d.ts', 'reporter.js']);
  });

  it('imports from Node ESM: test (extended), expect and the reporter', () => {
    const script = `
      const m = await import('@gatehouse/playwright');
      const r = await import('@gatehouse/playwright/reporter');
      console.log(JSON.stringify({
        test: typeof m.test, use: typeof m.test.use, extend: typeof m.test.extend,
        expect: typeof m.expect, annotation: m.SIGN_IN_ANNOTATION, reporter: typeof r.default,
      }));`;
    const out = mustRun('node', ['--input-type=module', '-e', script], project);
    expect(JSON.parse(out)).toEqual({
      test: 'function',
      use: 'function',
      extend: 'function',
      expect: 'function',
      annotation: 'gatehouse:sign-in',
      reporter: 'function',
    });
  });

  it('type-checks a test file under the tsconfig tsc --init writes, and refuses a wrong one', () => {
    mustRun('node', [tsc, '--init'], project);
    writeFileSync(join(project, 'example.spec.ts'), USAGE);
    expect(run('node', [tsc, '--noEmit', '-p', '.'], project)).toEqual({ status: 0, output: '' });

    writeFileSync(join(project, 'misuse.spec.ts'), MISUSE);
    const refused = run('node', [tsc, '--noEmit', '-p', '.'], project);
    expect(refused.status).not.toBe(0);
    expect(refused.output).toContain('misuse.spec.ts(3,');
    expect(refused.output).toContain('misuse.spec.ts(5,');
    expect(refused.output).not.toContain('example.spec.ts');
    // Three runs of tsc on a 2-core machine: well over the default 20 s when other suites run.
  }, 120_000);
  it('runs a test written with it: signed in through the dev IdP from its first line', async () => {
    // What `GATEHOUSE_TEST_CONTROLS=1 pnpm dev` runs: development mode with test controls, the
    // dev IdP with its control API.
    const stack = await startStack({
      devIdp: { controlApi: true },
      configure: (input) => ({ ...input, testControls: true }),
    });
    try {
      writeFileSync(join(project, 'first.spec.ts'), FIRST_TEST);
      writeFileSync(join(project, 'playwright.config.mjs'), FIRST_CONFIG);
      // Asynchronously: the stack answers from this process meanwhile.
      const { stdout } = await promisify(execFile)(
        'node',
        ['node_modules/@playwright/test/cli.js', 'test', '-c', 'playwright.config.mjs'],
        { cwd: project, env: { ...process.env, GATEHOUSE_URL: stack.origin }, timeout: 180_000 },
      ).catch((error: { stdout?: string; stderr?: string }) => {
        throw new Error(`the consumer's test failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
      });
      expect(stdout).toContain('1 passed');
    } finally {
      await stack.close();
    }
  }, 240_000);
});
