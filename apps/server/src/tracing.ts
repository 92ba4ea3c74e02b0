import { register } from 'node:module';
import type { Context, TextMapPropagator, TextMapSetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { tracingProtocol } from './tracing-switch.ts';

/** Probes that would only fill the trace store. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** The modules the instrumentations patch: only these pass through the ESM loader hook. */
const INSTRUMENTED_MODULES = ['express', 'ioredis', 'http', 'https', 'node:http', 'node:https'];

/**
 * W3C trace context outwards only. Gatehouse is the edge facing browsers: a browser must not
 * pick the trace id or the sampling decision of the backends, so an incoming `traceparent` is
 * not continued (every request starts a trace) and the header is not forwarded (see
 * `proxy/headers.ts`); the upstream gets Gatehouse's own `traceparent`.
 */
class OutboundTraceContext implements TextMapPropagator {
  readonly #w3c = new W3CTraceContextPropagator();
  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    this.#w3c.inject(context, carrier, setter);
  }
  extract(context: Context): Context {
    return context;
  }
  fields(): string[] {
    return this.#w3c.fields();
  }
}

/**
 * What a Redis span records of its command: the name and the key without its last segment
 * (`get gh:sess:…`, `getdel tx:…`). Key ends are secrets (session ids, login states), and
 * values (sealed tokens, lock tokens) never leave the process.
 */
export function redisStatement(command: string, args: ReadonlyArray<unknown>): string {
  const key = args[0];
  if (typeof key !== 'string' || !key.includes(':') || /\s/.test(key)) return command;
  return `${command} ${key.slice(0, key.lastIndexOf(':') + 1)}…`;
}

/**
 * A query string with its values left out (`code=…&state=…`), as the access log keeps it: a
 * callback's authorization code and state, or whatever a browser puts in an API query, are no
 * business of the trace backend.
 */
export function queryNamesOnly(query: string): string {
  return [...new URLSearchParams(query).keys()]
    .map((name) => `${encodeURIComponent(name)}=…`)
    .join('&');
}

export interface Tracing {
  /** Ends the SDK: flushes the spans still queued. */
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry tracing: the ESM loader hook first (so that `express` and `ioredis`,
 * imported afterwards, are patched), then the SDK with the http, express, undici (the proxy's
 * upstream calls and openid-client's fetch) and ioredis instrumentations and an OTLP/HTTP
 * exporter configured by the standard `OTEL_EXPORTER_OTLP_*` variables. main.ts imports this
 * module only when an endpoint is configured, before it imports the app.
 */
export function startTracing(env: Record<string, string | undefined>): Tracing {
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, {
    data: { include: INSTRUMENTED_MODULES },
  });
  const traceExporter =
    tracingProtocol(env) === 'http/json'
      ? new OTLPJsonTraceExporter()
      : new OTLPProtobufTraceExporter();
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME || 'gatehouse',
    traceExporter,
    // Traces only: metrics are Prometheus' (/metrics), logs go to stdout. Without these the SDK
    // would start OTLP metric and log exporters of its own.
    metricReaders: [],
    logRecordProcessors: [],
    textMapPropagator: new OutboundTraceContext(),
    instrumentations: [
      new HttpInstrumentation({
        startIncomingSpanHook: (request) => {
          const query = (request as { url?: string }).url?.split('?')[1];
          return query ? { 'url.query': queryNamesOnly(query) } : {};
        },
        ignoreIncomingRequestHook: (request) =>
          UNTRACED_PATHS.has((request.url ?? '').split('?')[0] ?? ''),
        // Outgoing node:http calls are only the exporter's own (Gatehouse's go through undici).
        ignoreOutgoingRequestHook: () => true,
      }),
      // Router spans only (and http.route on the server span): one span per middleware or
      // handler would bury the interesting ones.
      new ExpressInstrumentation({
        ignoreLayersType: [ExpressLayerType.MIDDLEWARE, ExpressLayerType.REQUEST_HANDLER],
      }),
      new UndiciInstrumentation({
        startSpanHook: (request) => {
          const url = new URL(request.path, request.origin);
          if (!url.search) return {};
          const query = queryNamesOnly(url.search.slice(1));
          return { 'url.query': query, 'url.full': `${url.origin}${url.pathname}?${query}` };
        },
      }),
      new IORedisInstrumentation({ dbStatementSerializer: redisStatement }),
    ],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
