import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Import .wgsl/.proto sources as strings, matching esbuild's "text" loader used for the bundle.
const textFiles = {
  name: 'aeq-text-files',
  enforce: 'pre' as const,
  load(id: string) {
    if (id.endsWith('.wgsl') || id.endsWith('.proto')) {
      return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
    }
    return null;
  },
};

export default defineConfig({
  plugins: [textFiles],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One GPU device per worker process; two cores on the dev machine.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    globals: true,
  },
});
