/**
 * The one exception to "https only" for identity providers: in development mode, a configured
 * dev IdP origin (checked at load time to be loopback) may be plain http.
 */
export function isPlainHttpDevIdp(
  url: URL,
  config: { mode: 'development' | 'production'; devIdpOrigins: readonly string[] },
): boolean {
  return (
    config.mode === 'development' &&
    url.protocol === 'http:' &&
    config.devIdpOrigins.some((origin) => new URL(origin).origin === url.origin)
  );
}
