// Layering of aeq's source folders (run by .ci/run as `npm run lint:deps`). Type-only imports count
// too: a cycle of types is still a cycle a reader has to hold in their head.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycles',
      comment: 'Folders of src/ form a layered graph: an import cycle between two folders is an error.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-module-cycles',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'graph-is-the-bottom',
      comment: 'The IR (src/graph) imports nothing above it.',
      severity: 'error',
      from: { path: '^src/graph/' },
      to: { path: '^src/', pathNot: ['^src/graph/', '^src/errors\\.ts$'] },
    },
    {
      name: 'ops-below-planner',
      comment: 'Operators and their rules know the plan only through the contract types in src/ops/op.ts.',
      severity: 'error',
      from: { path: '^src/(ops|kernels)/' },
      to: { path: '^src/(planner|runtime|explain|eval|cli|data)/' },
    },
    {
      name: 'kernels-below-ops',
      comment: 'The GPU toolkit knows no operator.',
      severity: 'error',
      from: { path: '^src/kernels/' },
      to: { path: '^src/ops/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.(wgsl|proto)$' },
  },
};
