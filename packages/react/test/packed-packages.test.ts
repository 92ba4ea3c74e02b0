/// <reference types="node" />
/**
 * The SDK as a team installs it: `pnpm pack` both packages (their prepack builds dist/ with
 * tsdown), `npm install` the tarballs into an empty project (offline: they have no runtime
 * dependencies, React is a peer linked from this repository), import them from Node ESM and
 * type-check a consumer file under a `tsc --init` style config (nodenext) and a Vite style one
 * (bundler). No TS5097, no `.ts` file, no zod or @gatehouse/core anywhere in what is shipped.
 */
import { execFile } from 'node:child_process';
import {
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  realpath,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PACKAGES = resolve(import.meta.dirname, '../..');
const REPO = resolve(PACKAGES, '..');
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');

let work: string;
let consumer: string;
const tarballs: Record<'client' | 'react', string> = { client: '', react: '' };

async function pack(name: 'client' | 'react'): Promise<string> {
  const destination = join(work, name);
  await mkdir(destination);
  await run('pnpm', ['pack', '--pack-destination', destination], {
    cwd: join(PACKAGES, name),
    env: { ...process.env, CI: 'true' },
  });
  const [file] = (await readdir(destination)).filter((entry) => entry.endsWith('.tgz'));
  if (!file) throw new Error(`pnpm pack wrote no tarball for ${name}`);
  return join(destination, file);
}

/** Links a package of this repository (as resolved from packages/react) into the consumer. */
async function linkFromRepo(name: string): Promise<void> {
  const source = await realpath(join(PACKAGES, 'react/node_modules', name));
  const target = join(consumer, 'node_modules', name);
  await mkdir(dirname(target), { recursive: true });
  await symlink(source, target, 'dir');
}

async function tarEntries(tarball: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', tarball]);
  return stdout.split('\n').filter(Boolean).sort();
}

async function packedJson(tarball: string, file: string): Promise<Record<string, unknown>> {
  const { stdout } = await run('tar', ['-xzOf', tarball, `package/${file}`]);
  return JSON.parse(stdout) as Record<string, unknown>;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'gatehouse-pack-'));
  // The client first: the React package's d.ts build resolves @gatehouse/client's types.
  tarballs.client = await pack('client');
  tarballs.react = await pack('react');
  consumer = join(work, 'consumer');
  await mkdir(consumer);
  await writeFile(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  // --legacy-peer-deps: npm would fetch react from the registry; it is linked below instead.
  await run(
    'npm',
    [
      'install',
      '--offline',
      '--no-audit',
      '--no-fund',
      '--legacy-peer-deps',
      '--ignore-scripts',
      tarballs.client,
      tarballs.react,
    ],
    { cwd: consumer, env: { ...process.env, npm_config_cache: join(work, 'npm-cache') } },
  );
  for (const name of ['react', 'react-dom', '@types/react']) await linkFromRepo(name);
}, 180_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed SDK packages', () => {
  it('ship dist/ (JavaScript and bundled .d.ts) and a package.json with no source condition', async () => {
    expect(await tarEntries(tarballs.client)).toEqual([
      'package/dist/index.d.ts',
      'package/dist/index.js',
      'package/dist/vite.d.ts',
      'package/dist/vite.js',
      'package/package.json',
    ]);
    expect(await tarEntries(tarballs.react)).toEqual([
      'package/dist/index.d.ts',
      'package/dist/index.js',
      'package/package.json',
    ]);
    const client = await packedJson(tarballs.client, 'package.json');
    expect(client['exports']).toEqual({
      '.': { types: './dist/index.d.ts', import: './dist/index.js' },
      './vite': { types: './dist/vite.d.ts', import: './dist/vite.js' },
      './package.json': './package.json',
    });
    expect(client['sideEffects']).toBe(false);
    expect(client['dependencies']).toBeUndefined();
    const react = await packedJson(tarballs.react, 'package.json');
    expect(react['dependencies']).toBeUndefined();
    // workspace:^ became a version range a registry understands.
    expect(react['peerDependencies']).toEqual({ '@gatehouse/client': '^0.1.0', react: '>=18' });
  });

  it('carry their types whole: no import of zod, @gatehouse/core or a .ts file', async () => {
    for (const file of [
      'node_modules/@gatehouse/client/dist/index.d.ts',
      'node_modules/@gatehouse/client/dist/vite.d.ts',
      'node_modules/@gatehouse/react/dist/index.d.ts',
    ]) {
      const text = await readFile(join(consumer, file), 'utf8');
      expect(text).not.toMatch(/from ["'](?:zod|@gatehouse\/core)/);
      expect(text).not.toMatch(/from ["'][^"']+\.tsx?["']/);
    }
    const admin = await readFile(
      join(consumer, 'node_modules/@gatehouse/client/dist/index.d.ts'),
      'utf8',
    );
    expect(admin).toMatch(
      /type TokenEndpointAuthMethod =\s*'client_secret_basic' \| 'client_secret_post' \| 'private_key_jwt'/,
    );
  });

  it('import from Node ESM and work: the client, the Vite helper and the React bindings', async () => {
    await writeFile(
      join(consumer, 'smoke.mjs'),
      `
import { createGatehouseClient, GatehouseProblem } from '@gatehouse/client';
import { gatehouseDevProxy } from '@gatehouse/client/vite';
import * as bindings from '@gatehouse/react';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

const client = createGatehouseClient({ defaultTenant: 'acme', navigate() {}, fetch: globalThis.fetch });
const strict = createGatehouseClient({ navigate() {} });
let refused;
try {
  strict.login();
} catch (error) {
  refused = error.message;
}
strict.dispose();
const { GatehouseProvider, SignedIn, SignedOut, SessionLoading } = bindings;
const html = renderToStaticMarkup(
  createElement(GatehouseProvider, { client, refreshOnMount: false },
    createElement(SessionLoading, null, 'checking'),
    createElement(SignedIn, null, 'in'),
    createElement(SignedOut, null, 'out')),
);
console.log(JSON.stringify({
  loginUrl: client.loginUrl({ returnTo: '/notes' }),
  refused,
  problem: new GatehouseProblem({ type: 'about:blank', title: 'Gone', status: 401, code: 'unauthenticated' }).code,
  proxy: gatehouseDevProxy({ target: 'http://localhost:3999' }),
  bindings: Object.keys(bindings).sort(),
  sameClientModule: bindings.createGatehouseClient === createGatehouseClient,
  html,
}));
client.dispose();
`,
    );
    const { stdout } = await run(process.execPath, ['smoke.mjs'], {
      cwd: consumer,
      timeout: 50_000,
    });
    const result = JSON.parse(stdout) as Record<string, unknown>;
    expect(result).toMatchObject({
      loginUrl: '/bff/login?returnTo=%2Fnotes&tenant=acme',
      refused: expect.stringMatching(/pass \{ tenant \} or \{ email \}/) as unknown,
      problem: 'unauthenticated',
      sameClientModule: true,
      html: 'checking',
    });
    const rule = { target: 'http://localhost:3999', changeOrigin: false, ws: false, xfwd: false };
    expect(result['proxy']).toEqual({
      '^/bff(?:[/?]|$)': rule,
      // WebSocket routes live under /api only.
      '^/api(?:[/?]|$)': { ...rule, ws: true },
      '^/admin/api(?:[/?]|$)': rule,
    });
    expect(result['bindings']).toEqual([
      'GatehouseProblem',
      'GatehouseProvider',
      'SessionLoading',
      'SignedIn',
      'SignedOut',
      'createGatehouseClient',
      'readProblem',
      'useApi',
      'useExpiryWarning',
      'useGatehouse',
      'useSession',
      'useUser',
    ]);
  }, 60_000);

  it.each([
    [
      'tsc --init defaults (module nodenext)',
      {
        module: 'nodenext',
        target: 'esnext',
        types: [],
        strict: true,
        jsx: 'react-jsx',
        verbatimModuleSyntax: true,
        isolatedModules: true,
        noUncheckedSideEffectImports: true,
        moduleDetection: 'force',
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        skipLibCheck: true,
        noEmit: true,
      },
    ],
    [
      'a Vite app (moduleResolution bundler)',
      {
        target: 'es2022',
        lib: ['es2022', 'dom', 'dom.iterable'],
        module: 'esnext',
        moduleResolution: 'bundler',
        types: [],
        jsx: 'react-jsx',
        strict: true,
        // Our .d.ts files are checked too (and @types/react with them).
        skipLibCheck: false,
        noEmit: true,
      },
    ],
  ])(
    'type-check a consumer under %s',
    async (_name, compilerOptions) => {
      const dir = join(consumer, `check-${String(compilerOptions.module)}`);
      await mkdir(dir);
      await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions }));
      await writeFile(join(dir, 'app.tsx'), CONSUMER_APP);
      const answer = await run(process.execPath, [TSC, '-p', dir]).then(
        () => ({ code: 0, output: '' }),
        (error: { code: number; stdout: string }) => ({ code: error.code, output: error.stdout }),
      );
      expect(answer.output).toBe('');
      expect(answer.code).toBe(0);
    },
    90_000,
  );
});

