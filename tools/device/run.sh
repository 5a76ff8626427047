#!/bin/bash
# Run on the lent GPU machine from the repo root (see make-kit.sh): phase "gpu" checks aeq's WebGPU
# kernels on the real driver (aeq verify on every fixture model) and times them (bench/*.js);
# phase "train" generates the procedural benchmark with aeq itself and trains the bundled models.
# Logs go to $OUT. Usage: bash tools/device/run.sh gpu|train|all
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
phase=${1:-all}
for f in .devkit/gl/*.deb; do dpkg -x "$f" /; done; ldconfig
# NVIDIA's Vulkan ICD needs glvnd's libGLdispatch/libGLX beside the loader (all in .devkit/gl).
icd=$(find /usr/local/nvidia /usr/share/vulkan /etc/vulkan -name 'nvidia_icd*.json' 2>/dev/null | head -1)
[ -n "$icd" ] && export VK_DRIVER_FILES=$icd
echo "vulkan ICD: ${icd:-none found}"
mkdir -p /tmp/nodebin && xz -dc .devkit/node.xz > /tmp/nodebin/node && chmod +x /tmp/nodebin/node
[ -f .devkit/node_modules/webgpu/dist/linux-x64/dawn.node ] || xz -dk .devkit/node_modules/webgpu/dist/linux-x64/dawn.node.xz
export PATH=/tmp/nodebin:$PATH
AEQ="node .devkit/dist/aeq.mjs"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv

train() {
  t0=$(date +%s)
  for k in 0 1 2 3 4 5 6 7; do $AEQ dataset --out /tmp/aeq-train/$k --seed $((1000 + k)) --count 1000 > /dev/null 2>&1 & done
  $AEQ dataset --out /tmp/aeq-heldout --seed 7 --count 500 > /dev/null 2>&1; wait
  echo "datasets in $(( $(date +%s) - t0 )) s: $(ls /tmp/aeq-train | wc -l) shards"
  # One run per model, at its own settings or at MODELS="aeq-vgg@1e-3 aeq-vgg@3e-4" (learning rates), EPOCHS=N.
  for spec in ${MODELS:-aeq-vgg aeq-resnet}; do
    name=${spec%@*}; lr=${spec#*@}; [ "$lr" = "$spec" ] && lr=default
    PYTHONUNBUFFERED=1 timeout ${TRAIN_TIMEOUT:-300} python3 tools/train_bundled_models.py train --train /tmp/aeq-train/* \
      --heldout /tmp/aeq-heldout --out /tmp/w-$lr --models $name $([ $lr = default ] || echo --lr $lr) ${EPOCHS:+--epochs $EPOCHS}
    cp /tmp/w-$lr/$name.npz "$OUT/$name-lr$lr.npz"
  done
}
verify() {
  ldconfig -p | grep -E 'libvulkan|GLX_nvidia|GLdispatch' | head -5
  VK_LOADER_DEBUG=error AEQ_DEBUG=1 AEQ_REQUIRE_GPU=1 timeout 60 $AEQ info shared/fixtures/models/resnet20_cifar10.onnx 2>&1 | head -20
  for m in shared/fixtures/models/*.onnx test/fixtures/*.onnx models/*.onnx; do
    [ -f "$m" ] || continue
    echo "== verify $m"; AEQ_REQUIRE_GPU=1 timeout 90 $AEQ verify "$m" --tol 1e-4 2>&1 | tail -3
    echo "== verify --shared-forward $m"; AEQ_REQUIRE_GPU=1 timeout 90 $AEQ verify "$m" --tol 1e-4 --shared-forward 2>&1 | tail -1
  done
}
benches() {
  (cd .devkit && timeout 60 node dist/bench/conv.js) > "$OUT/bench-conv.log" 2>&1
  (cd .devkit && timeout 120 node dist/bench/explain.js ${EXPLAIN_ARGS:-}) > "$OUT/bench-explain.log" 2>&1
  (cd .devkit && timeout 90 node dist/bench/forward.js --no-cpu) > "$OUT/bench-forward.log" 2>&1
}
case "$phase" in
  train) train > "$OUT/train-run.log" 2>&1 ;;
  gpu) verify > "$OUT/verify.log" 2>&1; benches ;;
  all)
    # Training (CUDA) overlaps the correctness checks; the timed benchmarks run alone afterwards.
    train > "$OUT/train-run.log" 2>&1 &
    verify > "$OUT/verify.log" 2>&1
    wait
    benches ;;
esac
grep -h "final\|datasets" "$OUT/train-run.log"; grep -c "within tolerance" "$OUT/verify.log"; grep -B3 "exceed\|rror" "$OUT/verify.log" | head -20
tail -n 4 "$OUT"/bench-*.log
