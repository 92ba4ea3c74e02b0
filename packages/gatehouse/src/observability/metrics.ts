import { performance } from 'node:perf_hooks';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Gatehouse's Prometheus metrics: one registry per instance (several instances may run in one
 * process), the `gatehouse_*` families below plus prom-client's default process metrics. Every
 * hook lives on this object; {@link NO_METRICS} is the same surface doing nothing, used when
 * `METRICS_PORT=0`. Label values are bounded: route classes come from the config's routes,
 * methods and reasons from fixed lists, tenants and providers from ids the registry resolved
 * (capped, past which `other`), never a raw path or a user id.
 *
 * Over 300 lines on purpose: the hook surface, its Prometheus implementation and its no-op are
 * kept side by side, so that a family added to one is seen missing from the others.
 *
 * @example
 * metrics.loginStarted('acme', 'dev');
 * metrics.loginFailed('acme', 'dev', 'login_expired');
 */
export interface Metrics {
  readonly enabled: boolean;
  /** The registry to scrape (undefined when disabled). */
  readonly registry: Registry | undefined;
  /**
   * One answered request. `routeClass`: `bff`, `admin`, `static`, `health` or an API route's
   * prefix (`/api/<name>`); `status` is the answer's code, or undefined when the client went away.
   */
  httpRequest(
    routeClass: string,
    method: string,
    status: number | undefined,
    seconds: number,
  ): void;
  /** The upstream observer of one API route (precomputed label children). */
  upstream(prefix: string): UpstreamObserver;
  loginStarted(tenant: string, provider: string): void;
  loginSucceeded(tenant: string, provider: string): void;
  loginFailed(tenant: string | undefined, provider: string | undefined, reason: string): void;
  refresh(outcome: RefreshOutcome, seconds: number): void;
  idpCall(
    tenant: string,
    provider: string,
    endpoint: IdpEndpoint,
    outcome: IdpOutcome,
    seconds: number,
  ): void;
  backchannelLogout(outcome: BackchannelOutcome): void;
  sessionCreated(tenant: string): void;
  sessionsEnded(reason: SessionEndReason, count?: number): void;
  /** The observer of one store operation (precomputed label children). */
  store(store: 'session' | 'kv' | 'registry', operation: string): StoreObserver;
  rateLimited(limit: string): void;
  /**
   * A request refused with 503 `encryption_key_mismatch`: this instance's key under `kid` (a
   * configured kid, so the label is bounded) is not the fleet's.
   */
  encryptionKeyMismatch(kid: string): void;
}

export interface UpstreamObserver {
  /** The upstream's response headers arrived, `startedAt` being `performance.now()` at the call. */
  answered(startedAt: number): void;
  failed(kind: 'timeout' | 'unavailable' | 'broken'): void;
  /** A call whose connection closed before any answer was sent again on a new connection. */
  retried(): void;
}

export interface StoreObserver {
  /** An operation that began at `startedAt` (`performance.now()`) ended. */
  done(startedAt: number, failed: boolean): void;
}

export type RefreshOutcome =
  | 'ok'
  | 'invalid_grant'
  | 'no_refresh_token'
  | 'subject_mismatch'
  | 'dpop_unbound'
  | 'retired_key'
  | 'unreadable'
  | 'resource_not_granted'
  | 'client_rejected'
  | 'idp_unavailable';
export type IdpEndpoint = 'discovery' | 'token' | 'revocation' | 'jwks' | 'userinfo' | 'other';
/** `ok`; `error`: the IdP answered 4xx; `unavailable`: no answer, a time-out or a 5xx. */
export type IdpOutcome = 'ok' | 'error' | 'unavailable';
export type BackchannelOutcome =
  'ok' | 'invalid' | 'idp_unavailable' | 'store_unavailable' | 'rate_limited' | 'error';
