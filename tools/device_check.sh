#!/usr/bin/env bash
# The one command to run on a machine with an NVIDIA GPU (target: H100, 16 cores, CUDA toolkit,
# PyTorch, CMake, ninja; no internet). Builds Release for that GPU, runs every test (GPU tests
# active), reruns the GPU tests under compute-sanitizer memcheck and initcheck with allocator
# caching bypassed and the tests of kernels that use shared memory under racecheck, runs the
# benchmarks, and writes report.md plus raw logs into OUT_DIR. Prints a summary table last.
#   tools/device_check.sh OUT_DIR
# Environment: CUDA_ARCHS (default 90), JOBS (default nproc), DEVICE_BUILD_DIR (default
# build-device), DEPS_ROOT (default .deps/root: Debian
# packages unpacked by tools/fetch_device_deps.sh, for machines without GoogleTest/Benchmark).
#
# Time: a device session has 15 minutes in all and one call at most 10, so the check runs its
# phases in priority order within BUDGET_S seconds (default 540): a phase starts only when its
# estimated time still fits, its time limits are cut to what remains, and the report lists every
# phase that was skipped for time. PHASES (comma-separated; default all) picks phases:
#   build python tests memcheck trainbench lenet racecheck alexnet kernelbench pipeline
# The build stays in build-device, so a second call on the same warm machine skips most of it:
#   1st call: tools/device_check.sh $OUT/dc          (build, tests, memcheck, training benchmarks)
#   2nd call: PHASES=build,racecheck,alexnet,kernelbench,pipeline,python tools/device_check.sh ...
# Only 8 files come back from a device call: copy report.md out and tar the rest of OUT_DIR.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: device_check.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
build=${DEVICE_BUILD_DIR:-$root/build-device}
jobs=${JOBS:-$(nproc)}
deps=${DEPS_ROOT:-$root/.deps/root}
start=$(date +%s)
export PATH=/usr/local/cuda/bin:$PATH

budget=${BUDGET_S:-540}
phases=",${PHASES:-all},"
skipped=()
log() { echo "[device_check $(($(date +%s) - start))s] $*"; }
remaining() { echo $((budget - ($(date +%s) - start))); }
# want PHASE ESTIMATE_S: whether PHASE is selected and its estimated time still fits the budget.
want() {
  [[ $phases == *,all,* || $phases == *",$1,"* ]] || return 1
  if (($(remaining) < $2)); then
    skipped+=("$1 (needs ~$2 s, $(remaining) s left)")
    log "skip $1: budget"
    return 1
  fi
}
# cap SECONDS: SECONDS, or what is left of the budget (at least 10 s) when that is less.
cap() {
  local left=$(($(remaining) - 5))
  ((left < 10)) && left=10
  echo $(($1 < left ? $1 : left))
}

prefix_args=()
if [[ -d $deps/usr ]]; then
  prefix_args=(-DCMAKE_PREFIX_PATH="$deps/usr" -DGTest_DIR="$deps/usr/lib/x86_64-linux-gnu/cmake/GTest"
               -Dbenchmark_DIR="$deps/usr/lib/x86_64-linux-gnu/cmake/benchmark"
               -Dnlohmann_json_DIR="$deps/usr/share/cmake/nlohmann_json")
  export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# ---- 1. configure and build -----------------------------------------------------------------
build_rc=1
if want build 0; then
log "configure + build (archs ${CUDA_ARCHS:-90}, -j$jobs)"
{
  nvidia-smi || true
  # (CUDANET_PYTHON off here: step 1b turns it on, so a machine without nanobind still builds.)
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCUDANET_CUDA=ON -DCUDANET_PYTHON=OFF \
    -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" "${prefix_args[@]}" &&
    timeout "$(cap 360)" cmake --build "$build" -j "$jobs"
} >"$out/build.log" 2>&1
build_rc=$?
log "build exit $build_rc"
elif [[ -f $build/CMakeCache.txt ]]; then
  build_rc=0
  log "build phase not selected: using the existing $build"
fi

# ---- 2. all tests ---------------------------------------------------------------------------
tests_line="not run"
if ((build_rc == 0)) && want tests 60; then
  log "ctest"
  (cd "$build" && timeout "$(cap 240)" ctest -j "$jobs" --timeout 120 --output-on-failure \
    --output-junit "$out/ctest.xml") >"$out/ctest.log" 2>&1
  python3 "$root/tools/ctest_summary.py" "$out/ctest.xml" >"$out/ctest_summary.txt" 2>&1
  tests_line=$(tail -n 1 "$out/ctest_summary.txt")
