import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createInterface } from 'node:readline';
import { freePort } from './ports.ts';
import { waitForPort } from './wait-for-port.ts';

/**
 * glewlwyd (https://github.com/babelouest/glewlwyd), an OpenID Provider written in C, as Debian
 * packages it (`apt-get install glewlwyd`): the server, its modules under /usr/lib/glewlwyd, its
 * login webapp under /usr/share/glewlwyd/webapp and its SQL schemas under dbconfig-common.
 */
const DEBIAN = {
  binary: '/usr/bin/glewlwyd',
  modules: '/usr/lib/glewlwyd',
  webapp: '/usr/share/glewlwyd/webapp',
  /** The webapp's `config.json` is a symlink to this *directory*; the file is inside it. */
  webappConfig: '/etc/glewlwyd/config-2.7.json/config.json',
  schema: '/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3',
};

/** The newest lines of glewlwyd's console log kept for {@link RunningGlewlwyd.log}. */
const MAX_LOG_LINES = 2000;

/** The administrator the packaged schema creates (`admin` / `password`); replaced at start. */
const PACKAGED_ADMIN = { username: 'admin', password: 'password' };

export interface GlewlwydUser {
  username: string;
  password: string;
  name: string;
  email: string;
}

export interface GlewlwydClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  backchannelLogoutUri?: string;
  /** Default `['client_secret_post']` (see {@link startGlewlwyd} on HTTP Basic). */
  authMethods?: Array<'client_secret_post' | 'client_secret_basic'>;
}

export interface GlewlwydOptions {
  /** Default: a free port. */
  port?: number;
  /** The OIDC plugin instance's name: the issuer is `<origin>/api/<pluginName>`. Default `oidc`. */
  pluginName?: string;
  /** The user that signs in. Default: `jane` with a random password. */
  user?: Partial<GlewlwydUser>;
  /** Lifetime of the access tokens it issues. Default 3600. */
  accessTokenSeconds?: number;
  /**
   * RFC 8707 resources a client may ask tokens for (with the `openid` scope); an access token
   * for one carries it as `aud`. glewlwyd accepts only `https://` and loopback `http://` URIs.
   */
  resources?: string[];
}

export interface RunningGlewlwyd {
  port: number;
  /** `http://localhost:<port>`: glewlwyd's `external_url` (no trailing slash: see below). */
  origin: string;
  /** The OIDC plugin's issuer, `<origin>/api/<pluginName>`, as its discovery document says. */
  issuer: string;
  /** The login page the authorization endpoint sends a browser to. */
  loginUrl: string;
  user: GlewlwydUser;
  /**
   * Registers a confidential client (`client_secret_post` unless told) for the code flow with
   * refresh tokens.
   */
  addClient(client: GlewlwydClient): Promise<void>;
  /** glewlwyd's console log so far (for a failing test's message). */
  log(): string;
  stop(): Promise<void>;
}

/** Debian's glewlwyd (`apt-get install glewlwyd`), or `GLEWLWYD_PATH`. */
function glewlwydBinary(): string {
  if (process.env.GLEWLWYD_PATH) return process.env.GLEWLWYD_PATH;
  return existsSync(DEBIAN.binary) ? DEBIAN.binary : 'glewlwyd';
}

const MIME_TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.css': 'text/css',
  '.js': 'application/javascript',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.eot': 'application/vnd.ms-fontobject',
  '.map': 'application/octet-stream',
};

