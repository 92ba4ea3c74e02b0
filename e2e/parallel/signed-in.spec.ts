import { appendFileSync } from 'node:fs';
import { test, expect } from '../tests/fixtures.ts';

test.use({ gatehouseUser: { tenant: 'acme', sub: 'parallel' } });

for (let n = 1; n <= 20; n += 1) {
  test(`signed-in test ${n} sees its own user`, async ({ page, context, gatehouse }, testInfo) => {
    const user = gatehouse.user!;
    await page.goto('/');
    await expect(page.getByText(`Signed in as ${user.name}`)).toBeVisible();
    await expect(page.getByTestId('claims')).toContainText(user.sub);
    const session = (await context.cookies(gatehouse.baseURL)).find((c) => c.name === 'gatehouse');
    expect(session?.value).toBeTruthy();
    const log = process.env.E2E_PARALLEL_LOG;
    if (!log) throw new Error('run with playwright.parallel.config.ts');
    appendFileSync(
      log,
      `${JSON.stringify({ test: n, worker: testInfo.workerIndex, sub: user.sub, session: session?.value })}\n`,
    );
  });
}
