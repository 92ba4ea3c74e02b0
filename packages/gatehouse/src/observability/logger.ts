import { pino, type Logger, type DestinationStream } from 'pino';

/** Paths pino censors wherever they appear in a log object. */
export const REDACTED_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-csrf"]',
  'res.headers["set-cookie"]',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.logout_token',
  '*.accessToken',
  '*.refreshToken',
  '*.idToken',
  '*.clientSecret',
  '*.client_secret',
  '*.code_verifier',
  '*.password',
  '*.secret',
  '*.secrets',
  '*.key',
];

/**
 * The pino logger Gatehouse writes with: JSON lines at `level` (`LOG_LEVEL`), with cookies,
 * tokens, secrets and keys censored wherever they appear ({@link REDACTED_PATHS}).
 *
 * @example
 * const logger = createLogger(config.logLevel);
 * const gatehouse = createGatehouse(config, { logger: logger.child({ pid: process.pid }) });
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'gatehouse' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}

/**
 * A URL as it may appear in a log line: path plus the query parameter *names* only, because
 * callbacks carry `code` and `state`, and nothing secret belongs in a log.
 */
export function loggableUrl(rawUrl: string): string {
  const index = rawUrl.indexOf('?');
  if (index === -1) return rawUrl;
  const names = [...new URLSearchParams(rawUrl.slice(index + 1)).keys()];
  return `${rawUrl.slice(0, index)}?${names.map((n) => `${n}=…`).join('&')}`;
}