/** A libconfig string: quotes and backslashes escaped (paths come from `os.tmpdir()`). */
function libconfigString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function serverConfig(options: {
  port: number;
  origin: string;
  webapp: string;
  database: string;
}): string {
  const s = libconfigString;
  return [
    `port=${options.port}`,
    `bind_address=${s('127.0.0.1')}`,
    // Must not end in `/`: glewlwyd appends `/api/...` and `/login.html` to it as is.
    `external_url=${s(options.origin)}`,
    `login_url=${s('login.html')}`,
    `api_prefix=${s('api')}`,
    `static_files_path=${s(options.webapp)}`,
    `allow_origin=${s('*')}`,
    `log_mode=${s('console')}`,
    `log_level=${s('INFO')}`,
    'cookie_secure=0',
    `cookie_same_site=${s('empty')}`,
    'session_expiration=3600',
    `session_key=${s('GLEWLWYD2_SESSION_ID')}`,
    `admin_session_authentication=${s('cookie')}`,
    `profile_session_authentication=${s('cookie')}`,
    'allow_multiple_user_per_session=false',
    'login_api_enabled=true',
    'add_x_frame_option_header_deny=true',
    `admin_scope=${s('g_admin')}`,
    `profile_scope=${s('g_profile')}`,
    `user_module_path=${s(join(DEBIAN.modules, 'user'))}`,
    `client_module_path=${s(join(DEBIAN.modules, 'client'))}`,
    `user_auth_scheme_module_path=${s(join(DEBIAN.modules, 'scheme'))}`,
    `plugin_module_path=${s(join(DEBIAN.modules, 'plugin'))}`,
    `hash_algorithm=${s('SHA512')}`,
    'database = {',
    `  type = ${s('sqlite3')}`,
    `  path = ${s(options.database)}`,
    '};',
    'static_files_mime_types = (',
    Object.entries(MIME_TYPES)
      .map(([extension, type]) => `  { extension = ${s(extension)}  mime_type = ${s(type)} }`)
      .join(',\n'),
    ');',
    '',
  ].join('\n');
}

/** A cookie-keeping JSON client for glewlwyd's admin API (`/api/...`). */
function adminApi(origin: string) {
  let cookie = '';
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${origin}/api${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(cookie ? { cookie } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'manual',
      // A busy machine is slow, but a hung glewlwyd must fail the start, not hang it.
      signal: AbortSignal.timeout(30_000),
    });
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('GLEWLWYD2_SESSION_ID='));
    if (setCookie) cookie = setCookie.split(';')[0] ?? '';
    const text = await res.text();
    if (!res.ok) {
      throw new Error(
        `glewlwyd ${method} /api${path} answered ${res.status}: ${text.slice(0, 500)}`,
      );
    }
    return text ? (JSON.parse(text) as unknown) : undefined;
  };
  return call;
}

/**
 * Starts Debian's glewlwyd on a free port with everything in a temp dir: its config, a SQLite
 * database made from the package's schema, and a copy of the login webapp. Then configures it
 * through its own admin API, as an administrator would: a new admin password, the scopes an OIDC
 * client asks for, an OpenID Connect plugin instance signing with an RS256 key generated here
 * (nothing is committed), and a user. Clients are added with {@link RunningGlewlwyd.addClient}
 * once their redirect URIs are known.
 *
 * Quirks of glewlwyd 2.7 (Debian 12) this works around:
 * - the packaged webapp's `config.json` is a symlink to a *directory* holding `config.json`, and
 *   the static file server follows no symlink: the webapp is copied with links dereferenced and
 *   the real `config.json` put in its place;
 * - `external_url` must not end in `/` (its URLs are made by concatenation);
 * - any `use_secure_connection` line, even `false`, makes it demand certificate paths: none here;
 * - the packaged client backend stores only the properties its `data-format` lists, and it lists
 *   `post_logout_redirect_uri` while the OIDC plugin reads `post_logout_redirect_uris` (an array),
 *   so end-session would ignore every post-logout redirect URI: the format is extended first, and
 *   the backend reset, since saved module parameters apply only after a reset;
 * - the login page cannot list the session to end (400) unless front-channel logout is allowed;
 * - its HTTP Basic client authentication does not undo RFC 6749's form-encoding of the client id
 *   and secret (`-` sent as `%2D` is refused), so clients are registered for `client_secret_post`.
 */
