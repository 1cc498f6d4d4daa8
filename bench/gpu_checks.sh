#!/bin/bash
# Issue 7's GPU checks in one timed go, for a machine with a CUDA GPU (run from the repository root):
#
#   bash bench/gpu_checks.sh OUTDIR SECONDS [tiny]
#
# 1. the CUDA tests (tests/test_compute_precision.py: pinned copies, bf16 autocast on the Conv4 MAML);
# 2. bench.meta_step on the GPU, every Conv4 strategy, the peers where they import (PEERS_SITE: a folder of
#    unpacked learn2learn/higher/TorchOpt packages put first on PYTHONPATH, e.g. when pip is not available);
# 3. the shipped glyph recipes of ProtoNet and MAML trained on the GPU with their wall time, then 600 held-out
#    episodes each;
# 4. if time is left, the MAML recipe again with bf16 autocast (LAB_PRECISION=bf16; its own resume state).
# Every step is cut to the time left, so the whole run ends within SECONDS; "tiny" makes every step a few
# iterations (to try the script on any machine first). Writes OUTDIR/gpu_checks.log and OUTDIR/gpu_checks.tar.gz
# (benchmark CSVs, eval JSONs, checkpoint cards). What the H200 gave once: README, "Benchmarks".
set -u
O=$1; T=$2; TINY=${3:-}
ROOT=$PWD
export PYTHONUNBUFFERED=1 PYTHONPATH=${PEERS_SITE:+$PEERS_SITE:}$ROOT LAB_HOME=${LAB_HOME:-/tmp/labhome_gpu_checks}
PY=${PY:-python3}
END=$(( $(date +%s) + T ))
left() { echo $(( END - $(date +%s) )); }
cap() { local l=$(( $(left) - 25 )); [ $l -lt $1 ] && echo $(( l > 5 ? l : 5 )) || echo $1; }  # min(cap, time left)
W=$(mktemp -d); mkdir -p "$O"
ITER_P=800; ITER_M=600; EPIS=600; REP=0.4; EV=200
if [ -n "$TINY" ]; then ITER_P=3; ITER_M=2; EPIS=4; REP=0.02; EV=4; fi
{
echo "== device"; date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

echo "== 1 tests that need CUDA"
timeout "$(cap 80)" $PY -m pytest -q -p no:cacheprovider -rs tests/test_compute_precision.py 2>&1 | tail -25

echo "== 2 meta-step benchmark (ours, every Conv4 strategy, peers), $(left) s left"
timeout "$(cap 170)" $PY -m bench.meta_step --allocator tuned --all-strategies --repeats $REP 2>&1 | tail -60
cp bench/results/meta_step*.csv "$W"/ 2>/dev/null

echo "== 3 glyph recipes trained on the GPU, wall time, then $EPIS held-out episodes"
for L in protonet maml; do
  it=$ITER_P; [ $L = maml ] && it=$ITER_M
  s=$(date +%s%N)
  timeout "$(cap 120)" $PY -m lab train $L --data glyphs --iterations $it --eval-episodes $EV \
      --threads 2 --out "$W/models" --runs "$W/runs" --name ${L}_glyphs_gpu 2>&1 | grep -v "^\s*$" | tail -8
  e=$(date +%s%N); echo "$L train wall $(( (e - s) / 1000000 )) ms"
  timeout "$(cap 90)" $PY -m lab eval $L --data glyphs --ways 5 --shots 1 --episodes $EPIS \
      --checkpoint "$W/models/${L}_glyphs_gpu" --json > "$W/eval_${L}_glyphs_gpu.json" 2> "$W/eval_${L}.err" \
    && head -c 600 "$W/eval_${L}_glyphs_gpu.json" && echo || tail -2 "$W/eval_${L}.err"
  cp "$W/models/${L}_glyphs_gpu.json" "$W/card_${L}_glyphs_gpu.json" 2>/dev/null
done

echo "== 4 MAML glyphs with bf16 autocast, if time is left: $(left) s"
if [ "$(left)" -gt 100 ]; then
  s=$(date +%s%N)
  LAB_PRECISION=bf16 timeout "$(cap 120)" $PY -m lab train maml --data glyphs --iterations $ITER_M \
      --eval-episodes $EV --threads 2 --out "$W/models" --runs "$W/runs" --name maml_glyphs_gpu_bf16 2>&1 | tail -4
  e=$(date +%s%N); echo "maml bf16 train wall $(( (e - s) / 1000000 )) ms"
  cp "$W/models/maml_glyphs_gpu_bf16.json" "$W/card_maml_glyphs_gpu_bf16.json" 2>/dev/null
fi
date -u; echo "== done, $(left) s left"
} > "$O/gpu_checks.log" 2>&1
rm -rf "$W/models" "$W/runs"
tar czf "$O/gpu_checks.tar.gz" -C "$W" . 2>/dev/null
rm -rf "$W"
