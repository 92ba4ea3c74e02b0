// Static checks of the container setup (there is no Docker engine in CI): docker-compose.yml and
// deploy/compose.production.yml are linted by dclint and checked for the facts each stack relies
// on, the production HAProxy config is checked by `haproxy -c`, and the Dockerfile's COPY sources
// and CMD entry points are resolved against the repository and the .dockerignore.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@gatehouse/core';
import { haproxyConfig } from '@gatehouse/testkit';

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

/** A YAML file's top-level mapping. */
function readYamlMapping(path: string, where: string): Dict {
  return dict(loadYamlParser()(readFileSync(path, 'utf8')), where);
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

interface ComposeFile {
  compose: Dict;
  services: Dict;
  service: (name: string) => Dict;
  environment: (name: string) => Record<string, string>;
}

function readCompose(path: string): ComposeFile {
  const compose = readYamlMapping(path, 'compose');
  const services = dict(compose['services'], 'services');
  const service = (name: string) => dict(services[name], `services.${name}`);
  const environment = (name: string) => {
    const env = dict(service(name)['environment'], `services.${name}.environment`);
    return Object.fromEntries(
      Object.entries(env).map(([key, value]) => [key, text(value, `${name}.environment.${key}`)]),
    );
  };
  return { compose, services, service, environment };
}

const { compose, services, service, environment } = readCompose(composePath);

/** dclint's findings for one compose file (JSON report), with its exit status. */
function dclint(file: string) {
  const run = spawnSync(dclintBin, ['-f', 'json', '--max-warnings', '0', file], {
    cwd: root,
    encoding: 'utf8',
  });
  const [report] = list(JSON.parse(run.stdout), 'dclint report').map((entry) =>
    dict(entry, 'dclint entry'),
  );
  return { report, status: run.status, stderr: run.stderr };
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
    const { report, status, stderr } = dclint('docker-compose.yml');
    expect(report?.['messages'], stderr).toEqual([]);
    expect(report?.['errorCount']).toBe(0);
    expect(status).toBe(0);
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

  it("gives the image's install every file a frozen pnpm install reads", () => {
    // Each workspace project of the lockfile (its manifest) and each patch pnpm applies.
    const manifests = stagesByName.get('manifests');
    if (!manifests) throw new Error('no stage manifests');
    const lockfile = readYamlMapping(join(root, 'pnpm-lock.yaml'), 'lockfile');
    const workspace = readYamlMapping(join(root, 'pnpm-workspace.yaml'), 'pnpm-workspace.yaml');
    const needed = [
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      ...Object.keys(dict(lockfile['importers'], 'importers')).map((project) =>
        posix.join(project, 'package.json'),
      ),
      ...Object.values(dict(workspace['patchedDependencies'] ?? {}, 'patchedDependencies')).map(
        (patch) => text(patch, 'patch path'),
      ),
    ];
    expect(needed.some((path) => path.startsWith('patches/'))).toBe(true);
    const workdir = stageWorkdir(manifests);
    for (const path of needed) {
      expect(repoPathInImage(manifests, posix.join(workdir, path)), path).toBe(path);
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

// ---------------------------------------------------------------------------------------------
// Production: deploy/compose.production.yml and the HAProxy config it mounts.

const productionFile = 'deploy/compose.production.yml';
const productionPath = join(root, productionFile);
const productionText = readFileSync(productionPath, 'utf8');
const production = readCompose(productionPath);
const INSTANCES = ['gatehouse1', 'gatehouse2'];
/** What compose needs from the operator: it refuses to start while one is missing. */
const REQUIRED_VARIABLES = [
  'GATEHOUSE_CONFIG_FILE',
  'GATEHOUSE_IMAGE',
  'GATEHOUSE_SECRETS_DIR',
  'PUBLIC_URL',
  'TLS_CERTIFICATE_FILE',
];
/** The Docker secrets every Gatehouse instance mounts (`gatehouse keys --dir` + redis_password). */
const GATEHOUSE_SECRETS = [
  'gatehouse_config',
  'session_secret',
  'gatehouse_encryption_keys',
  'gatehouse_signing_keys',
  'gatehouse_admin_token',
  'redis_password',
];

/** Compose's interpolation: `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$` for `$`. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\$|\$\{(\w+)(?::([?-])([^}]*))?\}/g,
    (all, name: string, op: string | undefined, arg: string | undefined) => {
      if (all === '$$') return '$';
      const set = vars[name];
      if (set !== undefined && set !== '') return set;
      if (op === '?') throw new Error(`${name} is required: ${arg ?? ''}`);
      return op === '-' ? (arg ?? '') : '';
    },
  );
}

function requiredVariables(source: string): string[] {
  const names = [...source.matchAll(/\$\{(\w+):\?/g)].map((match) => match[1] ?? '');
  return [...new Set(names)].sort();
}

/** What the operator sets (secrets are files in GATEHOUSE_SECRETS_DIR, not variables). */
function operatorVariables(
  configFile: string,
  secretsDir = '/etc/gatehouse/secrets',
): Record<string, string> {
  return {
    GATEHOUSE_CONFIG_FILE: configFile,
    GATEHOUSE_IMAGE: 'registry.example.com/gatehouse:1.0.0',
    GATEHOUSE_SECRETS_DIR: secretsDir,
    PUBLIC_URL: 'https://app.example.com',
    TLS_CERTIFICATE_FILE: '/etc/gatehouse/tls.pem',
  };
}

function seconds(duration: string): number {
  const match = /^(\d+)(s|m)$/.exec(duration);
  if (!match) throw new Error(`unsupported duration ${duration}`);
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
}

/** The directives of an HAProxy config, one string per line, comments and blanks dropped. */
function haproxyLines(config: string): string[] {
  return config
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim().replace(/\s+/g, ' '))
    .filter((line) => line !== '');
}

/** The lines that decide balancing, health and retries (not addresses, TLS or check intervals). */
function balancingPolicy(config: string): string[] {
  const keys = [
    'balance ',
    'option httpchk',
    'http-check ',
    'retries ',
    'option redispatch',
    'retry-on ',
    'http-request disable-l7-retry',
    'option allbackups',
    'timeout http-keep-alive',
  ];
  return haproxyLines(config)
    .filter((line) => keys.some((key) => line.startsWith(key)))
    .sort();
}

const proxyVolume = list(production.service('proxy')['volumes'], 'proxy.volumes')
  .map((volume) => text(volume, 'proxy volume'))
  .find((volume) => volume.includes('haproxy.cfg'));
const haproxyCfgPath = resolve(dirname(productionPath), proxyVolume?.split(':')[0] ?? '');
const haproxyCfg = readFileSync(haproxyCfgPath, 'utf8');

describe('deploy/compose.production.yml', () => {
  it('passes dclint with no errors and no warnings', () => {
    const { report, status, stderr } = dclint(productionFile);
    expect(report?.['messages'], stderr).toEqual([]);
    expect(report?.['errorCount']).toBe(0);
    expect(status).toBe(0);
  });

  it('runs two Gatehouse instances of one image behind the proxy, the only published service', () => {
    expect(Object.keys(production.services).sort()).toEqual([...INSTANCES, 'proxy', 'redis']);
    for (const name of INSTANCES) {
      const instance = production.service(name);
      expect(text(instance['image'], `${name}.image`)).toMatch(/^\$\{GATEHOUSE_IMAGE:\?[^}]+\}$/);
      expect(instance['build'], name).toBeUndefined();
      expect(instance['ports'], name).toBeUndefined();
      expect(production.environment(name)).toEqual(production.environment('gatehouse1'));
      expect(list(instance['networks'], `${name}.networks`).sort()).toEqual(['edge', 'store']);
    }
    expect(production.service('redis')['ports']).toBeUndefined();
    expect(production.service('redis')['networks']).toEqual(['store']);
    const networks = dict(production.compose['networks'], 'networks');
    expect(dict(networks['store'], 'networks.store')['internal']).toBe(true);
    expect(production.service('proxy')['networks']).toEqual(['edge']);
    const published = list(production.service('proxy')['ports'], 'proxy.ports');
    expect(published.map((port) => text(port, 'proxy port').split(':').at(-2))).toEqual([
      '80',
      '443',
    ]);
  });

  it('runs Redis with the append-only file on a named volume', () => {
    const redis = production.service('redis');
    const command = list(redis['command'], 'redis.command')
      .map((word) => text(word, 'command'))
      .join(' ');
    expect(command).toMatch(/redis-server .*--appendonly yes/);
    const mounts = list(redis['volumes'], 'redis.volumes').map((v) => text(v, 'redis volume'));
    const volumeName = mounts.find((mount) => mount.endsWith(':/data'))?.split(':')[0] ?? '';
    expect(Object.keys(dict(production.compose['volumes'], 'volumes'))).toContain(volumeName);
  });

  it('gives every service a health check, a restart policy and a pinned image', () => {
    for (const name of Object.keys(production.services)) {
      const svc = production.service(name);
      const check = dict(svc['healthcheck'], `${name}.healthcheck`);
      expect(check['disable'], name).toBeUndefined();
      expect(list(check['test'], `${name}.healthcheck.test`).length, name).toBeGreaterThan(1);
      expect(svc['restart'], name).toBe('unless-stopped');
      if (!INSTANCES.includes(name)) {
        expect(text(svc['image'], `${name}.image`), name).toMatch(/^[^:$]+:(?!latest$)[\w.-]+$/);
      }
    }
    // The proxy's check reaches the monitor frontend of its config.
    const proxyCheck = list(
      dict(production.service('proxy')['healthcheck'], 'proxy.healthcheck')['test'],
      'proxy.healthcheck.test',
    ).join(' ');
    const monitor = haproxyLines(haproxyCfg);
    const healthFrontend = monitor.slice(monitor.indexOf('frontend health'));
    const port = /^bind :(\d+)$/.exec(healthFrontend[1] ?? '')?.[1];
    const uri = /^monitor-uri (\S+)$/.exec(healthFrontend[2] ?? '')?.[1];
    expect(proxyCheck).toContain(`http://127.0.0.1:${port}${uri}`);
  });

  it('runs Gatehouse as non-root on a read-only root file system', () => {
    for (const name of INSTANCES) {
      const instance = production.service(name);
      expect(text(instance['user'], `${name}.user`)).toMatch(/^(?!0(:|$)|root(:|$))\S+$/);
      expect(instance['read_only'], name).toBe(true);
      expect(instance['cap_drop'], name).toEqual(['ALL']);
      expect(instance['security_opt'], name).toContain('no-new-privileges:true');
      expect(instance['init'], name).toBe(true);
    }
  });

  it('takes every secret from the environment or a secret file, with no default', () => {
    expect(requiredVariables(productionText)).toEqual(REQUIRED_VARIABLES);
    // Compose refuses to start while any one of them is missing.
    const all = operatorVariables('/etc/gatehouse/config.json');
    expect(() => interpolate(productionText, all)).not.toThrow();
    for (const name of REQUIRED_VARIABLES) {
      const { [name]: _missing, ...others } = all;
      expect(() => interpolate(productionText, others), name).toThrow(name);
    }
    // Nothing secret is in the file or the environment: every secret-looking setting is a
    // `_FILE` variable naming a Docker secret the service mounts, and URLs carry no password.
    for (const name of Object.keys(production.services)) {
      const env = production.service(name)['environment'];
      if (env === undefined) continue;
      const mounted = list(production.service(name)['secrets'] ?? [], `${name}.secrets`);
      for (const [key, value] of Object.entries(production.environment(name))) {
        if (key === 'REDIS_URL') expect(value, `${name}.${key}`).not.toMatch(/:[^/@]*@/);
        if (!/SECRET|PASSWORD|TOKEN|KEYS?$/.test(key)) continue;
        expect(key, `${name}.${key}`).toMatch(/_FILE$/);
        const secret = /^\/run\/secrets\/([\w-]+)$/.exec(value)?.[1];
        expect(mounted, `${name}.${key}`).toContain(secret);
      }
    }
    // The secrets' host files: an operator-given location, required.
    for (const [name, secret] of Object.entries(dict(production.compose['secrets'], 'secrets'))) {
      expect(text(dict(secret, name)['file'], name)).toMatch(/^\$\{\w+:\?[^}]+\}(\/[\w.-]+)?$/);
    }
    for (const name of INSTANCES) {
      expect(production.service(name)['secrets'], name).toEqual(GATEHOUSE_SECRETS);
    }
    expect(productionText).not.toMatch(/dev-only|changeme|example-secret/i);
  });

  it('gives Gatehouse an environment and secrets (from `gatehouse keys --dir`) that it accepts as a production config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-compose-'));
    try {
      const configFile = join(dir, 'config.json');
      writeFileSync(configFile, JSON.stringify({ tenants: [], routes: [] }));
      // The operator's steps of the file's header: `pnpm keys --dir`, then the Redis password.
      const secretsDir = join(dir, 'secrets');
      const keys = spawnSync(
        process.execPath,
        [join(root, 'apps/server/src/main.ts'), 'keys', '--dir', secretsDir],
        { encoding: 'utf8' },
      );
      expect(keys.status, keys.stderr).toBe(0);
      const redisPassword = randomBytes(32).toString('hex');
      writeFileSync(join(secretsDir, 'redis_password'), `${redisPassword}\n`);
      const vars = operatorVariables(configFile, secretsDir);
      const raw = production.environment('gatehouse1');
      // The config file arrives as the `gatehouse_config` secret at its conventional path.
      expect(raw['GATEHOUSE_CONFIG']).toBe('/run/secrets/gatehouse_config');
      // Docker mounts each secret's host file at /run/secrets/<name>: resolve them so.
      const secrets = dict(production.compose['secrets'], 'secrets');
      const hostFile = (name: string) =>
        interpolate(text(dict(secrets[name], name)['file'], name), vars);
      const env = Object.fromEntries(
        Object.entries(raw).map(([key, value]) => {
          const secret = /^\/run\/secrets\/([\w-]+)$/.exec(value)?.[1];
          return [key, secret ? hostFile(secret) : interpolate(value, vars)];
        }),
      );
      const { config } = loadConfig({ env });
      expect(config.mode).toBe('production');
      expect(config.publicUrl).toBe('https://app.example.com');
      expect(config.redis).toEqual({ url: `redis://:${redisPassword}@redis:6379` });
      expect(config.host).toBe('0.0.0.0');
      expect(config.trustProxy).toBe(1);
      expect(config.adminToken).toMatch(/^[0-9a-f]{64}$/);
      expect(config.signingKeys).toHaveLength(1);
      expect(config.encryptionKeys).toHaveLength(1);
      // Docker kills only well after Gatehouse's own drain gives up (it then takes up to 5 s
      // more to close the stores).
      for (const name of INSTANCES) {
        const stopGrace = seconds(text(production.service(name)['stop_grace_period'], name));
        expect(stopGrace, name).toBeGreaterThanOrEqual(config.shutdownGraceSeconds + 5);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('routes the proxy to both instances with the balancing policy the multi-instance suite runs', () => {
    const lines = haproxyLines(haproxyCfg);
    const port = production.environment('gatehouse1')['PORT'];
    for (const name of INSTANCES) {
      expect(lines).toContain(`server ${name} ${name}:${port} check`);
      expect(lines).toContain(`server ${name}-fallback ${name}:${port} backup`);
    }
    expect(balancingPolicy(haproxyCfg)).toEqual(
      balancingPolicy(haproxyConfig(1, [{ name: 'gatehouse1', port: 2 }])),
    );
    // TLS on the port published as 443, with the certificate from its secret.
    const tlsPort = text(list(production.service('proxy')['ports'], 'ports')[1], 'port').split(
      ':',
    )[2];
    expect(lines).toContain(
      `bind :${tlsPort} ssl crt /run/secrets/tls_certificate alpn h2,http/1.1`,
    );
    expect(production.service('proxy')['secrets']).toEqual(['tls_certificate']);
  });

  it('has an HAProxy config that haproxy -c accepts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-haproxy-check-'));
    try {
      const key = join(dir, 'key.pem');
      const cert = join(dir, 'cert.pem');
      // A throwaway self-signed certificate where the secret would be mounted.
      const made = spawnSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-subj',
          '/CN=localhost',
          '-days',
          '1',
          '-keyout',
          key,
          '-out',
          cert,
        ],
        { encoding: 'utf8' },
      );
      expect(made.error).toBeUndefined();
      expect(made.status, made.stderr).toBe(0);
      const pem = join(dir, 'tls.pem');
      writeFileSync(pem, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
      const cfg = join(dir, 'haproxy.cfg');
      writeFileSync(cfg, haproxyCfg.replaceAll('/run/secrets/tls_certificate', pem));
      const path = [process.env.PATH ?? '', '/usr/sbin', '/usr/local/sbin'].join(':');
      const check = spawnSync('haproxy', ['-c', '-f', cfg], {
        encoding: 'utf8',
        env: { ...process.env, PATH: path },
      });
      expect(check.error).toBeUndefined();
      expect(check.status, `${check.stdout}\n${check.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
