// `npm run fuzz -- --count N --seed S [--out DIR]`: bundles src/fuzz/cli.ts (WGSL/.proto as text,
// like tools/build.mjs) into dist/fuzz.js and runs it.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  absWorkingDir: root,
  entryPoints: [{ in: 'src/fuzz/cli.ts', out: 'fuzz' }],
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  keepNames: true,
  packages: 'external',
  loader: { '.wgsl': 'text', '.proto': 'text' },
  logLevel: 'warning',
});
await import(pathToFileURL(join(root, 'dist', 'fuzz.js')).href);
