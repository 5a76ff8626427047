#!/bin/bash
# The GPU-machine benchmark in one command (issue 9 item 7; bench/gpu.ts): conv kernels per shape for
# both kernel variants (GFLOP/s, % of the fp32 peak), the strided layers' input gradient and AE conv
# rules per shape under both variants (bench/strided.ts), forward and AE throughput at batch 1, 16, 64
# for VGG-16, ResNet-50 and three torchvision topologies with the host µs per dispatch, and
# `aeq verify` on every fixture under both variants; markdown tables for bench/RESULTS.md in
# $OUT/bench-gpu.md, in under 8 minutes (BUDGET seconds for the timed work, default 420).
#   On the lent machine, after tools/device/make-kit.sh here:  bash tools/device/bench-gpu.sh
#   Here, on lavapipe, to test the plumbing (tiny sizes):      bash tools/device/bench-gpu.sh --quick
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
if [ -d .devkit ]; then
  # The bare GPU machine: the kit's node, Dawn and Vulkan loader (as run.sh does).
  for f in .devkit/gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  icd=$(find /usr/local/nvidia /usr/share/vulkan /etc/vulkan -name 'nvidia_icd*.json' 2>/dev/null | head -1)
  [ -n "$icd" ] && export VK_DRIVER_FILES=$icd
  mkdir -p /tmp/nodebin && xz -dc .devkit/node.xz > /tmp/nodebin/node && chmod +x /tmp/nodebin/node
  [ -f .devkit/node_modules/webgpu/dist/linux-x64/dawn.node ] || xz -dk .devkit/node_modules/webgpu/dist/linux-x64/dawn.node.xz
  export PATH=/tmp/nodebin:$PATH
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null
  BENCH=.devkit/dist/bench/gpu.js CLI=.devkit/dist/aeq.mjs
else
  node tools/build.mjs --bench || exit 1
  BENCH=dist/bench/gpu.js CLI=bin/aeq.mjs
fi
AEQ_REQUIRE_GPU=1 timeout 470 node "$BENCH" --out "$OUT/bench-gpu.md" --cli "$CLI" --budget "${BUDGET:-420}" "$@" > "$OUT/bench-gpu.log" 2>&1
rc=$?
tail -n 5 "$OUT/bench-gpu.log"
echo "exit $rc; tables in $OUT/bench-gpu.md"
exit $rc
