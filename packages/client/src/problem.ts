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
 * `retryAfterMs` is the answer's `Retry-After` in milliseconds, when it had a valid one.
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
  /**
   * How long the server asked to wait before trying again, in milliseconds from when the answer
   * arrived: its `Retry-After` header (Gatehouse sends one with `503 store_unavailable` and
   * `429 rate_limited`, say), in either form RFC 9110 allows: delay-seconds (`5` is 5000) or an
   * HTTP-date. `undefined` when the answer had none or an invalid one (and for `status` 0).
   */
  readonly retryAfterMs: number | undefined;

  constructor(problem: ProblemDetails, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title, options);
    this.name = 'GatehouseProblem';
    this.status = problem.status;
    this.code = problem.code;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.errors = problem.errors ?? [];
    this.check = problem.check;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/**
 * The problem a non-2xx answer describes, as the SDK's own calls throw it: Gatehouse's
 * problem+json (`code`, `title`, `detail`…) or one made from the status (`http_<status>`), with
 * `retryAfterMs` from its `Retry-After`. Reads a copy: the caller's body stays readable.
 *
 * @example
 * const res = await gatehouse.apiFetch('/api/orders');
 * if (!res.ok) throw await readProblem(res); // a 503's problem.retryAfterMs says when to retry
 */
export async function readProblem(response: Response): Promise<GatehouseProblem> {
  const fallback: ProblemDetails = {
    type: 'about:blank',
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    code: `http_${response.status}`,
  };
  const retryAfterMs = readRetryAfter(response.headers);
  const options = retryAfterMs === undefined ? {} : { retryAfterMs };
  if (!isJson(response)) return new GatehouseProblem(fallback, options);
  try {
    const body: unknown = await response.clone().json();
    return new GatehouseProblem(mergeProblem(fallback, body), options);
  } catch {
    return new GatehouseProblem(fallback, options);
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = `(?<month>${MONTHS.join('|')})`;
const TIME = '(?<hour>\\d{2}):(?<minute>\\d{2}):(?<second>\\d{2})';
/** The three formats of an HTTP-date (RFC 9110 §5.6.7), which is case-sensitive. */
const HTTP_DATE_FORMATS = [
  // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
  new RegExp(`^${DAY}, (?<day>\\d{2}) ${MONTH} (?<year>\\d{4}) ${TIME} GMT$`),
  // Obsolete RFC 850 format: `Sunday, 06-Nov-94 08:49:37 GMT`
  new RegExp(`^${LONG_DAY}, (?<day>\\d{2})-${MONTH}-(?<year>\\d{2}) ${TIME} GMT$`),
  // Obsolete asctime() format: `Sun Nov  6 08:49:37 1994`
  new RegExp(`^${DAY} ${MONTH} (?<day> \\d|\\d{2}) ${TIME} (?<year>\\d{4})$`),
];

/**
 * `Retry-After` (RFC 9110 §10.2.3) as milliseconds from now: delay-seconds, or an HTTP-date
 * counted from the answer's own `Date` when it has a valid one (a browser clock that is off
 * neither stretches nor cancels the wait); a date already past is 0. Anything else (no header, a
 * negative or fractional number, another date format, two values) is `undefined`.
 */
export function readRetryAfter(headers: Headers, now: number = Date.now()): number | undefined {
  const value = headers.get('retry-after')?.trim() ?? '';
  if (/^\d+$/.test(value)) return Math.min(Number(value) * 1000, Number.MAX_SAFE_INTEGER);
  const retryAt = parseHttpDate(value, now);
  if (retryAt === undefined) return undefined;
  const sentAt = parseHttpDate(headers.get('date')?.trim() ?? '', now);
  return Math.max(0, retryAt - (sentAt ?? now));
}

/** An HTTP-date in any of its three formats as epoch milliseconds; `undefined` if it is none. */
function parseHttpDate(value: string, now: number): number | undefined {
  const fields = HTTP_DATE_FORMATS.map((format) => format.exec(value)?.groups).find(Boolean);
  if (!fields) return undefined;
  const [day, hour, minute, second] = [fields.day, fields.hour, fields.minute, fields.second].map(
    Number,
  ) as [number, number, number, number];
  const month = MONTHS.indexOf(fields.month ?? '');
  let year = Number(fields.year);
  if (fields.year?.length === 2) {
    // A two-digit year more than 50 years ahead is the latest past year ending in those digits.
    const thisYear = new Date(now).getUTCFullYear();
    year += thisYear - (thisYear % 100);
    if (year > thisYear + 50) year -= 100;
  }
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC, which reads years 0-99 as 1900-1999.
  date.setUTCFullYear(year, month, day);
  // A day the month does not have (31 Nov) rolls over into the next month: no such date.
  if (date.getUTCMonth() !== month || date.getUTCDate() !== day) return undefined;
  // Second 60 is a leap second: the next minute's first.
  return date.getTime() + ((hour * 60 + minute) * 60 + second) * 1000;
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
