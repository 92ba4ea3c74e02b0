/**
 * `@gatehouse/client/vite`: Vite dev-server settings that put your SPA and a development Gatehouse
 * on one origin, as production does (Gatehouse serves the SPA or sits in front of it).
 *
 * @example
 * // vite.config.ts
 * import { gatehouseDevProxy } from '@gatehouse/client/vite';
 * export default defineConfig({ server: { port: 5173, proxy: gatehouseDevProxy() } });
 *
 * Gatehouse must then know the SPA's origin as its public URL (`PUBLIC_URL=http://localhost:5173`):
 * its redirect URIs, cookie and Origin check are the browser's origin, not its own port.
 */

/** The port `pnpm dev` runs the Gatehouse server on (the SPA's Vite server forwards to it). */
export const DEFAULT_GATEHOUSE_DEV_TARGET = 'http://localhost:3100';

export interface GatehouseDevProxyOptions {
  /**
   * Where the development Gatehouse listens; default `GATEHOUSE_DEV_TARGET` from the environment,
   * else `http://localhost:3100` (the repository's `pnpm dev`).
   */
  target?: string;
  /** Also forward the admin API (`/admin/api/…`); default `true`. */
  admin?: boolean;
  /** Further path prefixes to forward (say `/.well-known`), each matched as a whole segment. */
  extraPrefixes?: readonly string[];
}

/**
 * One rule of Vite's `server.proxy` (and `preview.proxy`), as Vite's `ProxyOptions` spells it:
 * assignable to it without this package depending on Vite.
 */
export interface GatehouseProxyRule {
  target: string;
  /** `false`: the browser's Host reaches Gatehouse, so it sees the SPA's origin. */
  changeOrigin: false;
  /**
   * `true` for `/api` only: routes with `websocket: true` accept upgrades there (and nowhere
   * else); Vite's own HMR socket is not under it.
   */
  ws: boolean;
  /** No `X-Forwarded-*` headers: Gatehouse trusts them only from configured proxies. */
  xfwd: false;
}

/**
 * `server.proxy` settings forwarding Gatehouse's paths — `/bff`, `/api` (WebSocket upgrades
 * too) and `/admin/api` — to a development Gatehouse. Cookies and redirects pass through
 * untouched (Gatehouse sets host-only cookies without a Domain, and redirects to the IdP or to
 * same-origin paths); the Host header is kept, so PUBLIC_URL must be the Vite origin. The patterns are anchored and end at a segment
 * boundary: `/apiary` and the SPA's own `/admin` page stay with Vite.
 */
export function gatehouseDevProxy(
  options: GatehouseDevProxyOptions = {},
): Record<string, GatehouseProxyRule> {
  const target = (options.target ?? envTarget() ?? DEFAULT_GATEHOUSE_DEV_TARGET).replace(
    /\/+$/,
    '',
  );
  if (!/^https?:\/\/[^/?#]+$/.test(target)) {
    throw new TypeError(`gatehouseDevProxy: target must be an http(s) origin, not ${target}`);
  }
  const prefixes = ['/bff', '/api'];
  if (options.admin !== false) prefixes.push('/admin/api');
  for (const prefix of options.extraPrefixes ?? []) {
    if (!/^\/[^?#]*[^/?#]$/.test(prefix)) {
      throw new TypeError(`gatehouseDevProxy: "${prefix}" is not a path prefix such as /extra`);
    }
    prefixes.push(prefix);
  }
  const rule: GatehouseProxyRule = { target, changeOrigin: false, ws: false, xfwd: false };
  return Object.fromEntries(
    prefixes.map((prefix) => [
      `^${escapeRegExp(prefix)}(?:[/?]|$)`,
      { ...rule, ws: prefix === '/api' },
    ]),
  );
}

function envTarget(): string | undefined {
  // Vite configs run in Node; this module stays platform-neutral.
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env;
  const value = env?.['GATEHOUSE_DEV_TARGET'];
  return value === undefined || value === '' ? undefined : value;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
