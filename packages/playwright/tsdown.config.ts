import { defineConfig } from 'tsdown';

export default defineConfig({
  entry: ['src/index.ts', 'src/reporter.ts'],
  format: 'esm',
  platform: 'node',
  target: 'node20',
  dts: true,
  clean: true,
  // `.js` and `.d.ts` (the package is `type: module`).
  fixedExtension: false,
  // @playwright/test is the user's own (a peer dependency), never bundled.
  deps: { neverBundle: [/^@playwright\/test/] },
});
