/**
 * Typed errors with a stable `code`, an HTTP `status` and whether the message may be shown.
 * One boundary (`http/problem.ts`) turns these into `application/problem+json`; anything else
 * becomes a generic 500 without internals.
 */
export class GatehouseError extends Error {
  readonly code: string;
  readonly status: number;
  /** Whether `message` may be shown to the client (never for 5xx by default). */
  readonly expose: boolean;
  readonly headers: Readonly<Record<string, string>>;
  /** Extra problem members (e.g. `errors` of a validation failure), sent only when exposed. */
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(
    status: number,
    code: string,
    message: string,
    options: {
      cause?: unknown;
      expose?: boolean;
      headers?: Record<string, string>;
      extra?: Record<string, unknown>;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'GatehouseError';
    this.status = status;
    this.code = code;
    this.expose = options.expose ?? status < 500;
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }
}

export const badRequest = (code: string, message: string) => new GatehouseError(400, code, message);

export const unauthenticated = (message = 'Sign-in required.') =>
  new GatehouseError(401, 'unauthenticated', message);

export const sessionExpired = (message = 'The session has ended; sign in again.') =>
  new GatehouseError(401, 'session_expired', message);

export const forbidden = (code: string, message: string) => new GatehouseError(403, code, message);

export const notFound = (message = 'Not found.') => new GatehouseError(404, 'not_found', message);

/** Redis (or another store) is unreachable: the session may well be fine, so never "logged out". */
export const storeUnavailable = (cause: unknown) =>
  new GatehouseError(503, 'store_unavailable', 'Session storage is unavailable; try again.', {
    cause,
    expose: true,
    headers: { 'retry-after': '5' },
  });

/** The identity provider could not be reached or answered garbage. */
export const idpUnavailable = (cause: unknown) =>
  new GatehouseError(502, 'idp_unavailable', 'The identity provider is unavailable; try again.', {
    cause,
    expose: true,
  });
