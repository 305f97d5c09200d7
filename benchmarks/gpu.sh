#!/usr/bin/env bash
# The checks and figures that need a CUDA GPU, on a machine whose python3 has torch with CUDA
# (no network needed: crossloss is installed from this checkout, without dependencies).
#
#   bash benchmarks/gpu.sh [tests] [report] [speed] [memory]     (default: all four)
#
# tests:  tests/test_cuda.py and the "torch:cuda" conformance groups, then the rest of the suite
#         (in 8 processes where pytest-xdist is installed)
# report: the parity report, with its torch:cuda column (gradients and compile on CUDA too)
# speed:  benchmarks/speed.py --device cuda, forward and forward+backward
# memory: benchmarks/memory.py --backends torch:cuda
# Logs and JSON go to $OUT (or benchmarks/results/gpu).
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/results/gpu}
mkdir -p "$out" && out=$(cd "$out" && pwd)
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
python=${PYTHON:-python3}
stages=${*:-tests report speed memory}
parallel=$($python -c "import xdist" 2>/dev/null && echo "-n 8")  # pytest-xdist where installed

$python -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$out/install.log" 2>&1 \
    || { cat "$out/install.log"; exit 1; }
$python -c "import torch, crossloss; print('torch', torch.__version__, torch.cuda.get_device_name());
print('backends', crossloss.available_backends())" | tee "$out/environment.txt" || exit 1
status=0
for stage in $stages; do
    echo "== $stage"
    case $stage in
    tests)
        $python -m pytest -q -o addopts="" -p no:cacheprovider $parallel tests/test_cuda.py tests/test_conformance.py \
            -k "cuda" -rfE 2>&1 | tee "$out/tests_cuda.log" | tail -40 || status=1
        $python -m pytest -q -o addopts="" -p no:cacheprovider $parallel tests --ignore=tests/test_cuda.py -rfE 2>&1 \
            | tee "$out/tests_all.log" | tail -25 || status=1 ;;
    report)
        $python -m crossloss.conformance --backends numpy,torch --format text,json --output "$out" \
            >"$out/parity.txt" 2>"$out/parity.err" || status=1
        grep -E "cuda|fail|FAIL" "$out/parity.txt" | head -60 ;;
    speed)
        $python benchmarks/speed.py --backends torch --device cuda --out "$out/speed_cuda.json" || status=1
        $python benchmarks/speed.py --backends torch --device cuda --backward --sizes 1e5,1e7 \
            --out "$out/speed_cuda_backward.json" || status=1 ;;
    memory)
        (cd benchmarks && $python memory.py --backends torch:cuda --out "$out/memory_cuda.json") || status=1 ;;
    *)
        echo "unknown stage $stage (tests, report, speed, memory)"; exit 2 ;;
    esac
done
exit $status
