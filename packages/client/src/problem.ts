/** One invalid input field of a `validation_failed` answer; `path` is dotted (`'issuer'`). */
export interface ProblemFieldError {
  path: string;
  message: string;
}

/** Fields of an `application/problem+json` answer (RFC 9457) plus Gatehouse's stable `code`. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  /** `validation_failed`: which fields are wrong and why. */
  errors?: ProblemFieldError[];
  /** `provider_check_failed`: the name of the check that failed (say, `issuer_mismatch`). */
  check?: string;
}

/**
 * A failed Gatehouse call: the server's problem+json when it sent one, otherwise a problem built
 * from the HTTP status. `status` 0 with code `network_error` means the request never got an answer.
 */
export class GatehouseProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly type: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** Field errors of a `validation_failed` answer; empty otherwise. */
  readonly errors: readonly ProblemFieldError[];
  readonly check: string | undefined;

  constructor(problem: ProblemDetails, options?: { cause?: unknown }) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title, options);
    this.name = 'GatehouseProblem';
    this.status = problem.status;
    this.code = problem.code;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.errors = problem.errors ?? [];
    this.check = problem.check;
  }
}

/** Reads a problem from a non-2xx response without consuming the caller's body. */
export async function readProblem(response: Response): Promise<GatehouseProblem> {
  const fallback: ProblemDetails = {
    type: 'about:blank',
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    code: `http_${response.status}`,
  };
  if (!isJson(response)) return new GatehouseProblem(fallback);
  try {
    const body: unknown = await response.clone().json();
    return new GatehouseProblem(mergeProblem(fallback, body));
  } catch {
    return new GatehouseProblem(fallback);
  }
}

/** Wraps a fetch rejection (offline, DNS, CORS, abort) so callers see one error type. */
export function networkProblem(cause: unknown): GatehouseProblem {
  const aborted = cause instanceof Error && cause.name === 'AbortError';
  return new GatehouseProblem(
    {
      type: 'about:blank',
      title: aborted ? 'Request aborted' : 'Gatehouse could not be reached',
      status: 0,
      code: aborted ? 'aborted' : 'network_error',
    },
    { cause },
  );
}

function isJson(response: Response): boolean {
  const type = response.headers.get('content-type') ?? '';
  return /^application\/(?:problem\+)?json\b/i.test(type);
}

// Only string fields are taken from the body: it is server input, not trusted to be well-formed.
function mergeProblem(fallback: ProblemDetails, body: unknown): ProblemDetails {
  if (typeof body !== 'object' || body === null) return fallback;
  const record = body as Record<string, unknown>;
  const text = (key: string): string | undefined => {
    const value = record[key];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const detail = text('detail');
  const check = text('check');
  const errors = fieldErrors(record['errors']);
  return {
    type: text('type') ?? fallback.type,
    title: text('title') ?? fallback.title,
    status: fallback.status,
    code: text('code') ?? fallback.code,
    ...(detail === undefined ? {} : { detail }),
    ...(check === undefined ? {} : { check }),
    ...(errors.length === 0 ? {} : { errors }),
  };
}

/** `[{ path: 'issuer' | ['issuer'], message }]`, keeping only well-formed entries. */
function fieldErrors(value: unknown): ProblemFieldError[] {
  if (!Array.isArray(value)) return [];
  const errors: ProblemFieldError[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const { path, message } = item as { path?: unknown; message?: unknown };
    const dotted = dottedPath(path);
    if (dotted !== undefined && typeof message === 'string') errors.push({ path: dotted, message });
  }
  return errors;
}

function dottedPath(path: unknown): string | undefined {
  if (typeof path === 'string') return path;
  if (path === undefined || path === null) return '';
  if (!Array.isArray(path)) return undefined;
  const parts = path as unknown[];
  if (!parts.every((part) => typeof part === 'string' || typeof part === 'number')) {
    return undefined;
  }
  return parts.join('.');
}