export async function startGlewlwyd(options: GlewlwydOptions = {}): Promise<RunningGlewlwyd> {
  const port = options.port ?? (await freePort());
  const origin = `http://localhost:${port}`;
  const pluginName = options.pluginName ?? 'oidc';
  const issuer = `${origin}/api/${pluginName}`;
  const user: GlewlwydUser = {
    username: options.user?.username ?? 'jane',
    password: options.user?.password ?? randomBytes(12).toString('base64url'),
    name: options.user?.name ?? 'Jane Glewlwyd',
    email: options.user?.email ?? 'jane@glewlwyd.test',
  };

  // The administrator this run uses; the packaged one is deleted.
  const admin = { username: 'gatehouse-admin', password: randomBytes(18).toString('base64url') };

  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-glewlwyd-'));
  const webapp = join(dir, 'webapp');
  const database = join(dir, 'glewlwyd.db');
  const configPath = join(dir, 'glewlwyd.conf');
  const output: string[] = [];
  let child: ReturnType<typeof spawn> | undefined;
  let spawnError: Error | undefined;
  const running = () =>
    child !== undefined && !spawnError && child.exitCode === null && child.signalCode === null;

  // Never leave glewlwyd behind when the process that started it ends without stop().
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    if (child && running()) {
      const exited = once(child, 'exit').catch(() => undefined);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    for (const path of [DEBIAN.webapp, DEBIAN.webappConfig, DEBIAN.schema]) {
      if (!existsSync(path)) throw new Error(`${path} is missing: apt-get install glewlwyd`);
    }
    await cp(DEBIAN.webapp, webapp, { recursive: true, dereference: true, filter: notConfig });
    await writeFile(join(webapp, 'config.json'), await readFile(DEBIAN.webappConfig));

    const db = new DatabaseSync(database);
    try {
      db.exec(await readFile(DEBIAN.schema, 'utf8'));
    } finally {
      db.close();
    }
    await writeFile(configPath, serverConfig({ port, origin, webapp, database }));

    child = spawn(glewlwydBinary(), ['--config-file', configPath, '--log-mode', 'console'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        if (output.length > MAX_LOG_LINES) output.shift();
      });
    }
    child.once('error', (error) => {
      spawnError = error;
      output.push(`cannot run glewlwyd (apt-get install glewlwyd): ${String(error)}`);
    });
    await waitForPort(port, () => !running(), 30_000);

    await configure(adminApi(origin), {
      admin,
      pluginName,
      issuer,
      user,
      accessTokenSeconds: options.accessTokenSeconds ?? 3600,
      resources: options.resources ?? [],
    });
  } catch (error) {
    const log = output.join('\n');
    await stop();
    throw new Error(`glewlwyd did not start: ${String(error)}\n${log}`, { cause: error });
  }

  return {
    port,
    origin,
    issuer,
    loginUrl: `${origin}/login.html`,
    user,
    async addClient(client) {
      const api = adminApi(origin);
      await api('POST', '/auth/', admin);
      await api('POST', '/client/', clientBody(client));
    },
    log: () => output.join('\n'),
    stop,
  };
}

/** The webapp's `config.json` symlink (to a directory) is replaced by the real file. */
function notConfig(source: string): boolean {
  return !source.endsWith('/config.json');
}

type AdminApi = ReturnType<typeof adminApi>;

/** The scopes Gatehouse asks for by default; only `openid` comes with the packaged schema. */
const OIDC_SCOPES = ['profile', 'email', 'offline_access'];

