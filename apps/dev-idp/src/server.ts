import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { controlRouter } from './control.ts';
import type { RealmStats } from './control.ts';
import { HttpError, interactionRouter, sendPage } from './interactions.ts';
import { messagePage } from './pages.ts';
import { cookieNames, createRealmProvider } from './provider.ts';
import { personalityRouter, realmIssuer } from './personalities.ts';
import { DEMO_API_RESOURCE, defaultRealms } from './realms.ts';
import type { DevIdpRealm, DevIdpSigningAlg } from './realms.ts';
import { UserDirectory } from './users.ts';
import { warmUpRealms } from './warm-up.ts';

/** Where the BFF runs when no realms are given (the default dev stack). */
export const DEFAULT_GATEHOUSE_ORIGIN = 'http://localhost:3000';

export interface DevIdpOptions {
  /** 0 (default here) picks a free port; main.ts defaults to 4000. */
  port?: number;
  /** Bind address, default 127.0.0.1. */
  host?: string;
  /** Default `http://localhost:<actual port>`; issuer = publicOrigin + realm.path. */
  publicOrigin?: string;
  /** Default: defaultRealms({ gatehouseOrigin: DEFAULT_GATEHOUSE_ORIGIN }). */
  realms?: DevIdpRealm[];
  /** Resource indicators that get JWT access tokens with that audience. Default: the demo API. */
  resources?: Record<string, { scope?: string }>;
  accessTokenTtlSeconds?: number;
  refreshTokenTtlSeconds?: number;
  /** DPoP proofs must carry a nonce of the IdP (RFC 9449 §8): clients go through `use_dpop_nonce`. */
  dpopNonces?: boolean;
  /** Enables /__control (tests only). */
  controlApi?: boolean;
  /**
   * The algorithm of the realms' ID tokens — the only one their discovery announces and their
   * clients are registered with — and of their JWT access tokens (a realm with its own
   * `idTokenSigningAlgs` keeps those, and RS256 access tokens). Default RS256 (OpenID Connect's
   * default). ES256 or EdDSA signatures cost a fifth of RS256's CPU (about 0.17 against 0.8 ms
   * here, two per sign-in): the Playwright stacks use ES256. Relying parties must accept it
   * (Gatehouse takes the algorithm discovery announces; the demo API is told by `startStack`).
   */
  signingAlg?: DevIdpSigningAlg;
  /**
   * Do each realm's first-request work (key use, discovery, an authorization request, the
   * login page) before `startDevIdp` resolves, so that no client's first sign-in pays for it.
   * Default true.
   */
  warmUp?: boolean;
}

export interface RunningDevIdp {
  /** The public origin, `http://localhost:PORT` unless `publicOrigin` was given. */
  origin: string;
  issuer(realmPath?: string): string;
  tokenEndpointCalls(realmPath?: string): number;
  /** Per grant type counts of token endpoint requests that reached a grant handler. */
  tokenEndpointCallsByGrantType(realmPath?: string): Record<string, number>;
  setTokenEndpointDelay(ms: number): void;
  close(): Promise<void>;
}

interface MountedRealm {
  realm: DevIdpRealm;
  provider: Provider;
  users: UserDirectory;
}

function validateRealms(realms: DevIdpRealm[]): void {
  const seen = new Set<string>();
  for (const { path } of realms) {
    if (path !== '' && !/^(\/[A-Za-z0-9._-]+)+$/.test(path))
      throw new Error(`invalid realm path: ${JSON.stringify(path)}`);
    if (seen.has(path)) throw new Error(`duplicate realm path: ${JSON.stringify(path)}`);
    if (path.startsWith('/__control')) throw new Error('realm path /__control is reserved');
    seen.add(path);
  }
}

function recordGrantType(stats: RealmStats, ctx: KoaContextWithOIDC): void {
  const grantType = ctx.oidc?.params?.['grant_type'];
  const key = typeof grantType === 'string' ? grantType : 'unknown';
  stats.byGrantType[key] = (stats.byGrantType[key] ?? 0) + 1;
}

