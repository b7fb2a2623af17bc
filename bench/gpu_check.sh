#!/usr/bin/env bash
# The GPU-only checks of the precision issue, in one call on a machine with a CUDA GPU:
# the scripts run with --device cuda in both precisions (s/epoch and peak GPU memory in
# their metrics.json), draw_DEGs.py on a CUDA run and DDP over nccl with torchrun. The
# scripts are given the files' paths, so they run with the documented defaults (no preset).
#
#   SCRCL_SHARED_DATA=/path/to/shared/data OUT=/tmp/gpu bash bench/gpu_check.sh
#
# Needs Baron_mouse1 (substitutes/scdata) and 151507 (stdata_pca) under $SCRCL_SHARED_DATA;
# the speed suite is a separate call (bench/run.py speed --device cuda). Logs, outputs and
# the record gpu_check.json go to $OUT.
set -u
: "${SCRCL_SHARED_DATA:?set it to the folder that holds substitutes/ and stdata_pca/}"
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/scrcl_gpu}
mkdir -p "$OUT"
: > "$OUT/check.log"
say() { echo "$*" | tee -a "$OUT/check.log"; }
export PYTHONUNBUFFERED=1
sc="$SCRCL_SHARED_DATA/substitutes/scdata/Baron_mouse1.h5ad"
st="$SCRCL_SHARED_DATA/stdata_pca/151507.h5ad"
status=0
step() {  # step NAME COMMAND...: run (its output folder emptied first), log, go on
    local name=$1; shift
    rm -rf "${OUT:?}/$name"
    say "=== $name: $*"
    local t0=$SECONDS
    if "$@" >"$OUT/$name.log" 2>&1; then say "    ok ($((SECONDS - t0)) s)"
    else say "    FAILED ($((SECONDS - t0)) s): tail of $OUT/$name.log"; tail -5 "$OUT/$name.log"; status=1
    fi
}
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader) || status=1
say "$gpu"
python -c "import torch, torch_geometric, scanpy; print('torch', torch.__version__, 'pyg', torch_geometric.__version__, 'scanpy', scanpy.__version__, 'cuda', torch.cuda.is_available(), 'bf16', torch.cuda.is_bf16_supported())" || status=1
for p in fp32 bf16; do
    step "runSC_$p" python runSC.py --dataset "$sc" --device cuda --precision "$p" --seeds 5 \
        --quiet --out "$OUT/runSC_$p"
    step "runST_$p" python runST.py --dataset "$st" --device cuda --precision "$p" --seeds 5 \
        --quiet --out "$OUT/runST_$p"
done
step draw_DEGs python draw_DEGs.py --dataset "$sc" --results "$OUT/runSC_bf16" \
    --out "$OUT/draw_DEGs" --no-umap -q
step ddp_nccl python -m torch.distributed.run --nproc-per-node 1 runSC.py --dataset "$sc" \
    --device cuda --seeds 5 --epochs 20 --ddp --quiet --out "$OUT/ddp_nccl"
# the record to store as bench/results/gpu_check/<date>.json (bench/report.py tables it)
python bench/gpu_summary.py "$OUT" "$OUT/check.log" --commit "${SCRCL_GIT_COMMIT:-}" \
    --gpu "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)" \
    > "$OUT/gpu_check.json" || status=1
exit $status
