import { defineConfig } from '@playwright/test';
import base from './playwright.config.ts';

/**
 * The fixtures under parallel load: 20 signed-in tests on 2 workers against one stack. The
 * global teardown checks that no two tests shared a user or a session, and the Gatehouse
 * reporter prints the total time spent signing in.
 */
export default defineConfig({
  ...base,
  testDir: './parallel',
  globalSetup: './parallel-setup.ts',
  fullyParallel: true,
  workers: 2,
  reporter: [['list'], ['@gatehouse/playwright/reporter']],
});
