#!/usr/bin/env bash
# Everything that needs a GPU, in one command (a few minutes on one GPU; it must stay under ten):
#   benchmarks/gpu_check.sh                     the `gpu` tests on cuda, then GPU rows of the speed benchmarks
#   benchmarks/gpu_check.sh --device cpu --quick --results DIR     a dry run of the same steps on the CPU
# Results go to benchmarks/results/gpu_check_<device>_<host>/ (or --results DIR): tests.txt (the test report,
# machine first), mpe_speed.md and pathfinding_speed.md (each names the machine). The benchmarks run even if a
# test fails; the exit status is non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
device=cuda quick=0 results=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --results) results="$2"; shift 2 ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (expected --device DEVICE, --quick, --results DIR)" >&2; exit 2 ;;
  esac
done
results=${results:-benchmarks/results/gpu_check_${device}_$(hostname -s)}
mkdir -p "$results"
export MARL_CHECK_DEVICE="$device" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" SDL_VIDEODRIVER=dummy
if [ "$quick" = 1 ]; then  # one environment and one algorithm of each kind, the smallest benchmark rows
  tests=(-k "toy_walk or ippo")
  mpe_sizes=(1 16) pathfinding_sizes=(1 4) seconds=0.1 agents=16
else
  tests=() mpe_sizes=(1 1024 30000) pathfinding_sizes=(1 64 1024) seconds=1 agents=64
fi
python - > "$results/tests.txt" <<'PY'
import os, platform, torch
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
print(f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {gpu}, torch {torch.__version__}")
PY
python -m pytest -m gpu tests/gpu -q -p no:cacheprovider -rs "${tests[@]}" 2>&1 | tee -a "$results/tests.txt"
status=${PIPESTATUS[0]}
peers=(ours)
python -c "import vmas" 2>/dev/null && peers+=(vmas)
python benchmarks/mpe_speed.py --devices "$device" --batch-sizes "${mpe_sizes[@]}" --peers "${peers[@]}" \
  --seconds "$seconds" --out "$results/mpe_speed.md" || status=1
python benchmarks/pathfinding_speed.py --device "$device" --no-pogema --agents "$agents" \
  --batch-sizes "${pathfinding_sizes[@]}" --seconds "$seconds" --out "$results/pathfinding_speed.md" || status=1
echo "gpu_check.sh: results in $results (exit status $status)"
exit "$status"