/** What a team writes; `@ts-expect-error` lines prove the types refuse what they must. */
const CONSUMER_APP = `
import { createGatehouseClient, type ProviderInput, type SessionState } from '@gatehouse/client';
import { gatehouseDevProxy, type GatehouseProxyRule } from '@gatehouse/client/vite';
import {
  GatehouseProvider,
  readProblem,
  SignedIn,
  SignedOut,
  useApi,
  useGatehouse,
  useSession,
  useUser,
} from '@gatehouse/react';

const gatehouse = createGatehouseClient({ defaultTenant: 'acme' });
gatehouse.login();
const strict = createGatehouseClient();
strict.login({ email: 'carol@globex.test' });
// @ts-expect-error -- no tenant, no email and no defaultTenant
strict.login();

const input: ProviderInput = { id: 'okta', issuer: 'https://okta.example', clientId: 'gh' };
// @ts-expect-error -- the server refuses none (a BFF is a confidential client), so the types do too
const refused: ProviderInput = { ...input, tokenEndpointAuthMethod: 'none' };

const proxy: Record<string, string | GatehouseProxyRule> = gatehouseDevProxy();

function Profile() {
  const state: SessionState = useSession();
  const user = useUser();
  const apiFetch = useApi();
  const client = useGatehouse();
  return (
    <div>
      <p>{state.status}</p>
      <SignedIn>{(signedIn) => <p>{signedIn.claims.email ?? user?.tenant}</p>}</SignedIn>
      <SignedOut>
        <button onClick={() => client.login({ tenant: 'acme' })}>Sign in</button>
      </SignedOut>
      <button onClick={() => void apiFetch('/api/demo/me').then((r) => r.json())}>Call</button>
      <button
        onClick={() =>
          void apiFetch('/api/orders').then(async (r) => {
            // A 503's Retry-After, in milliseconds (undefined without one).
            const wait: number | undefined = r.ok ? undefined : (await readProblem(r)).retryAfterMs;
            return wait;
          })
        }
      >
        Order
      </button>
    </div>
  );
}

export const app = (
  <GatehouseProvider client={gatehouse}>
    <Profile />
  </GatehouseProvider>
);
export { input, refused, proxy };
`;
