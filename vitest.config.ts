import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

/**
 * The SDK packages export their built `dist/` to the world; inside the monorepo this condition
 * selects their TypeScript sources (as `customConditions` does for tsc), so tests need no build.
 */
const SOURCE_CONDITION = '@gatehouse/source';

export default defineConfig({
  resolve: { conditions: [SOURCE_CONDITION, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] } },
  test: {
    include: ['{packages,apps}/*/test/**/*.test.{ts,tsx}'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // `expect.poll` waits for what another process or a reconnect does (a log line written, a
    // Redis client back, a server listening): 1 s, vitest's default, is short on a loaded CI
    // machine, and a poll ends as soon as its expectation holds.
    expect: { poll: { timeout: 10_000 } },
    // Suites spawn their own redis-server and in-process servers on free ports; two cores here.
    maxWorkers: 2,
  },
});
