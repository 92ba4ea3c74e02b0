import { existsSync } from 'node:fs';
import { defineConfig } from '@playwright/test';

/** Debian's Chromium (or CHROMIUM_PATH), as the repository's main e2e suite uses. */
const systemChromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) =>
  existsSync(path),
);
const executablePath = process.env.CHROMIUM_PATH ?? systemChromium;

/**
 * One stack (e2e/global-setup.ts), two projects run one after the other: first
 * `gatehouse-fixtures`, the suite a team writes with @gatehouse/playwright (fresh signed-in users,
 * session lifecycle controls), fully parallel on both workers; then `chromium`, which signs in
 * through the dev IdP's own pages one test at a time.
 */
export default defineConfig({
  testDir: './e2e',
  globalSetup: './e2e/global-setup.ts',
  fullyParallel: false,
  workers: 2,
  retries: 0,
  forbidOnly: Boolean(process.env.CI),
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list'], ['@gatehouse/playwright/reporter']],
  use: {
    baseURL: process.env.EXAMPLE_BASE_URL,
    trace: 'retain-on-failure',
    launchOptions: {
      ...(executablePath ? { executablePath } : {}),
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
  projects: [
    {
      name: 'chromium',
      testMatch: 'example.spec.ts',
      workers: 1,
      dependencies: ['gatehouse-fixtures'],
      use: { browserName: 'chromium' },
    },
    {
      name: 'gatehouse-fixtures',
      testMatch: 'signed-in.spec.ts',
      fullyParallel: true,
      workers: 2,
      use: { browserName: 'chromium' },
    },
  ],
});
