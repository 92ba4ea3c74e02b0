/**
 * A short human summary of the user agent for the sessions page ("Chrome on Linux"), kept in the
 * session record's `device`.
 *
 * @example
 * ```ts
 * deviceSummary('Mozilla/5.0 (X11; Linux x86_64) … Chrome/130.0 Safari/537.36'); // 'Chrome on Linux'
 * ```
 */
export function deviceSummary(userAgent: string | undefined): string {
  if (!userAgent) return 'Unknown device';
  const browser = (
    [
      [/Edg\//, 'Edge'],
      [/Firefox\//, 'Firefox'],
      [/Chrome\/|Chromium\//, 'Chrome'],
      [/Safari\//, 'Safari'],
    ] as const
  ).find(([pattern]) => pattern.test(userAgent))?.[1];
  const os = (
    [
      [/Windows/, 'Windows'],
      [/Android/, 'Android'],
      [/iPhone|iPad/, 'iOS'],
      [/Mac OS X/, 'macOS'],
      [/Linux/, 'Linux'],
    ] as const
  ).find(([pattern]) => pattern.test(userAgent))?.[1];
  if (!browser && !os) return 'Unknown device';
  return `${browser ?? 'Browser'} on ${os ?? 'unknown OS'}`;
}
