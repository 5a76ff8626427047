#!/bin/bash
# The README's evaluation tables, run on the lent GPU machine (see make-kit.sh / run.sh): every
# `aeq eval` run of the README in parallel, each writing its table to a log; all logs in one tarball.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
for f in .devkit/gl/*.deb; do dpkg -x "$f" /; done; ldconfig
icd=$(find /usr/local/nvidia /usr/share/vulkan /etc/vulkan -name 'nvidia_icd*.json' 2>/dev/null | head -1)
[ -n "$icd" ] && export VK_DRIVER_FILES=$icd
mkdir -p /tmp/nodebin && xz -dc .devkit/node.xz > /tmp/nodebin/node && chmod +x /tmp/nodebin/node
[ -f .devkit/node_modules/webgpu/dist/linux-x64/dawn.node ] || xz -dk .devkit/node_modules/webgpu/dist/linux-x64/dawn.node.xz
export PATH=/tmp/nodebin:$PATH AEQ_REQUIRE_GPU=1
AEQ="node .devkit/dist/aeq.mjs"
N=${N:-200}
$AEQ dataset --out /tmp/heldout --seed 7 --count $N >/dev/null 2>&1 &
$AEQ dataset --out /tmp/mosaics --kind mosaics --seed 8 --count 100 >/dev/null 2>&1 &
wait
mkdir -p /tmp/logs
SQ=shared/fixtures/models/squeezenet1_0_deepcompression.onnx
run() { local name=$1; shift; ( timeout ${T:-420} $AEQ eval "$@" > /tmp/logs/$name.txt 2> /tmp/logs/$name.err; echo "exit $?" >> /tmp/logs/$name.err ) & }
for m in aeq-vgg aeq-resnet; do
  run $m-all all --model $m --data /tmp/heldout --limit ${NALL:-100}
  run $m-gridpg gridpg --model $m --data /tmp/mosaics
  run $m-sweep pointing,energy,outside-inside --sweep --model $m --data /tmp/heldout
  run $m-ablation pointing,energy,outside-inside --ablation --model $m --data /tmp/heldout
  run $m-sanity sanity --model $m --data /tmp/heldout --limit 16
done
run squeezenet-pg pointing,energy,outside-inside --model $SQ --preset caffe-bgr --output softmax --data .devkit/shared-photos/scenes --batch 1
run squeezenet-gridpg gridpg --model $SQ --preset caffe-bgr --output softmax --data .devkit/shared-photos/mosaics --batch 1
wait
tar czf "$OUT/eval-logs.tgz" -C /tmp logs
for f in /tmp/logs/*.txt; do echo "=== $f"; cat "$f"; done | head -c 12000
grep -H exit /tmp/logs/*.err | grep -v "exit 0"
