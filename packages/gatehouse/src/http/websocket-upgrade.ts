/*
 * Over 300 lines on purpose: one upgrade path read top to bottom (Origin and cookie checks,
 * route and session, the token refreshed before the upstream handshake, the bridge, the
 * session watch that closes sockets with 4401); the frame bridge itself is in
 * proxy/websocket-bridge.ts.
 */
import { randomUUID } from 'node:crypto';
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Request, RequestHandler, Response } from 'express';
import proxyAddr from 'proxy-addr';
import { WebSocket, WebSocketServer } from 'ws';
import type { RouteConfig } from '../config/schema.ts';
import type { GatehouseContext } from '../context.ts';
import { problem, type GatehouseError } from '../errors.ts';
import { loggableUrl } from '../observability/logger.ts';
import { describe } from '../observability/outages.ts';
import { bridgeSockets, CLOSE, type Bridge } from '../proxy/websocket-bridge.ts';
import {
  checkUpgrade,
  upstreamHandshakeHeaders,
  type WebSocketTarget,
} from '../proxy/websocket-handshake.ts';
import { SessionWatch } from '../proxy/websocket-sessions.ts';
import type { SessionRecord } from '../session/model.ts';
import type { ConnectionDrain } from './drain.ts';
import { problemBody, toGatehouseError } from './problem.ts';
import { refuseDpopBound, upstreamToken } from './api-route.ts';
import { activeSession, slideIfDue } from './session-access.ts';
import { auditOrigin } from './audit-origin.ts';

/** The WebSocket proxy: what it uses of the context. */
export type WebSocketProxyDeps = Pick<
  GatehouseContext,
  | 'clock'
  | 'config'
  | 'cookies'
  | 'downstreamTokens'
  | 'drain'
  | 'logger'
  | 'metrics'
  | 'publicOrigin'
  | 'refresher'
  | 'registry'
  | 'sessions'
  | 'testControls'
>;

export interface WebSocketProxyOptions {
  /** The express-session middleware the HTTP routes use (same cookie, secrets and store). */
  sessions: RequestHandler;
  /** Express's compiled `trust proxy` (for the client address sent upstream). */
  trustProxy: (address: string, hop: number) => boolean;
}

