#!/usr/bin/env bash
# One short check for a CUDA machine, under 8 minutes:
#   1. the test suite's CUDA-marked tests (tests/test_cuda.py: bf16 autocast, channels_last,
#      1-process DDP over NCCL via torchrun, the trainer on CUDA);
#   2. ResNet-101 @448 training images/s, baseline vs A-GCN, bf16 + channels_last, eager and
#      torch.compile, with the fraction of the device's bf16 peak (bench/bench_train_gpu.py),
#      plus the head ÷ backbone and inference ratios on the GPU;
#   3. the input pipeline into the GPU: JPEG files → persistent workers → pinned uint8 batches
#      → normalised on the device, alone and feeding ResNet-101 training, and nvJPEG decoding
#      (bench/bench_pipeline_gpu.py).
# Usage, from anywhere:  bash bench/gpu_check.sh [extra bench_train_gpu.py flags]
# Python: $PYTHON, else .venv/bin/python, else python3; the checkout is put on PYTHONPATH, so
# no install is needed where torch, timm and torch-geometric are. Reports go to $OUT when it
# is set, else bench/results/. Exit status: 0 all passed, 1 a step failed, 2 no CUDA here.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
REPORTS="${OUT:-bench/results}"
status=0

echo "== $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname)"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null \
  || echo "(nvidia-smi not available)"
if ! "$PYTHON" -c 'import sys, torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available())
sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "no CUDA device here: nothing to check (see docs/benchmarks.md for the CPU figures)"
  exit 2
fi
mkdir -p "$REPORTS"

echo "== 1/3 CUDA tests: $PYTHON -m pytest -m cuda -q"
timeout 100 "$PYTHON" -m pytest -m cuda -q -p no:cacheprovider 2>&1 | tee "$REPORTS/gpu_tests.log"
rc=$?
[[ $rc -eq 0 ]] || { echo "CUDA tests failed (exit $rc)"; status=1; }

echo "== 2/3 training throughput: $PYTHON bench/bench_train_gpu.py $*"
timeout 190 "$PYTHON" bench/bench_train_gpu.py --out "$REPORTS/gpu_train.md" "$@" 2>&1 \
  | tee "$REPORTS/gpu_train.log"
rc=$?
[[ $rc -eq 0 ]] || { echo "throughput benchmark failed (exit $rc)"; status=1; }

echo "== 3/3 input pipeline into the GPU: $PYTHON bench/bench_pipeline_gpu.py"
timeout 150 "$PYTHON" bench/bench_pipeline_gpu.py --out "$REPORTS/gpu_pipeline.md" 2>&1 \
  | tee "$REPORTS/gpu_pipeline.log"
rc=$?
[[ $rc -eq 0 ]] || { echo "input pipeline benchmark failed (exit $rc)"; status=1; }

echo "== done: reports in $REPORTS (gpu_tests.log, gpu_train.md, gpu_pipeline.md, logs); exit $status"
exit $status
