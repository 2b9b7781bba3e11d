#!/usr/bin/env bash
# One check for a CUDA machine, under 8 minutes on an H200 (the time limits below sum to
# 455 s; a step cut short keeps the figures it wrote, and the goals table marks the rest "not
# measured"), measuring issue 22's goals side by side:
#   1. the CUDA-marked tests (pytest -m cuda: the device twins of tests/test_cuda.py, the
#      compiled trainer, GPU decoding against the CPU path's pixels, ...);
#   2. training images/s on a resident batch, ResNet-101 @448 B = 64 bf16 channels_last:
#      A-GCN, baseline and a plain timm step, eager and compiled (bench/bench_train_gpu.py);
#   3. the loader alone into the GPU, data.decode=cpu vs gpu: steady images/s, first batch,
#      host cores per GPU at the compiled A-GCN rate of step 2 (bench/bench_pipeline_gpu.py);
#   4. agcn train's own code on a JPEG set, decode=cpu vs gpu: steady images/s ÷ the
#      resident compiled step of step 2, first batch, epoch boundary, host cores per GPU
#      (bench/bench_user_path_gpu.py);
#   5. the goals in one table (bench/gpu_goals.py).
# Usage, from anywhere:  bash bench/gpu_check.sh
# Python: $PYTHON, else .venv/bin/python, else python3. The checkout goes first on
# PYTHONPATH, before what is there already (carried wheels unpacked into a folder on
# PYTHONPATH, say), so nothing is installed. Reports go to $OUT when it is set, else
# bench/results/. Exit status: 0 every step ran, 1 a step failed or timed out, 2 no CUDA here
# (or a package missing).
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
REPORTS="${OUT:-bench/results}"
status=0

echo "== $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname), $(nproc) host cores"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null \
  || echo "(nvidia-smi not available)"
if ! "$PYTHON" - <<'EOF'
import importlib, sys
missing = []
for name in ("torch", "torchvision", "timm", "torch_geometric", "yaml", "PIL", "tqdm", "pytest",
             "skimage"):
    try:
        module = importlib.import_module(name)
        print(f"{name} {getattr(module, '__version__', '?')}", end="; ")
    except ImportError:
        missing.append(name)
print()
if missing:
    print("missing packages:", ", ".join(missing))
    sys.exit(1)
import torch
print("CUDA", torch.version.cuda, "available", torch.cuda.is_available())
sys.exit(0 if torch.cuda.is_available() else 1)
EOF
then
  echo "no CUDA device here (or a package is missing): nothing to check"
  exit 2
fi
mkdir -p "$REPORTS" && REPORTS="$(cd "$REPORTS" && pwd)"
rm -f "$REPORTS"/gpu_*.json

# step NAME LIMIT_S LOG COMMAND...: run it with a time limit, tee its output, note a failure
step() {
  local name=$1 limit=$2 log=$3
  shift 3
  echo "== $name (limit ${limit} s): $*"
  local began=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$REPORTS/$log"
  local rc=${PIPESTATUS[0]}
  echo "-- $name: exit $rc after $((SECONDS - began)) s"
  [[ $rc -eq 0 ]] || status=1
  return "$rc"
}

step "1/5 CUDA tests" 80 gpu_tests.log "$PYTHON" -m pytest -m cuda -q -p no:cacheprovider
tests_rc=$?
step "2/5 training step, resident batch" 210 gpu_train.log \
  "$PYTHON" bench/bench_train_gpu.py --steps 20 --out "$REPORTS/gpu_train.md" \
  --json "$REPORTS/gpu_train.json"
step "3/5 the loader into the GPU" 35 gpu_pipeline.log \
  "$PYTHON" bench/bench_pipeline_gpu.py --out "$REPORTS/gpu_pipeline.md" \
  --json "$REPORTS/gpu_pipeline.json" --step-rate-from "$REPORTS/gpu_train.json"
step "4/5 agcn train, steady state" 130 gpu_user_path.log \
  "$PYTHON" bench/bench_user_path_gpu.py --out "$REPORTS/gpu_user_path.md" \
  --json "$REPORTS/gpu_user_path.json" --resident-from "$REPORTS/gpu_train.json"
echo "== 5/5 the goals"
"$PYTHON" bench/gpu_goals.py "$REPORTS" --tests-rc "$tests_rc" || status=1

echo "== done: reports in $REPORTS; exit $status"
exit $status