fi
log "tests: $tests_line"

# ---- 3. GPU tests under compute-sanitizer, caching bypassed ------------------------------------
# Tests named *FillTheDevice* take the whole GPU: never next to other programs (ctest runs them
# serially), so the parallel sanitizer runs leave them out.
no_fill='-*FillTheDevice*'
# racecheck is slow: the tests of the kernels that use shared memory or CUB block reductions
# (batch norm, convolution's tiles, SGEMM, linear, MSE, reductions, softmax), a few cases each.
race_filter='BatchNormGpu.*:Conv2dGpuDeterminism.*'
race_filter+=':*Conv2dGpu.BothAlgorithmsMatchTheCpuReference/channels3_spatial13'
race_filter+=':*Conv2dGpu.BothAlgorithmsMatchTheCpuReference/stride2_asymmetric_groups2'
race_filter+=':*Conv2dGpu.BothAlgorithmsMatchTheCpuReference/large_tile_*'
race_filter+=':*GemmGpu.OddSizesAllTransposesMatchCpuReference/float32'
race_filter+=':*LinearGpu.ForwardBackwardMatchCpu/float32:LinearGpuBias.*:MseGpu.*:ReduceGpu.*'
race_filter+=':SoftmaxGpu.*'
# errors TOOL NAME: the error count in sanitizer_TOOL_NAME.log, or "" when it has no summary.
errors() {
  grep -Eo 'ERROR SUMMARY: [0-9]+' "$out/sanitizer_$1_$2.log" 2>/dev/null | tail -n 1 |
    grep -Eo '[0-9]+$'
}
declare -A tool_errors=([memcheck]=0 [racecheck]=0 [initcheck]=0)
declare -A tool_notes=([memcheck]="" [racecheck]="" [initcheck]="")
sanitizer_errors=0
declare -A tool_ran=()
if ((build_rc == 0)) && command -v compute-sanitizer >/dev/null; then
  names=()
  for exe in "$build"/tests/cudanet_*_gpu_tests; do
    [[ -x $exe ]] && names+=("$(basename "$exe")")
  done
  # memcheck, then racecheck and initcheck together: every program in its own process, all at
  # once, so each round takes ~150 s at most. Each round is a phase of its own (memcheck,
  # racecheck), decided when it would start.
  for round in memcheck "racecheck initcheck"; do
    want "${round%% *}" 120 || continue
    limit=$(cap 150)
    for tool in $round; do
      tool_ran[$tool]=1
      for name in "${names[@]}"; do
        filter=$no_fill
        if [[ $tool == racecheck ]]; then
          [[ $name == cudanet_kernels_gpu_tests ]] || continue
          filter=$race_filter
        fi
        extra=()
        [[ $tool == memcheck ]] && extra=(--leak-check full)
        log "$tool $name"
        CUDANET_NO_CACHING=1 timeout "$limit" compute-sanitizer --tool "$tool" "${extra[@]}" \
          --error-exitcode 3 "$build/tests/$name" --gtest_filter="$filter" \
          >"$out/sanitizer_${tool}_$name.log" 2>&1 &
      done
    done
    wait
  done
fi
for tool in memcheck racecheck initcheck; do
  if [[ -z ${tool_ran[$tool]:-} ]]; then
    tool_notes[$tool]=" (not run)"
    continue
  fi
  for name in "${names[@]}"; do
    [[ -f $out/sanitizer_${tool}_$name.log ]] || continue
    n=$(errors "$tool" "$name")
    tool_errors[$tool]=$((tool_errors[$tool] + ${n:-0}))
    [[ -n $n ]] || tool_notes[$tool]+=" $name:no-summary(timeout?)"
  done
  sanitizer_errors=$((sanitizer_errors + tool_errors[$tool]))
  log "$tool errors: ${tool_errors[$tool]}${tool_notes[$tool]}"
done

# ---- 3b. the Python package on the GPU ---------------------------------------------------------
# The same build with the bindings on (only the extension is new), imported from the build tree
# (no pip: the machine may lack scikit-build-core), then the whole pytest suite with the GPU
# tests active against this machine's PyTorch.
python_line="not run"
if ((build_rc == 0)) && want python 150; then
  if ! python3 -c "import nanobind, pytest, numpy, os, sysconfig
