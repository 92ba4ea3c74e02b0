// OpenTelemetry traces of a real Gatehouse process (`node apps/server/src/main.ts`, behind
// HAProxy, with a real Redis and the dev IdP), exported over OTLP/HTTP to a receiver in this
// process; and the same process with tracing off loading nothing of OpenTelemetry.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  freePort,
  signIn,
  startProxiedStack,
  startRedisServer,
  startServerProcess,
  type ProxiedStack,
  type RedisServer,
} from '@gatehouse/testkit';

/** A span as OTLP/JSON encodes it (ids in hex). */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
}

interface OtlpExport {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpSpan['attributes'] };
    scopeSpans?: Array<{ scope?: { name?: string }; spans?: OtlpSpan[] }>;
  }>;
}

const MAIN = resolve(import.meta.dirname, '../src/main.ts');
const SERVER = 2;
const CLIENT = 3;

/** A Redis command's span (`db.system.name` in current semantic conventions, `db.system` before). */
const isRedis = (span: OtlpSpan) =>
  (attribute(span, 'db.system.name') ?? attribute(span, 'db.system')) === 'redis';

function attribute(span: OtlpSpan, key: string): unknown {
  const value = span.attributes?.find((entry) => entry.key === key)?.value;
  return value ? Object.values(value)[0] : undefined;
}

/** An OTLP/HTTP receiver for JSON exports: every span it got, and the service names. */
async function startOtlpReceiver() {
  const spans: OtlpSpan[] = [];
  const services = new Set<string>();
  const contentTypes = new Set<string>();
  const protobufExports: Array<{ path: string; bytes: number }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const contentType = String(req.headers['content-type']);
      contentTypes.add(contentType);
      if (contentType !== 'application/json') {
        protobufExports.push({ path: req.url ?? '', bytes: Buffer.concat(chunks).length });
      } else if (req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport;
        for (const resource of body.resourceSpans ?? []) {
          const service = resource.resource?.attributes?.find((a) => a.key === 'service.name');
          if (service) services.add(String(Object.values(service.value)[0]));
          for (const scope of resource.scopeSpans ?? []) spans.push(...(scope.spans ?? []));
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    spans,
    services,
    contentTypes,
    protobufExports,
    server,
  };
}

/** The upstream API: records the headers of every request it gets. */
async function startRecordingUpstream() {
  const received: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    received.push(req.headers);
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, received, server };
}

/**
 * A preload that reports every OpenTelemetry module the process resolves, on stderr — except the
 * API package (`@opentelemetry/api`, a no-op facade without an SDK), which prom-client depends on.
 */
function otelModuleReporter(dir: string): string {
  const path = join(dir, 'report-otel-modules.mjs');
  writeFileSync(
    path,
    `import { registerHooks } from 'node:module';
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    if (resolved.url.includes('@opentelemetry') && !resolved.url.includes('/@opentelemetry/api/')) process.stderr.write('otel-module-loaded ' + resolved.url + '\\n');
    return resolved;
  },
});
`,
  );
  return path;
}

const closeServer = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

