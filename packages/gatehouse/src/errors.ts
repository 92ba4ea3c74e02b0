import { PROBLEMS, type ProblemCode, type ProblemDefinition } from './problems.ts';

/** What may be added to a catalogue problem where it is raised. */
export interface ProblemOptions {
  /** A more precise sentence than the catalogue's default (shown only if the code is exposed). */
  detail?: string;
  /** The underlying failure, for the log only. */
  cause?: unknown;
  /** Extra response headers (e.g. `Allow`, `WWW-Authenticate`). */
  headers?: Record<string, string>;
  /** Extra problem members (e.g. `errors` of a validation failure), sent only when exposed. */
  extra?: Record<string, unknown>;
}

/**
 * A typed error with a stable `code` from the catalogue ({@link PROBLEMS}), which fixes its HTTP
 * `status`, `title`, whether the message may be shown and `Retry-After`. One boundary
 * (`http/problem.ts`) turns these into `application/problem+json`; anything else becomes a
 * generic 500 without internals. Raise one with {@link problem}.
 *
 * @example
 * ```ts
 * const error = problem('store_unavailable', { cause: redisError });
 * error instanceof GatehouseError; // true
 * [error.status, error.headers['retry-after'], error.expose]; // [503, '5', true]
 * ```
 */
export class GatehouseError extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly title: string;
  /** Whether `message` may be shown to the client. */
  readonly expose: boolean;
  readonly headers: Readonly<Record<string, string>>;
  /** Extra problem members (e.g. `errors` of a validation failure), sent only when exposed. */
  readonly extra: Readonly<Record<string, unknown>>;

  /** Call {@link problem} instead: lint refuses `new GatehouseError` outside this module. */
  constructor(code: ProblemCode, options: ProblemOptions = {}) {
    const definition: ProblemDefinition = PROBLEMS[code];
    super(options.detail ?? definition.message, { cause: options.cause });
    this.name = 'GatehouseError';
    this.code = code;
    this.status = definition.status;
    this.title = definition.title;
    this.expose = definition.expose;
    this.headers = {
      ...(definition.retryAfterSeconds === undefined
        ? {}
        : { 'retry-after': String(definition.retryAfterSeconds) }),
      ...options.headers,
    };
    this.extra = options.extra ?? {};
  }
}

/**
 * The one way to raise a problem: a catalogue code, and optionally a more precise detail, the
 * cause (logged, never sent), headers and extra members.
 *
 * @example
 * ```ts
 * if (!tenant) throw problem('unknown_tenant');
 * throw problem('store_unavailable', { cause: error }); // 503 with Retry-After: 5
 * ```
 */
export function problem(code: ProblemCode, options?: ProblemOptions): GatehouseError {
  return new GatehouseError(code, options);
}