assert os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h'))" >/dev/null 2>&1
  then
    python_line="skipped: python3 lacks nanobind, pytest, numpy or its headers"
  else
    log "Python package + pytest"
    {
      cmake -S "$root" -B "$build" -DCUDANET_PYTHON=ON -DPython_EXECUTABLE="$(command -v python3)" &&
        timeout "$(cap 240)" cmake --build "$build" -j "$jobs" --target cudanet_python
    } >"$out/python_build.log" 2>&1
    if (($? != 0)); then
      python_line="build FAILED, see python_build.log"
    else
      (cd "$root/python/tests" && PYTHONPATH="$build/python" timeout "$(cap 300)" python3 -m pytest -q -rs \
        -p no:cacheprovider --junitxml="$out/pytest.xml" .) >"$out/pytest.log" 2>&1
      python_line=$(grep -E '(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' \
                    "$out/pytest.log" | tail -n 1 | tr -d '=' | sed 's/^ *//')
      python_line=${python_line:-"no summary, see pytest.log"}
    fi
  fi
fi
log "python: $python_line"

# ---- 4. benchmarks ----------------------------------------------------------------------------
# LeNet-5 training throughput on the GPU: cudanet (native kernels) next to PyTorch + cuDNN, same run.
lenet_line="not run"
lenet_wanted=0
((build_rc == 0)) && want lenet 60 && lenet_wanted=1
[[ -z ${FASHION_MNIST:-} && -d $root/.deps/fashion-mnist ]] && FASHION_MNIST=$root/.deps/fashion-mnist
if ((lenet_wanted)) && [[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || -n ${FASHION_MNIST:-} ]]; then
  data=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
  log "LeNet-5 training speed"
  timeout "$(cap 120)" "$build/tools/cudanet" train --model lenet5 --data "fashion-mnist:$data" --epochs 2 \
    --train-limit 16384 --validation-size 1000 --device cuda --metrics-out "$out/lenet5_gpu.json" \
    >"$out/lenet5_gpu.log" 2>&1
  timeout "$(cap 120)" python3 "$root/bench/train/torch_lenet.py" --data "$data" --device cuda \
    --samples 16384 >"$out/lenet5_torch_gpu.json" 2>"$out/lenet5_torch_gpu.log"
  lenet_line=$(python3 - "$out" <<'PY' 2>&1
import json, sys
d = sys.argv[1]
try:
    ours = json.load(open(f"{d}/lenet5_gpu.json"))["train_images_per_sec"]
    theirs = json.loads(open(f"{d}/lenet5_torch_gpu.json").read())["train_images_per_sec"]
    print(f"cudanet {ours:.0f} img/s, PyTorch+cuDNN {theirs:.0f} img/s, ratio {ours / theirs:.2f}")
except Exception as e:  # report what is missing instead of failing the check
    print(f"incomplete: {e}")
PY
)
elif ((lenet_wanted)); then
  lenet_line="skipped: no Fashion-MNIST (tools/fetch_device_deps.sh copies it to .deps/)"
fi
# Training steps of AlexNet, AlexNet-OWT and LeNet-5: cudanet (native and cuDNN backends) next to
# PyTorch + cuDNN on this GPU, same run (bench/train/run_alexnet_bench.py; about a minute).
train_bench_md="not run"
if ((build_rc == 0)) && want trainbench 90; then
  log "training-step benchmark vs PyTorch"
  timeout "$(cap 240)" python3 "$root/bench/train/run_alexnet_bench.py" --build "$build" \
    --out "$out/train_bench" >"$out/train_bench.log" 2>&1
  train_bench_md=$(cat "$out/train_bench/train_bench.md" 2>/dev/null ||
                   echo "failed: see train_bench.log")
fi
# AlexNet through the JPEG pipeline: accuracy on a synthetic 10-class set, images/s eager and with
# CUDA graphs next to PyTorch (torchvision ImageFolder + DataLoader), GPU busy, bottleneck.
alexnet_line="not run"
if ((build_rc == 0)) && want alexnet 240; then
  log "AlexNet end to end (JPEG pipeline)"
  BUILD_DIR="$build" timeout "$(cap 600)" "$root/bench/train/alexnet_imagefolder.sh" \
    "$out/alexnet" >"$out/alexnet.log" 2>&1
  alexnet_line=$(cat "$out/alexnet/alexnet_line.txt" 2>/dev/null || echo "failed, see alexnet.log")
