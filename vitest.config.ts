import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{packages,apps}/*/test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Suites spawn their own redis-server and in-process servers on free ports; two cores here.
    maxWorkers: 2,
  },
});
