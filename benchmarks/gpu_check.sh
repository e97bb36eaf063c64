#!/usr/bin/env bash
# The GPU check: what only a CUDA machine can test, in under 10 minutes on one GPU (docs/scaling.md).
# The developer who next has a GPU runs it first.
#
#   bash benchmarks/gpu_check.sh             # the active Python must have a CUDA build of torch and the project
#   bash benchmarks/gpu_check.sh --install   # first the README's GPU install lines (CUDA torch, then the project)
#
# Environment: RELNEURONS_DATA, the LRE data folder (default ../shared/lre); GPU_CHECK_OUT, where the run and
# the logs go (default a new folder under /tmp). Nothing is installed without --install.
#
# Checks, each logged to GPU_CHECK_OUT/NAME.log:
#   cuda-tests   the tests that need CUDA (their names say cuda; others skip with a reason)
#   quick-cuda   `relneurons run` quick preset, intra only, on cuda in float32 (the CPU reference's dtype)
#   intra-vs-cpu its intra tables against benchmarks/reference/quick-cpu (a CPU run): every accuracy, and
#                every generation that differs, listed with its prompt
#   generation   controlled generation against the bare model on the GPU (benchmarks/bench_generation.py)
#   batch-sizes  the run's prompts generated at batch sizes 1, 7 and 16 (benchmarks/batch_sizes.py)
# The last lines are one summary line per check; the exit status is 1 if any check failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

if [ "${1:-}" = "--install" ]; then
  # README.md, "Install", GPU; the test extras as in the README's test command
  pip install torch --index-url https://download.pytorch.org/whl/cu124 && pip install -e '.[models,test]' || exit 2
fi
if ! python -c 'import sys, torch, relneurons; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu_check: this Python has no CUDA torch or no relneurons (bash benchmarks/gpu_check.sh --install)" >&2
  exit 2
fi
data=${RELNEURONS_DATA:-../shared/lre}
if [ ! -f "$data/factual/company_hq.json" ]; then
  echo "gpu_check: no LRE data in $data; set RELNEURONS_DATA to the LRE data folder" >&2
  exit 2
fi
export RELNEURONS_DATA
RELNEURONS_DATA=$(cd "$data" && pwd)
out=${GPU_CHECK_OUT:-$(mktemp -d /tmp/relneurons-gpu-check.XXXXXX)}
mkdir -p "$out"
run="$out/quick-cuda"
echo "gpu_check: $(python -c 'import torch; print(torch.cuda.get_device_name(0), "torch", torch.__version__)')," \
  "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), output in $out"

summary=()
failed=0
check() { # NAME COMMAND...: run it, log it, keep its last output line for the summary
  local name=$1 start=$SECONDS status=ok rc=0
  shift
  echo "== $name: $*"
  "$@" >"$out/$name.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    status="FAILED (exit $rc)"
    failed=1
  fi
  tail -n 30 "$out/$name.log"
  summary+=("$name: $status in $((SECONDS - start)) s: $(tail -n 1 "$out/$name.log")")
}

check cuda-tests python -m pytest -q -p no:cacheprovider -rs -k cuda \
  tests/expertise/test_average_precision.py tests/model/test_device_map.py tests/integration/test_torchrun_cuda.py
check quick-cuda relneurons run --preset quick --quiet --data "$RELNEURONS_DATA" --out "$run" \
  --set model.device=cuda --set model.dtype=float32 --set 'experiments.run=["intra"]'
if [ -f "$run/results/intra/intra.csv" ]; then
  check intra-vs-cpu python benchmarks/compare_tables.py benchmarks/reference/quick-cpu "$run"
  check generation python benchmarks/bench_generation.py --device cuda --identify "$run/identify" --no-profile \
    --data "$RELNEURONS_DATA"
  check batch-sizes python benchmarks/batch_sizes.py "$run" --device cuda --sizes 1 7 16
else
  summary+=("intra-vs-cpu, generation, batch-sizes: not run (the quick study wrote no intra table)")
  failed=1
fi

echo "== summary (logs in $out)"
printf '%s\n' "${summary[@]}"
exit "$failed"
