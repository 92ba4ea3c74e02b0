// Static checks of the container setup (there is no Docker engine in CI): docker-compose.yml is
// linted by dclint and checked for the facts the dev stack relies on, and the Dockerfile's COPY
// sources and CMD entry points are resolved against the repository and the .dockerignore.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, posix, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@gatehouse/core';

const root = resolve(import.meta.dirname, '../../..');
const composePath = join(root, 'docker-compose.yml');
const dclintBin = join(root, 'node_modules/.bin/dclint');

// ---------------------------------------------------------------------------------------------
// YAML: dclint parses compose files with `yaml`; reuse exactly that parser (resolved from dclint's
// own location) rather than adding a second one to the workspace.

type YamlParse = (text: string) => unknown;
type Dict = Record<string, unknown>;

function loadYamlParser(): YamlParse {
  const dclintManifest = realpathSync(join(root, 'node_modules/dclint/package.json'));
  const yaml = createRequire(dclintManifest)('yaml') as { parse: YamlParse };
  return yaml.parse;
}

function dict(value: unknown, where: string): Dict {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${where}: expected a mapping`);
  }
  return value as Dict;
}

function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${where}: expected a sequence`);
  return value as unknown[];
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new Error(`${where}: expected a string`);
  return value;
}

const compose = dict(loadYamlParser()(readFileSync(composePath, 'utf8')), 'compose');
const services = dict(compose['services'], 'services');

function service(name: string): Dict {
  return dict(services[name], `services.${name}`);
}

function environment(name: string): Record<string, string> {
  const env = dict(service(name)['environment'], `services.${name}.environment`);
  return Object.fromEntries(
    Object.entries(env).map(([key, value]) => [key, text(value, `${name}.environment.${key}`)]),
  );
}

// ---------------------------------------------------------------------------------------------
// Dockerfile: a small reader for the instructions this repository uses.

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

function readInstructions(source: string): Instruction[] {
  const joined = source.replace(/\\\r?\n/g, ' ');
  return joined
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^(\S+)\s+(.*)$/.exec(line);
      if (!match?.[1] || match[2] === undefined)
        throw new Error(`Dockerfile: cannot read "${line}"`);
      return { keyword: match[1].toUpperCase(), args: match[2].trim() };
    });
}

