#!/bin/bash
# Packs what a bare GPU machine needs to run aeq's GPU checks and benchmarks and to train the bundled
# models: node (xz), the webgpu package's Linux build, a bundle of the CLI and benchmarks with every
# other dependency inlined, the Vulkan loader .debs, and a copy of ../shared/fixtures in shared/.
# Everything lands in ignored folders (.devkit/, shared/); tools/device/run.sh is the script run there.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.devkit/' .git/info/exclude 2>/dev/null || printf '/.devkit/\n/shared/\n' >> .git/info/exclude
rm -rf .devkit && mkdir -p .devkit/node_modules/webgpu/dist/linux-x64 .devkit/gl
[ -f /tmp/node.xz ] || xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > /tmp/node.xz
cp /tmp/node.xz .devkit/node.xz
cp node_modules/webgpu/{index.js,package.json} .devkit/node_modules/webgpu/
cp node_modules/webgpu/dist/linux-x64/dawn.node .devkit/node_modules/webgpu/dist/linux-x64/
xz -T2 -6 .devkit/node_modules/webgpu/dist/linux-x64/dawn.node
node -e "
const { build } = await import('esbuild');
await build({ entryPoints: { cli: 'src/cli/main.ts', 'bench/forward': 'bench/forward.ts', 'bench/explain': 'bench/explain.ts', 'bench/conv': 'bench/conv.ts', 'bench/gpu': 'bench/gpu.ts' },
  outdir: '.devkit/dist', bundle: true, platform: 'node', format: 'esm', target: 'node20',
  external: ['webgpu', 'onnxruntime-node'], loader: { '.wgsl': 'text', '.proto': 'text' }, logLevel: 'warning',
  banner: { js: \"import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);\" } });
" --input-type=module
printf 'import { main } from "./cli.js";\nprocess.exitCode = await main(process.argv.slice(2));\n' > .devkit/dist/aeq.mjs
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
mkdir -p /tmp/amd64/partial
[ -n "$(ls /tmp/gl-debs/*.deb 2>/dev/null)" ] || { mkdir -p /tmp/gl-debs; apt-get $o update -qq; (cd /tmp/gl-debs && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null); }
cp /tmp/gl-debs/*.deb .devkit/gl/
cp -r models .devkit/models
# The SqueezeNet pointing-game / GridPG folder from the shared photos (the builder needs esbuild, so it runs here).
node tools/shared-photos/build.mjs --out .devkit/shared-photos >/dev/null
rm -rf shared && mkdir -p shared/fixtures && cp -r ../shared/fixtures/models ../shared/fixtures/images shared/fixtures/
du -sh .devkit shared
