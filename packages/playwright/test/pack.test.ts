import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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
  });
});
