#!/bin/bash
# The README's every-method table (issue 11): one `aeq eval` process per (model, method) — pointing
# game, energy pointing game and outside–inside on the first $LIMIT held-out images of each bundled
# model, and on the shared photos for SqueezeNet — each writing its JSON to $LOGS; runs $JOBS at a
# time at low priority, skips results already there (so a run can be resumed or extended), then
# prints the markdown tables (tools/eval-table.mjs).
#   tools/eval-methods.sh [METHOD …]     (default: every method of baselines.md, AE and Grad-CAM)
set -uo pipefail
cd "$(dirname "$0")/.."
LIMIT=${LIMIT:-32}
JOBS=${JOBS:-2}
DATA=${DATA:-/tmp/aeq-eval}
LOGS=${LOGS:-docs/results/lavapipe-2026-12-02/methods}
AEQ="node bin/aeq.mjs"
SQ=../shared/fixtures/models/squeezenet1_0_deepcompression.onnx
METHODS=("$@")
[ ${#METHODS[@]} -gt 0 ] || METHODS=(ae:1 ae:2 gradcam gradient input-x-gradient guided-bp ig smoothgrad
  lrp:epsilon-plus lrp:epsilon-plus-flat lrp:epsilon-gamma-box lrp:epsilon-alpha2-beta1
  gradcam++ scorecam layercam fullgrad eb ceb)
mkdir -p "$LOGS" "$DATA"
[ -f "$DATA/heldout/annotations.json" ] || $AEQ dataset --out "$DATA/heldout" --seed 7 --count 200 >/dev/null
[ -d "$DATA/sp/scenes" ] || node tools/shared-photos/build.mjs --out "$DATA/sp" >/dev/null
$AEQ info aeq-vgg >/dev/null   # builds the bundle once, before the parallel runs
jobs_list=()
for m in "${METHODS[@]}"; do
  f=${m//:/_}
  jobs_list+=("aeq-vgg|$m|$LOGS/aeq-vgg.$f.json|--model aeq-vgg --data $DATA/heldout --limit $LIMIT")
  jobs_list+=("aeq-resnet|$m|$LOGS/aeq-resnet.$f.json|--model aeq-resnet --data $DATA/heldout --limit $LIMIT")
  jobs_list+=("squeezenet|$m|$LOGS/squeezenet.$f.json|--model $SQ --preset caffe-bgr --output softmax --data $DATA/sp/scenes --batch 1")
done
run() {
  IFS='|' read -r model m out args <<<"$1"
  [ -s "$out" ] && return 0
  # shellcheck disable=SC2086
  if nice -n 19 $AEQ eval pointing,energy,outside-inside --methods "$m" $args --json --out "$out.tmp" >/dev/null 2>"$out.err"; then
    mv "$out.tmp" "$out" && rm -f "$out.err"
  else
    rm -f "$out.tmp"; echo "eval-methods: $model $m failed: $(grep -m1 '^aeq:' "$out.err")" >&2
  fi
}
export -f run
export AEQ
printf '%s\n' "${jobs_list[@]}" | xargs -P "$JOBS" -I{} bash -c 'run "$@"' _ {}
node tools/eval-table.mjs "$LOGS"