function readStages(instructions: Instruction[]): { args: Map<string, string>; stages: Stage[] } {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      if (!match?.[1]) throw new Error(`Dockerfile: bad FROM "${instruction.args}"`);
      stages.push({ name: match[2] ?? `#${stages.length}`, from: match[1], instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [key, value = ''] = instruction.args.split('=');
      if (key) args.set(key, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

const dockerfile = readStages(readInstructions(readFileSync(join(root, 'Dockerfile'), 'utf8')));
const stagesByName = new Map(dockerfile.stages.map((stage) => [stage.name, stage]));

function expandArgs(value: string): string {
  return value.replace(/\$\{(\w+)\}/g, (_all, key: string) => dockerfile.args.get(key) ?? '');
}

/** A COPY/ADD: `--from` (a stage) or repository sources, and the destination. */
interface Copy {
  from: string | undefined;
  sources: string[];
  dest: string;
}

function readCopy(args: string): Copy {
  const words = args.split(/\s+/);
  const flags = words.filter((word) => word.startsWith('--'));
  const paths = words.filter((word) => !word.startsWith('--'));
  const dest = paths.pop();
  if (!dest || paths.length === 0) throw new Error(`Dockerfile: bad COPY "${args}"`);
  const from = flags.find((flag) => flag.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths, dest };
}

/** Where each path of a stage's filesystem came from: image path prefix -> repository path. */
interface Mapping {
  imagePath: string;
  repoPath: string;
}

function stageLineage(stage: Stage): Stage[] {
  const parent = stagesByName.get(stage.from);
  return parent ? [...stageLineage(parent), stage] : [stage];
}

function copiedFromRepo(stage: Stage): Mapping[] {
  const mappings: Mapping[] = [];
  let workdir = '/';
  for (const current of stageLineage(stage)) {
    for (const { keyword, args } of current.instructions) {
      if (keyword === 'WORKDIR') workdir = posix.resolve(workdir, args);
      if (keyword !== 'COPY' && keyword !== 'ADD') continue;
      mappings.push(...copyMappings(readCopy(args), workdir));
    }
  }
  return mappings;
}

function copyMappings(copy: Copy, workdir: string): Mapping[] {
  const dest = posix.resolve(workdir, copy.dest);
  const intoDirectory = copy.dest.endsWith('/') || copy.sources.length > 1;
  if (copy.from === undefined) {
    return copy.sources.map((source) => ({
      imagePath: intoDirectory ? posix.join(dest, posix.basename(source)) : dest,
      repoPath: source,
    }));
  }
  const fromStage = stagesByName.get(copy.from);
  if (!fromStage) return [];
  const mappings: Mapping[] = [];
  for (const source of copy.sources) {
    for (const mapping of copiedFromRepo(fromStage)) {
      const rest = relativeInside(source, mapping.imagePath);
      if (rest !== undefined)
        mappings.push({ imagePath: posix.join(dest, rest), repoPath: mapping.repoPath });
    }
  }
  return mappings;
}

/** `path` relative to `dir` when it is `dir` or inside it. */
function relativeInside(dir: string, path: string): string | undefined {
  if (path === dir) return '.';
  return path.startsWith(`${dir.replace(/\/$/, '')}/`) ? posix.relative(dir, path) : undefined;
}

function repoPathInImage(stage: Stage, imagePath: string): string | undefined {
  for (const mapping of copiedFromRepo(stage).reverse()) {
    const rest = relativeInside(mapping.imagePath, imagePath);
    if (rest !== undefined) return posix.join(mapping.repoPath, rest);
  }
  return undefined;
}

function stageWorkdir(stage: Stage): string {
  let workdir = '/';
  for (const current of stageLineage(stage)) {
    for (const { keyword, args } of current.instructions) {
      if (keyword === 'WORKDIR') workdir = posix.resolve(workdir, args);
    }
  }
  return workdir;
}

function lastInstruction(stage: Stage, keyword: string): string | undefined {
  const found = stageLineage(stage)
    .flatMap((current) => current.instructions)
    .filter((instruction) => instruction.keyword === keyword);
  return found.at(-1)?.args;
}

// ---------------------------------------------------------------------------------------------
// .dockerignore: Docker's rules (last matching pattern wins, `!` re-includes, a pattern that
// matches a parent directory matches everything below it).

interface IgnoreRule {
  negated: boolean;
  pattern: RegExp;
}

function readDockerignore(source: string): IgnoreRule[] {
  return source
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!');
      const glob = posix.normalize((negated ? line.slice(1) : line).replace(/^\//, ''));
      return { negated, pattern: globToRegExp(glob) };
    });
}

function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i += 1) {
    const char = glob[i] ?? '';
    if (glob.startsWith('**/', i)) {
      out += '(?:.*/)?';
      i += 2;
    } else if (glob.startsWith('**', i)) {
      out += '.*';
      i += 1;
    } else if (char === '*') out += '[^/]*';
    else if (char === '?') out += '[^/]';
    else out += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

const ignoreRules = readDockerignore(readFileSync(join(root, '.dockerignore'), 'utf8'));

function inBuildContext(path: string): boolean {
  const parts = path.split('/');
  let excluded = false;
  for (const rule of ignoreRules) {
    const hit = parts.some((_part, i) => rule.pattern.test(parts.slice(0, i + 1).join('/')));
    if (hit) excluded = !rule.negated;
  }
  return !excluded;
}

/** Files below `path` (or `path` itself) that reach the build context. */
function contextFiles(path: string): string[] {
  const absolute = join(root, path);
  if (!statSync(absolute).isDirectory()) return inBuildContext(path) ? [path] : [];
  return readdirSync(absolute).flatMap((entry) =>
    entry === 'node_modules' ? [] : contextFiles(posix.join(path, entry)),
  );
}

// ---------------------------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  it('passes dclint with no errors and no warnings', () => {
    const run = spawnSync(dclintBin, ['-f', 'json', '--max-warnings', '0', 'docker-compose.yml'], {
      cwd: root,
      encoding: 'utf8',
    });
    const [report] = list(JSON.parse(run.stdout), 'dclint report').map((entry) =>
      dict(entry, 'dclint entry'),
    );
    expect(report?.['messages'], run.stderr).toEqual([]);
    expect(report?.['errorCount']).toBe(0);
    expect(run.status).toBe(0);
  });

  it('runs redis with the append-only file on a named volume', () => {
    const redis = service('redis');
    const command = list(redis['command'], 'redis.command').map((word) => text(word, 'command'));
    expect(command[command.indexOf('--appendonly') + 1]).toBe('yes');
    const mounts = list(redis['volumes'], 'redis.volumes').map((v) => text(v, 'redis volume'));
    const dataMount = mounts.find((mount) => mount.endsWith(':/data'));
    const volumeName = dataMount?.split(':')[0] ?? '';
    expect(Object.keys(dict(compose['volumes'], 'volumes'))).toContain(volumeName);
  });

  it('gives every service a healthcheck, a restart policy and a pinned image', () => {
    expect(Object.keys(services).sort()).toEqual(['demo-api', 'dev-idp', 'redis', 'server']);
    for (const name of Object.keys(services)) {
      const svc = service(name);
      const check = dict(svc['healthcheck'], `${name}.healthcheck`);
      expect(check['disable'], name).toBeUndefined();
      expect(list(check['test'], `${name}.healthcheck.test`).length, name).toBeGreaterThan(1);
      expect(svc['restart'], name).toBe('unless-stopped');
      if (svc['image'] !== undefined) {
        expect(text(svc['image'], `${name}.image`), name).toMatch(/^[^:]+:(?!latest$)[\w.-]+$/);
      }
    }
  });

  it('builds each app from an existing Dockerfile stage and runs it with init', () => {
    for (const name of ['server', 'dev-idp', 'demo-api']) {
      const build = dict(service(name)['build'], `${name}.build`);
      expect(stagesByName.has(text(build['target'], `${name}.build.target`)), name).toBe(true);
      expect(service(name)['init'], name).toBe(true);
    }
  });

  it('publishes ports on loopback only', () => {
    for (const name of Object.keys(services)) {
      const ports = service(name)['ports'];
      if (ports === undefined) continue;
      for (const port of list(ports, `${name}.ports`)) {
        expect(text(port, `${name}.ports`)).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
      }
    }
  });

  it('points the server at redis and shares the dev IdP namespace that publishes its port', () => {
    const env = environment('server');
    expect(env['REDIS_URL']).toBe('redis://redis:6379');
    expect(env['GATEHOUSE_MODE']).toBe('development');
    expect(service('server')['network_mode']).toBe('service:dev-idp');
    expect(service('server')['ports']).toBeUndefined();
    // The issuer the server trusts is the one the dev IdP announces to browsers.
    expect(env['DEV_IDP_ORIGIN']).toBe(environment('dev-idp')['DEV_IDP_PUBLIC_ORIGIN']);
    const published = list(service('dev-idp')['ports'], 'dev-idp.ports');
    expect(published).toContain(`127.0.0.1:${env['PORT']}:${env['PORT']}`);
    // The namespace owner must share a network with redis for the name `redis` to resolve.
    expect(service('dev-idp')['network_mode']).toBeUndefined();
    expect(service('redis')['network_mode']).toBeUndefined();
  });

  it('gives the server an environment that Gatehouse accepts as a config', () => {
    const { config } = loadConfig({ env: environment('server') });
    expect(config.mode).toBe('development');
    expect(config.redis).toEqual({ url: 'redis://redis:6379' });
    expect(config.host).toBe('0.0.0.0');
    expect(config.encryptionKeys.map((key) => key.kid)).toEqual(['dev']);
    expect(config.tenants.map((tenant) => tenant.id).sort()).toEqual(['acme', 'globex']);
    expect(config.routes.length).toBeGreaterThan(0);
    for (const route of config.routes) {
      expect(route.upstream).toBe(environment('server')['DEMO_API_URL']);
    }
  });

  it('lets the demo API trust the browser-facing issuers but fetch keys inside the network', () => {
    const issuers = list(
      JSON.parse(environment('demo-api')['DEMO_API_TRUSTED_ISSUERS'] ?? ''),
      'trusted issuers',
    ).map((entry) => dict(entry, 'trusted issuer'));
    const origin = environment('dev-idp')['DEV_IDP_PUBLIC_ORIGIN'];
    expect(issuers).toEqual([
      { issuer: origin, jwksUri: 'http://dev-idp:4000/jwks', audience: 'urn:gatehouse:demo-api' },
      {
        issuer: `${origin}/globex`,
        jwksUri: 'http://dev-idp:4000/globex/jwks',
        audience: 'urn:gatehouse:demo-api',
      },
      // Gatehouse's own tokens (`gatehouse` mode): the server shares dev-idp's network namespace.
      {
        issuer: environment('server')['PUBLIC_URL'],
        jwksUri: 'http://dev-idp:3000/.well-known/jwks.json',
        audience: 'urn:gatehouse:demo-api',
        algorithms: ['ES256', 'RS256'],
      },
    ]);
  });
});

