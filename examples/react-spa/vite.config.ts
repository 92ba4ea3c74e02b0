import react from '@vitejs/plugin-react';
import { gatehouseDevProxy } from '@gatehouse/client/vite';
import { defineConfig } from 'vite';

// Gatehouse's paths (/bff, /api, /admin/api) go to the dev Gatehouse (GATEHOUSE_DEV_TARGET, else
// http://localhost:3100); everything else is this app. Gatehouse runs with PUBLIC_URL set to
// this server's origin (README: "Add Gatehouse to your SPA in five minutes").
export default defineConfig({
  plugins: [react()],
  server: { host: 'localhost', port: 5173, strictPort: true, proxy: gatehouseDevProxy() },
  preview: { host: 'localhost', port: 4173, strictPort: true, proxy: gatehouseDevProxy() },
});