/** Makes every generated URL use the public origin, whatever Host the request came with. */
function forcePublicOrigin(publicOrigin: string) {
  const { host, protocol } = new URL(publicOrigin);
  const proto = protocol.slice(0, -1);
  return (req: http.IncomingMessage) => {
    req.headers['x-forwarded-host'] = host;
    req.headers['x-forwarded-proto'] = proto;
  };
}

/** oidc-provider's endpoints that a request reaches without Express in front (see `buildApp`). */
const DIRECT_ENDPOINTS = new Set(['/auth', '/token']);

function renderHttpError(err: unknown, _req: Request, res: Response, next: NextFunction): void {
  const e = (typeof err === 'object' && err !== null ? err : {}) as Record<string, unknown>;
  const status = typeof e['status'] === 'number' ? e['status'] : 500;
  if (status < 400 || status >= 500 || res.headersSent) return next(err);
  const detail = err instanceof HttpError ? err.message : (e['error_description'] ?? e['message']);
  sendPage(
    res,
    status,
    messagePage('Request failed', typeof detail === 'string' ? detail : 'Bad request'),
  );
}

async function buildRealms(options: DevIdpOptions, realms: DevIdpRealm[], publicOrigin: string) {
  const resources = new Map(Object.entries(options.resources ?? { [DEMO_API_RESOURCE]: {} }));
  const defaultResource = resources.has(DEMO_API_RESOURCE)
    ? DEMO_API_RESOURCE
    : resources.keys().next().value;
  const mounted = new Map<string, MountedRealm>();
  for (const realm of realms) {
    const users = new UserDirectory(realm.users);
    const provider = await createRealmProvider({
      realm,
      users,
      issuer: realmIssuer(publicOrigin, realm),
      resources,
      defaultResource,
      accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 300,
      refreshTokenTtlSeconds: options.refreshTokenTtlSeconds ?? 86_400,
      dpopNonces: options.dpopNonces ?? false,
      ...(options.signingAlg ? { signingAlg: options.signingAlg } : {}),
    });
    mounted.set(realm.path, { realm, provider, users });
  }
  return mounted;
}

interface RealmRoute {
  path: string;
  stats: RealmStats;
  /** oidc-provider's own request handler (its Koa app). */
  callback: ReturnType<Provider['callback']>;
}

/** The realm whose issuer path `pathname` is under (the longest such path), and the rest. */
function realmOf(ordered: RealmRoute[], pathname: string) {
  for (const route of ordered) {
    if (route.path === '' || pathname === route.path || pathname.startsWith(`${route.path}/`)) {
      return { route, below: pathname.slice(route.path.length) };
    }
  }
  return undefined;
}

/**
 * The request handler: the authorization and token endpoints of each realm straight to its
 * oidc-provider (with the full path and the path below the realm, as a mount gives it, from which
 * oidc-provider derives its mount path), everything else — discovery, the interaction pages, the
 * control API, the personalities' routes — through Express. Express's router and its layers
 * cost each request, and those two endpoints are on every sign-in's path.
 */