async function configure(
  api: AdminApi,
  options: {
    admin: { username: string; password: string };
    pluginName: string;
    issuer: string;
    user: GlewlwydUser;
    accessTokenSeconds: number;
    resources: string[];
  },
): Promise<void> {
  // A fresh administrator with a random password; the packaged `admin` / `password` goes away.
  await api('POST', '/auth/', PACKAGED_ADMIN);
  await api('POST', '/user/', {
    username: options.admin.username,
    password: options.admin.password,
    name: 'Gatehouse test administrator',
    scope: ['g_admin', 'g_profile'],
    enabled: true,
  });
  await api('POST', '/auth/', options.admin);
  await api('DELETE', `/user/${PACKAGED_ADMIN.username}`);

  for (const name of OIDC_SCOPES) {
    await api('POST', '/scope/', {
      name,
      display_name: name,
      description: `OpenID Connect scope ${name}`,
      password_required: true,
      password_max_age: 0,
      scheme: {},
    });
  }

  // The client backend keeps only the properties its data-format lists (see startGlewlwyd).
  const clientModule = (await api('GET', '/mod/client/database')) as {
    parameters: { 'data-format': Record<string, unknown> };
  } & Record<string, unknown>;
  clientModule.parameters['data-format'].post_logout_redirect_uris = {
    multiple: true,
    read: true,
    write: true,
  };
  await api('PUT', '/mod/client/database', clientModule);
  // Saved parameters take effect only when the running instance is reset.
  await api('PUT', '/mod/client/database/reset');

  // The ID token signing key: a fresh RSA key for this run, as a private JWKS.
  const kid = randomBytes(8).toString('hex');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  await api('POST', '/mod/plugin/', {
    module: 'oidc',
    name: options.pluginName,
    display_name: 'OpenID Connect',
    enabled: true,
    parameters: {
      iss: options.issuer,
      'jwks-private': JSON.stringify({ keys: [jwk] }),
      'default-kid': kid,
      'jwks-show': true,
      'access-token-duration': options.accessTokenSeconds,
      'refresh-token-duration': 1_209_600,
      'code-duration': 600,
      'refresh-token-rolling': true,
      'allow-non-oidc': false,
      'auth-type-code-enabled': true,
      'auth-type-refresh-enabled': true,
      'auth-type-token-enabled': false,
      'auth-type-id-token-enabled': false,
      'auth-type-none-enabled': false,
      'auth-type-password-enabled': false,
      'auth-type-client-enabled': false,
      'auth-type-device-enabled': false,
      'pkce-allowed': true,
      'pkce-method-plain-allowed': false,
      'introspection-revocation-allowed': true,
      'introspection-revocation-allow-target-client': true,
      'session-management-allowed': true,
      'session-cookie-name': 'GLEWLWYD2_OIDC_SID',
      'session-cookie-expiration': 3600,
      'back-channel-logout-allowed': true,
      // Without it the login page's end-session step cannot list the session (400), so the
      // user cannot confirm a logout at all.
      'front-channel-logout-allowed': true,
      // RFC 9207: `iss` in the authorization response (not advertised in its discovery).
      'oauth-as-iss-id': true,
      ...(options.resources.length > 0
        ? { 'resource-allowed': true, 'resource-scope': { openid: options.resources } }
        : {}),
      'subject-type': 'public',
      scope: [],
      'name-claim': 'on-demand',
      'name-claim-scope': ['profile'],
      'email-claim': 'on-demand',
      'email-claim-scope': ['email'],
    },
  });

  await api('POST', '/user/', {
    username: options.user.username,
    password: options.user.password,
    name: options.user.name,
    email: options.user.email,
    scope: ['openid', ...OIDC_SCOPES],
    enabled: true,
  });
}

function clientBody(client: GlewlwydClient): Record<string, unknown> {
  return {
    client_id: client.clientId,
    name: client.clientId,
    enabled: true,
    confidential: true,
    client_secret: client.clientSecret,
    token_endpoint_auth_method: client.authMethods ?? ['client_secret_post'],
    authorization_type: ['code', 'refresh_token'],
    redirect_uri: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris ?? [],
    ...(client.backchannelLogoutUri ? { backchannel_logout_uri: client.backchannelLogoutUri } : {}),
    scope: [],
  };
}
