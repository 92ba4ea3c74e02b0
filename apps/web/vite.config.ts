import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';
import type { ProxyOptions } from 'vite';

/** Where `pnpm dev` runs the Gatehouse server; the SPA dev server forwards to it. */
const gatehouseTarget = process.env['GATEHOUSE_DEV_TARGET'] ?? 'http://localhost:3100';

// Keep Host and Origin as localhost:3000 so the BFF sees the browser's real origin (CSRF origin
// checks, cookie scope). Anchored patterns: `/api` must not also catch `/apiary`, and `/admin`
// itself is the SPA's admin console: only what lies below it (`/admin/api/…`) is Gatehouse's.
const forwardToGatehouse: ProxyOptions = {
  target: gatehouseTarget,
  changeOrigin: false,
  ws: false,
};
const proxiedPaths = [
  '^/bff(?:[/?]|$)',
  '^/api(?:[/?]|$)',
  '^/admin/api(?:[/?]|$)',
  '^/\\.well-known(?:[/?]|$)',
  '^/healthz(?:\\?|$)',
  '^/readyz(?:\\?|$)',
];

// WebSocket upgrades too under `/api` (routes with `websocket: true`, such as the dev config's
// `/api/demo/ws/echo`); Vite's own HMR socket is not under it.
const proxy = Object.fromEntries(
  proxiedPaths.map((path) => [
    path,
    path === '^/api(?:[/?]|$)' ? { ...forwardToGatehouse, ws: true } : forwardToGatehouse,
  ]),
);

export default defineConfig({
  plugins: [react()],
  // @gatehouse/client's sources, not its dist/ (which a fresh clone has not built).
  resolve: { conditions: ['@gatehouse/source', ...defaultClientConditions] },
  server: {
    host: 'localhost',
    port: 3000,
    strictPort: true,
    proxy,
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    rolldownOptions: {
      output: {
        entryFileNames: 'assets/[name]-[hash].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
});
