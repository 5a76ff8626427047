// Bundles the CLI, library and benchmarks into dist/ (WGSL and .proto files inlined as text).
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The CLI and library always; the benchmarks with --bench (so a broken benchmark never blocks the CLI).
const bench = process.argv.includes('--bench') || process.env.AEQ_BUILD_BENCH === '1';
const entries = ['src/cli/main.ts', 'src/index.ts', ...(bench ? ['bench/forward.ts', 'bench/explain.ts', 'bench/conv.ts', 'bench/gpu.ts', 'bench/host.ts'] : [])]
  .filter((p) => existsSync(join(root, p)));
await build({
  absWorkingDir: root,
  entryPoints: entries.map((p) => ({ in: p, out: p.replace(/^src\//, '').replace(/\.ts$/, '').replace('cli/main', 'cli') })),
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  packages: 'external',
  loader: { '.wgsl': 'text', '.proto': 'text' },
  logLevel: 'warning',
});