export type SessionEndReason =
  | 'logout'
  | 'idle'
  | 'absolute'
  | 'provider_removed'
  | 'refresh_failure'
  | 'retired_key'
  | 'unreadable'
  | 'backchannel'
  | 'admin'
  | 'user';

/** Reasons a login fails, by problem code; anything else is `other`. */
export const LOGIN_FAILURE_REASONS: ReadonlySet<string> = new Set([
  'invalid_callback',
  'login_transaction_invalid',
  'login_failed',
  'idp_unavailable',
  'unknown_tenant',
  'unknown_provider',
  'unknown_email_domain',
  'tenant_required',
  'invalid_return_to',
  'invalid_parameter',
  'store_unavailable',
  'rate_limited',
  'internal_error',
]);

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
/** Route classes other than the API routes. */
export const FIXED_ROUTE_CLASSES = ['bff', 'admin', 'static', 'health', 'api:other'] as const;
/** At most this many distinct tenant (or provider) label values; later ones are `other`. */
const MAX_IDS = 200;
const ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

const NOOP_UPSTREAM: UpstreamObserver = {
  answered: () => undefined,
  failed: () => undefined,
  retried: () => undefined,
};
const NOOP_STORE: StoreObserver = { done: () => undefined };

/**
 * Metrics switched off (`METRICS_PORT=0`): every hook returns at once.
 *
 * @example
 * const metrics: Metrics = config.metrics.port > 0 ? new PrometheusMetrics(prefixes) : NO_METRICS;
 */
export const NO_METRICS: Metrics = {
  enabled: false,
  registry: undefined,
  httpRequest: () => undefined,
  upstream: () => NOOP_UPSTREAM,
  loginStarted: () => undefined,
  loginSucceeded: () => undefined,
  loginFailed: () => undefined,
  refresh: () => undefined,
  idpCall: () => undefined,
  backchannelLogout: () => undefined,
  sessionCreated: () => undefined,
  sessionsEnded: () => undefined,
  store: () => NOOP_STORE,
  rateLimited: () => undefined,
  encryptionKeyMismatch: () => undefined,
};

type CounterChild = ReturnType<Counter['labels']>;
type HistogramChild = ReturnType<Histogram['labels']>;

/** Per route class and method: counters by status code and histograms by status class. */
interface MethodSlot {
  byStatus: Map<number, CounterChild>;
  seconds: Array<HistogramChild | undefined>;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * How often prom-client samples the event loop's delay (`nodejs_eventloop_lag_*`), in ms. Its
 * default, 10, is a timer waking the process 100 times a second, busy or idle: measured on a
 * 2-core VM, an otherwise idle Node process spent 10.3 ms of CPU per second on it (0.08 ms with
 * no timer, 1.0 ms at 100), and an idle Gatehouse 7 ms (0.7 ms at 100). At 100 the lag
 * percentiles still catch any stall of 100 ms or more, and shorter ones in proportion to their
 * length; `gatehouse_event_loop_busy_seconds_total` counts all the loop's busy time, sampled by
 * nothing.
 */
const EVENT_LOOP_LAG_SAMPLE_MS = 100;

/**
 * The metrics of one Gatehouse instance, in a prom-client registry of its own.
 *
 * @example
 * const metrics = new PrometheusMetrics(config.routes.map((route) => route.prefix));
 * const text = await metrics.registry.metrics(); // the Prometheus text format
 */
export class PrometheusMetrics implements Metrics {
  readonly enabled = true;
  readonly registry = new Registry();
  readonly #httpRequests: Counter;
  readonly #httpSeconds: Histogram;
  readonly #routes = new Map<string, MethodSlot[]>();
  readonly #upstreams = new Map<string, UpstreamObserver>();
  readonly #stores = new Map<string, StoreObserver>();
  readonly #upstreamSeconds: Histogram;
  readonly #upstreamErrors: Counter;
  readonly #upstreamRetries: Counter;
  readonly #logins: Counter;
  readonly #loginFailures: Counter;
  readonly #refreshes: Counter;
  readonly #refreshSeconds: Histogram;
  readonly #idpCalls: Counter;
  readonly #idpSeconds: Histogram;
  readonly #backchannel: Counter;
  readonly #sessionsCreated: Counter;
  readonly #sessionsEnded: Counter;
  readonly #storeSeconds: Histogram;
  readonly #storeErrors: Counter;
  readonly #rateLimited: Counter;
  readonly #keyMismatches: Counter;
  readonly #ids = new Set<string>();