export interface WebSocketProxy {
  /** The HTTP server's `upgrade` listener (only `Upgrade: websocket` requests reach it). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Proxied sockets open now, and how many of their legs are paused by backpressure. */
  stats(): { open: number; pausedLegs: number };
  /** Shutdown: cuts every open socket and stops the session checks. */
  close(): void;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** A refusal whose bytes the client does not take is cut after this. */
const REFUSAL_LINGER_MS = 5000;

/**
 * WebSocket proxying for routes with `websocket: true`: the checks of the upgrade (handshake,
 * Origin, route; see `checkUpgrade`), the session and its token exactly as for an HTTP call (the
 * same session read, `activeSession`, tenant restriction, slide, refresh), the upstream handshake
 * with `Authorization: Bearer` and without the browser's cookies, then the browser's handshake
 * and the bridge. Every refusal is an HTTP answer with a problem+json body on the raw socket.
 * Open sockets are closed with 4401 when their session ends on any instance (one
 * {@link SessionWatch} for the process) and with 1001 when the server drains.
 */
export function createWebSocketProxy(
  ctx: WebSocketProxyDeps,
  options: WebSocketProxyOptions,
): WebSocketProxy {
  const servers = new Map<string, WebSocketServer>();
  /** The subprotocol the upstream chose, handed to the browser's handshake. */
  const chosenProtocol = new WeakMap<IncomingMessage, string>();
  const bridges = new Map<string, Set<Bridge>>();
  const open = new Set<{ bridge: Bridge; client: WebSocket; upstream: WebSocket }>();

  const watch = new SessionWatch({
    intervalMs: ctx.config.websocket.sessionCheckIntervalMs,
    read: async (sid) => ctx.sessions.read(sid),
    hasEnded: async (record) =>
      ctx.sessions.isExpired(record) || !(await ctx.registry.isSessionProviderLive(record)),
    onStoreError: (error, sessions) =>
      ctx.logger.warn(
        { reason: describe(error), sessions },
        'websocket session check: store unavailable, sockets stay open',
      ),
    // What the browser sends is activity: its session's idle deadline moves as an HTTP call's
    // would (at most once per slide interval). What the upstream pushes is not.
    onLive: async (live) => {
      for (const [sid, record] of live) {
        let active = false;
        for (const bridge of bridges.get(sid) ?? []) active = bridge.takeClientActivity() || active;
        if (active) await slideSession(ctx, sid, record);
      }
    },
  });

  function serverFor(route: RouteConfig): WebSocketServer {
    let server = servers.get(route.prefix);
    if (!server) {
      server = new WebSocketServer({
        noServer: true,
        clientTracking: false,
        perMessageDeflate: false,
        maxPayload: route.websocketMaxMessageBytes,
        handleProtocols: (_offered, req) => chosenProtocol.get(req) ?? false,
      });
      // Checked before (checkUpgrade); should `ws` still refuse, answer like every refusal.
      server.on('wsClientError', (error, socket) => {
        refuse(socket, problem('bad_websocket_handshake', { cause: error }));
      });
      servers.set(route.prefix, server);
    }
    return server;
  }

  async function upgrade(
    req: IncomingMessage,
    socket: Duplex,
    early: EarlyBytes,
    requestId: string,
  ): Promise<void> {
    if (ctx.drain.draining) throw problem('shutting_down');
    const target = checkUpgrade(ctx.config.routes, ctx.publicOrigin, req);
    const { route } = target;

    await readSession(options.sessions, req);
    const request = req as Request;
    if (!request.session) throw problem('store_unavailable');
    let record = await activeSession(ctx, request);
    if (!record) throw problem('unauthenticated');
    if (route.tenants && !route.tenants.includes(record.tenant)) {
      throw problem('tenant_not_allowed');
    }
    record = await slideIfDue(ctx, request, record);
    const sid = request.sessionID;
    // The upstream handshake carries no DPoP proof: never a DPoP-bound token.
    if (route.tokenMode === 'user' || route.tokenMode === 'optional') {
      refuseDpopBound(record, 'WebSocket upgrades cannot send proof-of-possession (DPoP) tokens.');
    }
    const token =
      route.tokenMode === 'none'
        ? undefined
        : await upstreamToken(ctx, sid, route, record, auditOrigin(request));
    if (socket.destroyed) return;

    const upstream = await connectUpstream(target, socket, ctx.drain, {
      headers: upstreamHandshakeHeaders(req.headers, {
        clientIp: clientAddress(req, options.trustProxy),
        publicUrl: new URL(ctx.publicOrigin),
        requestId,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      }),
    });
    if (socket.destroyed) {
      upstream.terminate();
      return;
    }
    if (!socket.readable || !socket.writable) {
      // `ws` would drop such a socket without calling back: the upstream would be left open.
      upstream.terminate();
      socket.destroy();
      return;
    }
    if (upstream.protocol) chosenProtocol.set(req, upstream.protocol);

    serverFor(route).handleUpgrade(req, socket, early.stop(), (client) => {
      // Paused since `early.stop()`; `ws` reads it from here on.
      socket.resume();
      if (upstream.readyState !== WebSocket.OPEN) {
        // The upstream went away between its handshake and the browser's.
        client.on('error', () => undefined);
        client.close(CLOSE.badGateway, 'upstream connection lost');
        return;
      }
      const opened = Date.now();
      const log = ctx.logger.child({ reqId: requestId, route: route.prefix });
      log.info({ status: 101, protocol: upstream.protocol || undefined }, 'websocket opened');
      const entry = { client, upstream } as {
        bridge: Bridge;
        client: WebSocket;
        upstream: WebSocket;
      };
      let unwatch = () => undefined as unknown;
      let undrain = () => undefined as unknown;
      const bridge = bridgeSockets(
        client,
        upstream,
        {
          idleTimeoutMs: route.websocketIdleTimeoutMs,
          pingIntervalMs: ctx.config.websocket.pingIntervalMs,
        },
        (end) => {
          unwatch();
          undrain();
          open.delete(entry);
          const set = bridges.get(sid);
          set?.delete(bridge);
          if (set?.size === 0) bridges.delete(sid);
          log.info({ ...end, durationMs: Date.now() - opened }, 'websocket closed');
        },
      );
      entry.bridge = bridge;
      open.add(entry);
      let set = bridges.get(sid);
      if (!set) {
        set = new Set();
        bridges.set(sid, set);
      }
      set.add(bridge);
      unwatch = watch.watch(sid, () => bridge.close(CLOSE.sessionEnded, 'session ended'));
      undrain = ctx.drain.onDrain(() => bridge.close(CLOSE.goingAway, 'server shutting down'));
      upstream.resume();
    });
  }

  /** The refusal of an upgrade: an HTTP answer with a problem+json body, then the socket closes. */
  function refuse(socket: Duplex, error: GatehouseError, requestId?: string): void {
    if (socket.destroyed || !socket.writable) {
      socket.destroy();
      return;
    }
    const body = problemBody(error);
    const headers: Record<string, string> = {
      ...error.headers,
      'content-type': 'application/problem+json',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'gatehouse-problem': error.code,
      ...(requestId ? { 'x-request-id': requestId } : {}),
      connection: 'close',
    };
    const head = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}`)
      .join('\r\n');
    socket.end(`HTTP/1.1 ${error.status} ${error.title}\r\n${head}\r\n\r\n${body}`);
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  }

  return {
    handleUpgrade(req, socket, rawHead) {
      // Whatever the client does to its socket from here on, it never reaches the process.
      socket.on('error', () => socket.destroy());
      const incoming = req.headers['x-request-id'];
      const requestId =
        typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
      const early = watchHangUp(socket, rawHead);
      upgrade(req, socket, early, requestId).catch((raw: unknown) => {
        const error = toGatehouseError(raw);
        const fields = {
          reqId: requestId,
          url: loggableUrl(req.url ?? ''),
          status: error.status,
          errorCode: error.code,
        };
        if (socket.destroyed) {
          ctx.logger.info(fields, 'websocket upgrade abandoned by the client');
        } else if (error.status === 500) {
          ctx.logger.error({ ...fields, err: error.cause ?? error }, 'websocket refused');
        } else if (error.status > 500) {
          const reason = error.cause ? { reason: describe(error.cause) } : {};
          ctx.logger.warn({ ...fields, ...reason }, 'websocket refused');
        } else {
          ctx.logger.info(fields, 'websocket refused');
        }
        refuse(socket, error, requestId);
      });
    },
    stats() {
      let pausedLegs = 0;
      for (const { bridge } of open) pausedLegs += bridge.pausedLegs;
      return { open: open.size, pausedLegs };
    },
    close() {
      watch.close();
      for (const { client, upstream } of open) {
        client.terminate();
        upstream.terminate();
      }
      for (const server of servers.values()) server.close();
    },
  };
}

interface EarlyBytes {
  /**
   * Stops reading (the socket stays paused until resumed) and returns what the client sent
   * after its request, for `ws`.
   */
  stop(): Buffer;
}

/** More than a browser sends before the handshake's answer (it sends nothing). */
const MAX_EARLY_BYTES = 64 * 1024;

/**
 * Node hands over an upgrade's socket without reading it, so a client that hangs up would go
 * unnoticed until the upstream handshake ends. Reading it (and keeping what arrives for `ws`)
 * lets its end or close destroy the socket at once, which abandons the upstream attempt.
 */
function watchHangUp(socket: Duplex, head: Buffer): EarlyBytes {
  const chunks = [head];
  let size = head.length;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_EARLY_BYTES) socket.destroy();
  };
  const onEnd = () => socket.destroy();
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.resume();
  return {
    stop() {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      return Buffer.concat(chunks);
    },
  };
}

/** Runs express-session on the upgrade request: `req.session` and `req.sessionID`, or its error. */
function readSession(sessions: RequestHandler, req: IncomingMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    // Never written to: no cookie is set on a WebSocket handshake.
    const res = new ServerResponse(req);
    void sessions(req as Request, res as Response, (error?: unknown) =>
      error ? reject(toGatehouseError(error)) : resolve(),
    );
  });
}

/** Moves a session's idle deadline forward when due; a failure is retried at the next check. */
async function slideSession(ctx: WebSocketProxyDeps, sid: string, record: SessionRecord) {
  const now = ctx.clock();
  if (now - record.lastSeenAtMs < ctx.sessions.slideIntervalMs(record)) return;
  try {
    await ctx.sessions.tryUpdate(sid, (current) => ({ ...current, lastSeenAtMs: now }));
  } catch {
    // The store is down: the next check tries again.
  }
}

function clientAddress(
  req: IncomingMessage,
  trust: (address: string, hop: number) => boolean,
): string | undefined {
  try {
    return proxyAddr(req, trust);
  } catch {
    return req.socket.remoteAddress;
  }
}

/**
 * The upstream handshake, with the route's timeout (504) and any failure or non-101 answer as
 * 502. A browser that hangs up meanwhile abandons it, and so does a drain (503). Resolves with
 * the socket paused, so that nothing the upstream sends first is lost before the bridge listens.
 */
function connectUpstream(
  target: WebSocketTarget,
  clientSocket: Duplex,
  drain: Pick<ConnectionDrain, 'onDrain'>,
  options: { headers: Record<string, string | string[]> },
): Promise<WebSocket> {
  const { route } = target;
  return new Promise((resolve, reject) => {
    let upstream: WebSocket;
    try {
      upstream = new WebSocket(target.socketUrl, target.protocols, {
        headers: options.headers,
        perMessageDeflate: false,
        maxPayload: route.websocketMaxMessageBytes,
        followRedirects: false,
      });
    } catch (error) {
      reject(problem('upstream_unavailable', { cause: error }));
      return;
    }
    let settled = false;
    let undrain = () => undefined as unknown;
    const settle = (error?: GatehouseError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clientSocket.off('close', clientGone);
      undrain();
      if (!error) {
        resolve(upstream);
        return;
      }
      upstream.terminate();
      reject(error);
    };
    const timer = setTimeout(() => settle(problem('upstream_timeout')), route.timeoutMs);
    const clientGone = () => settle(problem('request_aborted'));
    clientSocket.once('close', clientGone);
    upstream.on('error', (error) => settle(problem('upstream_unavailable', { cause: error })));
    upstream.once('unexpected-response', (request, response) => {
      response.resume();
      request.destroy();
      settle(
        problem('upstream_unavailable', {
          cause: new Error(`the upstream answered the handshake with ${response.statusCode}`),
        }),
      );
    });
    upstream.once('open', () => {
      upstream.pause();
      settle();
    });
    // The server's close waits for this connection, which the end of the grace period does not
    // cut (it is no longer an HTTP request): without this a drain would wait for the route's
    // timeout, and the socket would only be closed with 1001 once open anyway.
    undrain = drain.onDrain(() => settle(problem('shutting_down')));
  });
}