let dir: string;
let redis: RedisServer;
let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
let stack: ProxiedStack;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-tracing-'));
  redis = await startRedisServer();
  receiver = await startOtlpReceiver();
  upstream = await startRecordingUpstream();
  stack = await startProxiedStack({
    redis,
    instances: 1,
    env: {
      // The demo route (/api/demo, tokenMode user) goes to the recording upstream.
      DEMO_API_URL: upstream.origin,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.origin,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'gatehouse-under-test',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      NODE_OPTIONS: `--import=${otelModuleReporter(dir)}`,
    },
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await redis?.stop();
  if (receiver) await closeServer(receiver.server);
  if (upstream) await closeServer(upstream.server);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('OpenTelemetry tracing', () => {
  it('exports a span tree of a proxied call: server span, Redis GET and upstream call, traceparent sent upstream', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });

    // A browser-sent traceparent is not continued and not forwarded (README, Tracing).
    const browserTraceId = 'ab'.repeat(16);
    const res = await http(`${stack.origin}/api/demo/traced?x=1`, {
      headers: { 'x-csrf': '1', traceparent: `00-${browserTraceId}-${'cd'.repeat(8)}-01` },
    });
    expect(res.status).toBe(200);
    const seen = upstream.received.at(-1);
    const traceparent = seen?.traceparent;
    expect(typeof traceparent, JSON.stringify(seen)).toBe('string');
    // Exactly one, Gatehouse's own (sampled).
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const [, traceId, parentId] = String(traceparent).split('-');
    expect(seen?.tracestate).toBeUndefined();
    expect(traceId).not.toBe(browserTraceId);

    // The exporter batches: poll until the request's spans are in.
    const inTrace = () => receiver.spans.filter((span) => span.traceId === traceId);
    await expect
      .poll(() => inTrace().some((span) => span.kind === SERVER), { timeout: 20_000 })
      .toBe(true);
    await expect
      .poll(() => inTrace().some(isRedis), {
        timeout: 20_000,
      })
      .toBe(true);
    const spans = inTrace();
    const context = JSON.stringify(
      spans.map(({ name, kind, spanId, parentSpanId }) => ({ name, kind, spanId, parentSpanId })),
      null,
      1,
    );
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    const descendsFrom = (span: OtlpSpan, ancestor: OtlpSpan) => {
      for (let at = span.parentSpanId; at; at = byId.get(at)?.parentSpanId) {
        if (at === ancestor.spanId) return true;
      }
      return false;
    };

    // One server span for the request: the root of the trace.
    const servers = spans.filter((span) => span.kind === SERVER);
    expect(servers, context).toHaveLength(1);
    const server = servers[0] as OtlpSpan;
    expect(server.parentSpanId ?? '', context).toBe('');
    expect(attribute(server, 'http.route') ?? attribute(server, 'url.path'), context).toBeDefined();

    // The session read: a Redis GET under the server span.
    const redisGet = spans.find((span) => isRedis(span) && /^get$/i.test(span.name));
    expect(redisGet, context).toBeDefined();
    expect(descendsFrom(redisGet as OtlpSpan, server), context).toBe(true);
    // The key's end (the session id) and the values never reach the trace backend.
    const statement =
      attribute(redisGet as OtlpSpan, 'db.query.text') ??
      attribute(redisGet as OtlpSpan, 'db.statement');
    expect(statement).toBe('get gh:sess:…');
    const cookies = await http.jar.getCookies(stack.origin);
    const sid = cookies
      .map((cookie) => decodeURIComponent(cookie.value))
      .find((value) => value.startsWith('s:'))
      ?.slice(2)
      .split('.')[0];
    expect(sid).toBeTruthy();
    expect(JSON.stringify(receiver.spans)).not.toContain(sid);

    // The upstream call: an undici client span under the server span, and the parent of the
    // traceparent the upstream received.
    const upstreamCall = spans.find(
      (span) =>
        span.kind === CLIENT &&
        String(attribute(span, 'url.full')).startsWith(`${upstream.origin}/traced`),
    );
    expect(upstreamCall, context).toBeDefined();
    expect(descendsFrom(upstreamCall as OtlpSpan, server), context).toBe(true);
    expect(parentId).toBe(upstreamCall?.spanId);
    // Query values neither (the browser's here; a callback's code and state below).
    expect(attribute(server, 'url.query')).toBe('x=…');
    expect(attribute(upstreamCall as OtlpSpan, 'url.full')).toBe(`${upstream.origin}/traced?x=…`);
    expect(JSON.stringify(spans)).not.toContain('x=1');

    expect([...receiver.services]).toEqual(['gatehouse-under-test']);
    expect(receiver.contentTypes).toContain('application/json');
  }, 60_000);

  it('traces the login callback with the call to the IdP token endpoint under it', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
    const isTokenCall = (span: OtlpSpan) =>
      span.kind === CLIENT && /\/token$/.test(String(attribute(span, 'url.path')));
    await expect.poll(() => receiver.spans.some(isTokenCall), { timeout: 20_000 }).toBe(true);
    const tokenCall = receiver.spans.find(isTokenCall) as OtlpSpan;
    const callback = () =>
      receiver.spans.find(
        (span) =>
          span.traceId === tokenCall.traceId &&
          span.kind === SERVER &&
          String(attribute(span, 'url.path') ?? attribute(span, 'http.target')).startsWith(
            '/bff/callback/',
          ),
      );
    await expect.poll(callback, { timeout: 20_000 }).toBeDefined();
    // The authorization code and state are not exported, only the parameters' names.
    expect(attribute(callback() as OtlpSpan, 'url.query')).toMatch(/^(?:[\w-]+=…&)*[\w-]+=…$/);
    expect(String(attribute(callback() as OtlpSpan, 'url.query'))).toContain('code=…');
  }, 60_000);

  it('loads the instrumentations when tracing is on (control for the test below)', () => {
    const output = stack.instances[0]?.process.output() ?? '';
    expect(output).toContain('otel-module-loaded');
    expect(output).toMatch(/otel-module-loaded \S*instrumentation-ioredis/);
  });

  it('exports http/protobuf by default, to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given', async () => {
    const port = await freePort();
    const server = await startServerProcess(port, {
      GATEHOUSE_MODE: 'development',
      PUBLIC_URL: `http://localhost:${port}`,
      REDIS_URL: redis.url,
      LOG_LEVEL: 'warn',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.origin}/custom/traces`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    try {
      await fetch(`${server.origin}/bff/user`);
      await expect
        .poll(() => receiver.protobufExports.some((e) => e.path === '/custom/traces'), {
          timeout: 20_000,
        })
        .toBe(true);
      expect(receiver.contentTypes).toContain('application/x-protobuf');
    } finally {
      await server.stop('SIGTERM');
    }
  }, 60_000);

  it('refuses to start with an OTLP protocol it does not export (grpc)', () => {
    const run = spawnSync(process.execPath, [MAIN], {
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: process.env.PATH ?? '',
        GATEHOUSE_MODE: 'development',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.origin,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      },
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(
      'OTEL_EXPORTER_OTLP_PROTOCOL: must be one of http/protobuf, http/json',
    );
  });

  it('loads nothing of OpenTelemetry when no OTLP endpoint is set', async () => {
    const port = await freePort();
    const server = await startServerProcess(port, {
      GATEHOUSE_MODE: 'development',
      PUBLIC_URL: `http://localhost:${port}`,
      REDIS_URL: redis.url,
      DEMO_API_URL: upstream.origin,
      LOG_LEVEL: 'warn',
      NODE_OPTIONS: `--import=${otelModuleReporter(dir)}`,
    });
    try {
      const health = await fetch(`${server.origin}/healthz`);
      expect(health.status).toBe(200);
      // The reporter itself runs: a module it resolves later would be reported.
      expect(server.output()).not.toContain('otel-module-loaded');
    } finally {
      await server.stop('SIGTERM');
    }
    expect(server.output()).not.toContain('otel-module-loaded');
  }, 60_000);
});
