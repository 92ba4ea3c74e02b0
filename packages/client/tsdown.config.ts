import { defineConfig } from 'tsdown';

/** ESM + bundled .d.ts in dist/ (what `exports` points at outside the monorepo). */
export default defineConfig({
  entry: { index: 'src/index.ts', vite: 'src/vite.ts' },
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  dts: true,
  clean: true,
  sourcemap: false,
  fixedExtension: false,
});
