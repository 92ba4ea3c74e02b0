import { defineConfig } from 'tsdown';

/** ESM + bundled .d.ts in dist/; react and @gatehouse/client stay imports (peer dependencies). */
export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  dts: true,
  clean: true,
  sourcemap: false,
  fixedExtension: false,
});