function buildApp(mounted: Map<string, MountedRealm>, publicOrigin: string, controlApi: boolean) {
  const stats = new Map<string, RealmStats>();
  let tokenDelayMs = 0;
  const setTokenEndpointDelay = (ms: number) => {
    tokenDelayMs = Math.max(0, ms);
  };
  const app: Express = express();
  app.disable('x-powered-by');
  if (controlApi)
    app.use('/__control', controlRouter({ stats, realms: mounted, setTokenEndpointDelay }));
  // Longest paths first so '/globex/...' never reaches the root issuer.
  const ordered = [...mounted.values()].sort((a, b) => b.realm.path.length - a.realm.path.length);
  const routes: RealmRoute[] = [];
  for (const { realm, provider, users } of ordered) {
    const realmStats: RealmStats = { tokenEndpointCalls: 0, byGrantType: {} };
    stats.set(realm.path, realmStats);
    // One handler of oidc-provider's for the realm: the direct endpoints, the interactions'
    // resume and the Express mount.
    const callback = provider.callback();
    routes.push({ path: realm.path, stats: realmStats, callback });
    provider.on('grant.success', (ctx: KoaContextWithOIDC) => recordGrantType(realmStats, ctx));
    provider.on('grant.error', (ctx: KoaContextWithOIDC) => recordGrantType(realmStats, ctx));
    app.use(realm.path || '/', interactionRouter(provider, realm, users, callback));
    const quirks = personalityRouter(
      realm.personality,
      provider,
      realm,
      cookieNames(realm.path).session,
    );
    // At the origin's root, as Cognito's hosted UI serves /logout beside /oauth2/authorize.
    if (quirks) app.use(quirks);
    app.use(realm.path || '/', callback);
  }
  app.use(renderHttpError);
  const publicOriginHeaders = forcePublicOrigin(publicOrigin);
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    publicOriginHeaders(req);
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const found = realmOf(routes, query === -1 ? url : url.slice(0, query));
    if (!found || !DIRECT_ENDPOINTS.has(found.below)) {
      app(req, res);
      return;
    }
    const { route, below } = found;
    if (below === '/token' && req.method === 'POST') {
      route.stats.tokenEndpointCalls += 1;
      if (tokenDelayMs > 0) await sleep(tokenDelayMs);
    }
    (req as http.IncomingMessage & { originalUrl?: string }).originalUrl = url;
    req.url = url.slice(route.path.length);
    await route.callback(req, res);
  };
  return { handle, stats, setTokenEndpointDelay };
}

/** Idempotent: closing an already closed IdP (a test that stopped it on purpose) is fine. */
function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

/** Where this process reaches its own server (a wildcard bind is reached on loopback). */
function loopbackOrigin(server: http.Server): string {
  const { address, family, port } = server.address() as AddressInfo;
  if (address === '0.0.0.0' || address === '::') return `http://127.0.0.1:${port}`;
  return family === 'IPv6' ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}

/** Starts the dev IdP: one HTTP server, one oidc-provider instance per realm. */
export async function startDevIdp(options: DevIdpOptions = {}): Promise<RunningDevIdp> {
  const realms = options.realms ?? defaultRealms({ gatehouseOrigin: DEFAULT_GATEHOUSE_ORIGIN });
  validateRealms(realms);
  const server = http.createServer();
  // Longer than any client's idle timeout: a reused connection is never closed under a request.
  server.keepAliveTimeout = 65_000;
  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const origin = (options.publicOrigin ?? `http://localhost:${port}`).replace(/\/+$/, '');
    const mounted = await buildRealms(options, realms, origin);
    const { handle, stats, setTokenEndpointDelay } = buildApp(
      mounted,
      origin,
      options.controlApi ?? false,
    );
    server.on('request', (req, res) => {
      handle(req, res).catch((error: unknown) => {
        // oidc-provider answers its own errors: only a bug gets here.
        console.error('dev IdP: request failed', error);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    if (options.warmUp ?? true) {
      await warmUpRealms(
        loopbackOrigin(server),
        [...mounted.values()],
        options.controlApi ?? false,
      );
    }
    const statsFor = (realmPath = '') => {
      const found = stats.get(realmPath);
      if (!found) throw new Error(`no realm at path ${JSON.stringify(realmPath)}`);
      return found;
    };
    return {
      origin,
      issuer: (realmPath = '') =>
        realmIssuer(origin, mounted.get(realmPath)?.realm ?? { path: realmPath }),
      tokenEndpointCalls: (realmPath) => statsFor(realmPath).tokenEndpointCalls,
      tokenEndpointCallsByGrantType: (realmPath) => ({ ...statsFor(realmPath).byGrantType }),
      setTokenEndpointDelay,
      close: () => closeServer(server),
    };
  } catch (err) {
    await closeServer(server);
    throw err;
  }
}