describe('Dockerfile', () => {
  it('uses pinned base images, never :latest', () => {
    const images = dockerfile.stages
      .map((stage) => expandArgs(stage.from))
      .filter((from) => !stagesByName.has(from));
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) expect(image).toMatch(/^[\w./-]+:(?!latest$)[\w.-]+$/);
  });

  it('copies only sources that exist in the repository and reach the build context', () => {
    const copies = dockerfile.stages
      .flatMap((stage) => stage.instructions)
      .filter(({ keyword }) => keyword === 'COPY' || keyword === 'ADD')
      .map(({ args }) => readCopy(args));
    for (const copy of copies) {
      if (copy.from !== undefined) {
        expect(stagesByName.has(copy.from), copy.from).toBe(true);
        continue;
      }
      for (const source of copy.sources) {
        expect(existsSync(join(root, source)), source).toBe(true);
        expect(
          contextFiles(source).length,
          `${source} is excluded by .dockerignore`,
        ).toBeGreaterThan(0);
      }
    }
  });

  it('runs each service as a non-root user from an entry point copied into its image', () => {
    for (const target of ['server', 'dev-idp', 'demo-api']) {
      const stage = stagesByName.get(target);
      if (!stage) throw new Error(`no stage ${target}`);
      expect(lastInstruction(stage, 'USER'), target).toMatch(/^(?!root$|0$)\S+$/);
      expect(lastInstruction(stage, 'HEALTHCHECK'), target).toMatch(/^--.*CMD \[/);
      const cmd = list(JSON.parse(lastInstruction(stage, 'CMD') ?? ''), `${target} CMD`);
      const entry = text(cmd[1], `${target} CMD entry`);
      expect(cmd[0]).toBe('node');
      const repoPath = repoPathInImage(stage, posix.resolve(stageWorkdir(stage), entry));
      expect(repoPath, `${target}: ${entry} is not copied into the image`).toBe(entry);
      expect(existsSync(join(root, entry)), entry).toBe(true);
      expect(inBuildContext(entry), entry).toBe(true);
    }
  });

  it('keeps local secrets and installs out of the build context', () => {
    for (const path of ['.env', 'apps/server/.env', 'node_modules/x', 'apps/web/dist/index.html']) {
      expect(inBuildContext(path), path).toBe(false);
    }
    expect(inBuildContext('packages/gatehouse/src/index.ts')).toBe(true);
  });
});