  /** @param apiPrefixes the configured API routes' prefixes (`/api/<name>`). */
  constructor(apiPrefixes: readonly string[]) {
    const registers = [this.registry];
    collectDefaultMetrics({
      register: this.registry,
      eventLoopMonitoringPrecision: EVENT_LOOP_LAG_SAMPLE_MS,
    });
    // libuv's own count of the loop's busy time (what `eventLoopUtilization()` reads): its
    // rate is the loop's utilisation, the saturation signal of a single-threaded server.
    let busyMs = 0;
    new Counter({
      name: 'gatehouse_event_loop_busy_seconds_total',
      help: 'Time the event loop spent running callbacks (not waiting for I/O); its rate is the loop utilisation (0 to 1 per process; summed over the workers of a cluster).',
      registers,
      collect() {
        const active = performance.eventLoopUtilization().active;
        if (active > busyMs) this.inc((active - busyMs) / 1000);
        busyMs = active;
      },
    });
    this.#httpRequests = new Counter({
      name: 'gatehouse_http_requests_total',
      help: 'Answered HTTP requests by route class, method and status code (status "aborted": the client went away first).',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.#httpSeconds = new Histogram({
      name: 'gatehouse_http_request_duration_seconds',
      help: 'Time from the request to the end of its answer, by route class, method and status class.',
      labelNames: ['route', 'method', 'status_class'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#upstreamSeconds = new Histogram({
      name: 'gatehouse_upstream_duration_seconds',
      help: 'Time from calling an API upstream to its response headers, by route.',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#upstreamErrors = new Counter({
      name: 'gatehouse_upstream_errors_total',
      help: 'Upstream failures by route and kind (timeout, unavailable, broken mid-answer).',
      labelNames: ['route', 'kind'],
      registers,
    });
    this.#upstreamRetries = new Counter({
      name: 'gatehouse_upstream_retries_total',
      help: 'Idempotent upstream calls sent again on a new connection, by route: their connection (an idle kept-alive one, usually) closed before any answer.',
      labelNames: ['route'],
      registers,
    });
    this.#logins = new Counter({
      name: 'gatehouse_logins_total',
      help: 'Logins by tenant, provider and stage (started, succeeded, failed).',
      labelNames: ['tenant', 'provider', 'stage'],
      registers,
    });
    this.#loginFailures = new Counter({
      name: 'gatehouse_login_failures_total',
      help: 'Failed login callbacks by tenant, provider and reason (a problem code).',
      labelNames: ['tenant', 'provider', 'reason'],
      registers,
    });
    this.#refreshes = new Counter({
      name: 'gatehouse_refreshes_total',
      help: 'Refresh token grants by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.#refreshSeconds = new Histogram({
      name: 'gatehouse_refresh_duration_seconds',
      help: 'Time of a refresh token grant at the IdP, by outcome.',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#idpCalls = new Counter({
      name: 'gatehouse_idp_requests_total',
      help: 'Requests to identity providers by tenant, provider, endpoint and outcome (ok, error: a 4xx answer, unavailable: none, a time-out or a 5xx).',
      labelNames: ['tenant', 'provider', 'endpoint', 'outcome'],
      registers,
    });
    this.#idpSeconds = new Histogram({
      name: 'gatehouse_idp_request_duration_seconds',
      help: 'Time of requests to identity providers by endpoint.',
      labelNames: ['endpoint'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#backchannel = new Counter({
      name: 'gatehouse_backchannel_logouts_total',
      help: 'Back-channel logout requests by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.#sessionsCreated = new Counter({
      name: 'gatehouse_sessions_created_total',
      help: 'Sessions created (successful logins) by tenant.',
      labelNames: ['tenant'],
      registers,
    });
    this.#sessionsEnded = new Counter({
      name: 'gatehouse_sessions_ended_total',
      help: 'Sessions ended by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.#storeSeconds = new Histogram({
      name: 'gatehouse_store_operation_duration_seconds',
      help: 'Time of session and key-value store operations by store and operation.',
      labelNames: ['store', 'operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#storeErrors = new Counter({
      name: 'gatehouse_store_errors_total',
      help: 'Failed session and key-value store operations by store and operation.',
      labelNames: ['store', 'operation'],
      registers,
    });
    this.#rateLimited = new Counter({
      name: 'gatehouse_rate_limited_total',
      help: 'Requests refused by a rate limit (429), by limit.',
      labelNames: ['limit'],
      registers,
    });
    this.#keyMismatches = new Counter({
      name: 'gatehouse_encryption_key_mismatches_total',
      help: 'Requests answered 503 encryption_key_mismatch: this instance has other bytes than the fleet under the kid, by kid.',
      labelNames: ['kid'],
      registers,
    });
    for (const routeClass of FIXED_ROUTE_CLASSES) this.#routes.set(routeClass, slots());
    for (const prefix of apiPrefixes) this.#routes.set(prefix, slots());
    // Zero series for the families dashboards and alerts divide by.
    for (const stage of ['started', 'succeeded', 'failed']) {
      this.#logins.labels('other', 'other', stage).inc(0);
    }
    for (const outcome of ['ok', 'invalid_grant', 'idp_unavailable']) {
      this.#refreshes.labels(outcome).inc(0);
    }
    this.#backchannel.labels('ok').inc(0);
    this.#idpCalls.labels('other', 'other', 'token', 'ok').inc(0);
    this.#idpCalls.labels('other', 'other', 'token', 'unavailable').inc(0);
    this.#rateLimited.labels('login_start').inc(0);
    for (const operation of ['get', 'set']) this.#storeErrors.labels('session', operation).inc(0);
  }

  /** A tenant or provider id as a label value: known slugs, at most {@link MAX_IDS}. */
  #id(value: string | undefined): string {
    if (value === undefined || !ID.test(value)) return 'other';
    if (this.#ids.has(value)) return value;
    if (this.#ids.size >= MAX_IDS) return 'other';
    this.#ids.add(value);
    return value;
  }

  httpRequest(
    routeClass: string,
    method: string,
    status: number | undefined,
    seconds: number,
  ): void {
    const routeSlots = this.#routes.get(routeClass) ?? this.#routes.get('static');
    const index = methodIndex(method);
    const slot = routeSlots?.[index];
    if (!slot) return;
    const code = status ?? 0;
    let counter = slot.byStatus.get(code);
    if (!counter) {
      counter = this.#httpRequests.labels(
        routeLabel(routeClass, this.#routes),
        METHOD_LABELS[index] ?? 'other',
        status === undefined ? 'aborted' : String(code),
      );
      slot.byStatus.set(code, counter);
    }
    counter.inc();
    const statusClass = status === undefined ? 0 : Math.min(5, Math.floor(code / 100));
    let histogram = slot.seconds[statusClass];
    if (!histogram) {
      histogram = this.#httpSeconds.labels(
        routeLabel(routeClass, this.#routes),
        METHOD_LABELS[index] ?? 'other',
        statusClass === 0 ? 'aborted' : `${statusClass}xx`,
      );
      slot.seconds[statusClass] = histogram;
    }
    histogram.observe(seconds);
  }

  upstream(prefix: string): UpstreamObserver {
    let observer = this.#upstreams.get(prefix);
    if (observer) return observer;
    const route = routeLabel(prefix, this.#routes);
    const seconds = this.#upstreamSeconds.labels(route);
    const errors = {
      timeout: this.#upstreamErrors.labels(route, 'timeout'),
      unavailable: this.#upstreamErrors.labels(route, 'unavailable'),
      broken: this.#upstreamErrors.labels(route, 'broken'),
    };
    const retries = this.#upstreamRetries.labels(route);
    errors.unavailable.inc(0);
    retries.inc(0);
    observer = {
      answered: (startedAt) => seconds.observe((performance.now() - startedAt) / 1000),
      failed: (kind) => errors[kind].inc(),
      retried: () => retries.inc(),
    };
    this.#upstreams.set(prefix, observer);
    return observer;
  }

  loginStarted(tenant: string, provider: string): void {
    this.#logins.labels(this.#id(tenant), this.#id(provider), 'started').inc();
  }

  loginSucceeded(tenant: string, provider: string): void {
    this.#logins.labels(this.#id(tenant), this.#id(provider), 'succeeded').inc();
  }

  loginFailed(tenant: string | undefined, provider: string | undefined, reason: string): void {
    const labels = [this.#id(tenant), this.#id(provider)] as const;
    this.#logins.labels(...labels, 'failed').inc();
    this.#loginFailures
      .labels(...labels, LOGIN_FAILURE_REASONS.has(reason) ? reason : 'other')
      .inc();
  }

  refresh(outcome: RefreshOutcome, seconds: number): void {
    this.#refreshes.labels(outcome).inc();
    this.#refreshSeconds.labels(outcome).observe(seconds);
  }

  idpCall(
    tenant: string,
    provider: string,
    endpoint: IdpEndpoint,
    outcome: IdpOutcome,
    seconds: number,
  ): void {
    this.#idpCalls.labels(this.#id(tenant), this.#id(provider), endpoint, outcome).inc();
    this.#idpSeconds.labels(endpoint).observe(seconds);
  }

  backchannelLogout(outcome: BackchannelOutcome): void {
    this.#backchannel.labels(outcome).inc();
  }

  sessionCreated(tenant: string): void {
    this.#sessionsCreated.labels(this.#id(tenant)).inc();
  }

  sessionsEnded(reason: SessionEndReason, count = 1): void {
    if (count > 0) this.#sessionsEnded.labels(reason).inc(count);
  }

  encryptionKeyMismatch(kid: string): void {
    this.#keyMismatches.labels(kid).inc();
  }

  store(store: 'session' | 'kv' | 'registry', operation: string): StoreObserver {
    const key = `${store}:${operation}`;
    let observer = this.#stores.get(key);
    if (observer) return observer;
    const seconds = this.#storeSeconds.labels(store, operation);
    const errors = this.#storeErrors.labels(store, operation);
    observer = {
      done: (startedAt, failed) => {
        seconds.observe((performance.now() - startedAt) / 1000);
        if (failed) errors.inc();
      },
    };
    this.#stores.set(key, observer);
    return observer;
  }

  rateLimited(limit: string): void {
    this.#rateLimited.labels(limit).inc();
  }
}

const METHOD_LABELS: readonly string[] = [...METHODS, 'other'];

function methodIndex(method: string): number {
  const index = (METHODS as readonly string[]).indexOf(method);
  return index === -1 ? METHODS.length : index;
}

function slots(): MethodSlot[] {
  return METHOD_LABELS.map(() => ({ byStatus: new Map(), seconds: [] }));
}

/** `api:<name>` for an API route's prefix, the class itself otherwise. */
function routeLabel(routeClass: string, known: ReadonlyMap<string, unknown>): string {
  if (!known.has(routeClass)) return 'static';
  return routeClass.startsWith('/api/') ? `api:${routeClass.slice(5)}` : routeClass;
}