fi
if ((build_rc == 0)) && want pipeline 60; then
  log "JPEG pipeline vs Pillow"
  BUILD_DIR="$build" timeout "$(cap 120)" "$root/bench/data/pipeline_vs_pillow.sh" "1,$jobs" 3 \
    >"$out/pipeline_vs_pillow.md" 2>&1 || echo "(pipeline_vs_pillow.sh exited with $?)" \
    >>"$out/pipeline_vs_pillow.md"
fi
# Kernel benchmarks: Google Benchmark programs (CPU side) and the GPU benchmark programs.
gpu_bench_md=""
if ((build_rc == 0)) && want kernelbench 120; then
  for exe in "$build"/bench/cudanet_bench_*; do
    [[ -x $exe ]] || continue
    name=$(basename "$exe")
    log "benchmark $name"
    timeout "$(cap 120)" "$exe" --benchmark_min_time=0.2 --benchmark_format=json \
      --benchmark_out="$out/$name.json" --benchmark_out_format=json >"$out/$name.log" 2>&1
  done
  # GPU benchmark programs (CUDA events; each prints a Markdown table and writes JSON).
  for exe in "$build"/bench/kernels/cudanet_gpu_bench_*; do
    [[ -x $exe ]] || continue
    name=$(basename "$exe")
    log "gpu benchmark $name"
    timeout "$(cap 150)" "$exe" --json "$out/$name.json" >"$out/$name.md" 2>&1 ||
      echo "($name exited with status $?)" >>"$out/$name.md"
    gpu_bench_md+=$'\n'"### $name"$'\n\n'"$(cat "$out/$name.md")"$'\n'
  done
fi
bench_lines=$(python3 "$root/tools/bench_summary.py" "$out" 2>&1)

# ---- 5. report --------------------------------------------------------------------------------
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
      head -n 1)
elapsed=$(($(date +%s) - start))
{
  echo "# cudanet device check"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- GPU: ${gpu:-none found}"
  echo "- CUDA: $(nvcc --version 2>/dev/null | tail -n 2 | head -n 1)"
  echo "- elapsed: ${elapsed}s of a ${budget}s budget; phases: ${PHASES:-all}"
  echo "- skipped for time: ${skipped[*]:-none}"
  echo
  echo "| check | result |"
  echo "|---|---|"
  echo "| GPU | ${gpu:-none} |"
  echo "| build | $([[ $build_rc == 0 ]] && echo ok || echo "FAILED ($build_rc), see build.log") |"
  echo "| Python tests (pytest, GPU tests active) | $python_line |"
  echo "| tests | $tests_line |"
  echo "| memcheck errors (GPU tests, caching bypassed) | ${tool_errors[memcheck]}${tool_notes[memcheck]} |"
  echo "| racecheck errors (shared-memory kernel tests) | ${tool_errors[racecheck]}${tool_notes[racecheck]} |"
  echo "| initcheck errors (GPU tests, caching bypassed) | ${tool_errors[initcheck]}${tool_notes[initcheck]} |"
  echo "| LeNet-5 training, batch 64 (GPU) | $lenet_line |"
  echo "| AlexNet, JPEG ImageFolder (GPU) | $alexnet_line |"
  echo "$bench_lines"
  echo
  echo "## Training step vs PyTorch"
  echo
  echo "$train_bench_md"
  echo
  cat "$out/alexnet/alexnet.md" 2>/dev/null
  echo
  echo "## JPEG pipeline vs Pillow"
  echo
  cat "$out/pipeline_vs_pillow.md" 2>/dev/null
  echo
  echo "## GPU benchmarks"
  echo "${gpu_bench_md:-none built}"
  echo
  echo "## Skipped and failed tests"
  echo
  echo '```'
  cat "$out/ctest_summary.txt" 2>/dev/null
  echo '```'
} >"$out/report.md"
echo
sed -n '/^| check/,/^$/p' "$out/report.md"
# Success needs a GPU: without one nothing of the GPU side was checked.
[[ -n $gpu && $build_rc == 0 && ($tests_line == "not run" || $tests_line == *" 0 failed"*) &&
   $sanitizer_errors == 0 &&
   $python_line != *failed* && $python_line != *FAILED* && $python_line != *error* ]]
