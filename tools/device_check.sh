#!/usr/bin/env bash
# The one command to run on a machine with an NVIDIA GPU (target: H100, 16 cores, CUDA toolkit,
# PyTorch, CMake, ninja; no internet). Builds Release for that GPU, runs every test (GPU tests
# active), reruns the GPU tests under compute-sanitizer memcheck and initcheck with allocator
# caching bypassed and the tests of kernels that use shared memory under racecheck, runs the
# benchmarks, and writes report.md plus raw logs into OUT_DIR. Prints a summary table last.
#   tools/device_check.sh OUT_DIR
# Environment: CUDA_ARCHS (default 90), JOBS (default nproc), DEVICE_BUILD_DIR (default
# build-device), DEPS_ROOT (default .deps/root: Debian packages unpacked by
# tools/fetch_device_deps.sh, for machines without GoogleTest/Benchmark/zlib/TurboJPEG headers),
# DEVICE_CMAKE_ARGS (more -D definitions for the configure step, split on spaces, e.g.
# "-DCUDNN_ROOT=/opt/cudnn"), BRING_BACK (a directory, e.g. the device tool's $OUT: report.md and logs.tgz are refreshed there
# after every phase and when the script ends or is stopped, so a run cut short still brings back
# what it did; only 8 files come back from a device call, hence one tarball).
#
# report.md is rewritten after every phase and by an EXIT/INT/TERM trap, and no phase's failure
# stops the ones after it: the script has no `set -e`, and every step has a time limit.
#
# Time: a device session has 15 minutes in all and one call at most 10, so the check runs its
# phases in priority order within BUDGET_S seconds (default 540): a phase starts only when its
# estimated time still fits, its time limits are cut to what remains, and the report lists every
# phase that was skipped for time. PHASES (comma-separated; default all) picks phases; in order:
#   build tests memcheck trainbench lenet python racecheck alexnet pipeline kernelbench ncu
# (racecheck also runs initcheck.) The build stays in build-device, so a second call on the same
# warm machine (within its 30 s idle release) skips most of it:
#   1st call: BRING_BACK=$OUT tools/device_check.sh /tmp/dc
#   2nd call: BRING_BACK=$OUT PHASES=build,python,racecheck,alexnet,pipeline,kernelbench,ncu \
#             tools/device_check.sh /tmp/dc2
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: device_check.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
build=$(realpath -m "${DEVICE_BUILD_DIR:-$root/build-device}")  # absolute: phases change directory
jobs=${JOBS:-$(nproc)}
deps=$(realpath -m "${DEPS_ROOT:-$root/.deps/root}")
bring_back=${BRING_BACK:+$(realpath -m "$BRING_BACK")}
start=$(date +%s)
export PATH=/usr/local/cuda/bin:$PATH
export PYTHONUNBUFFERED=1
exec 3>&1  # the script's own stdout, for the trap (it may run inside a step's redirection)

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
# timed_out RC: whether a `timeout` ended the step (124; 137 after KILL).
timed_out() { [[ $1 == 124 || $1 == 137 ]]; }
# step CMD...: runs CMD in the background and waits for it, so that a signal to this script runs
# its trap at once (bash defers traps while a foreground child runs, and `timeout` puts its child
# in a process group of its own, out of reach of a signal to ours); the trap stops CMD.
child=0
step() {
  "$@" &
  child=$!
  wait "$child"
  local rc=$?
  child=0
  return $rc
}

prefix_args=()
read -r -a extra_cmake_args <<<"${DEVICE_CMAKE_ARGS:-}"
if [[ -d $deps/usr ]]; then
  prefix_args=(-DCMAKE_PREFIX_PATH="$deps/usr" -DGTest_DIR="$deps/usr/lib/x86_64-linux-gnu/cmake/GTest"
               -Dbenchmark_DIR="$deps/usr/lib/x86_64-linux-gnu/cmake/benchmark"
               -Dnlohmann_json_DIR="$deps/usr/share/cmake/nlohmann_json")
  # (Not .deps/root/lib: its zlib 1.2.13 would shadow the machine's own libz.so.1 in every
  # process, PyTorch's too; the build links libz.so's soname and finds the machine's at run time.)
  export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# ---- 0. the machine (cheap; explains a missing GPU) ---------------------------------------------
gpu=$(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
      2>/dev/null | head -n 1)
gpu_note=""
if [[ -z $gpu ]]; then
  if command -v nvidia-smi >/dev/null; then
    gpu_note="nvidia-smi is there but lists no GPU ($(timeout 30 nvidia-smi 2>&1 | head -n 1))"
  else
    gpu_note="nvidia-smi is not on the PATH"
  fi
  # A GPU that nvidia-smi does not show (not on the PATH, say) may still be usable: ask PyTorch.
  gpu=$(timeout 60 python3 -c "import torch
print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" 2>/dev/null | tail -n 1)
  if [[ -n $gpu ]]; then
    gpu_note+="; PyTorch sees the GPU, so the checks run"
  else
    gpu_note+="; PyTorch sees none either: no GPU visible, so every GPU test skips (with its"
    gpu_note+=" reason) and the GPU benchmarks fail"
  fi
fi
{
  echo "## machine"
  echo "os: $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}"), kernel $(uname -r), $(nproc) cores"
  echo "nvidia-smi: ${gpu:-none} ${gpu_note}"
  echo "nvcc: $(command -v nvcc || echo missing) $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*')"
  echo "cmake: $(cmake --version 2>/dev/null | head -n 1), ninja: $(ninja --version 2>/dev/null || echo missing)"
  echo "c++: $(c++ --version 2>/dev/null | head -n 1)"
  echo "compute-sanitizer: $(command -v compute-sanitizer || echo missing)"
  echo "python3: $(command -v python3) $(python3 --version 2>&1)"
  timeout 60 python3 - <<'PY' 2>&1
try:
    import torch
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
          f"cuda available: {torch.cuda.is_available()}"
          + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
except Exception as e:  # noqa: BLE001 - report, never fail
    print(f"torch: not importable ({e})")
try:
    import nvidia.cudnn as m
    print(f"cuDNN wheel: {list(m.__path__)[0]}")
except Exception:  # noqa: BLE001
    print("cuDNN wheel: none")
PY
  echo ".deps: $([[ -d $deps/usr ]] && echo "$deps" || echo "none (system packages only)")"
  echo "disk: $(df -h "$root" 2>/dev/null | tail -n 1)"
} >"$out/machine.txt" 2>&1
machine_md=$(sed 's/^/    /' "$out/machine.txt")

# Results (filled in by the phases; the report shows "not run" for the rest).
build_rc=1
build_line="not run"
tests_line="not run"
python_line="not run"
lenet_line="not run"
train_bench_md="not run"
alexnet_line="not run"
gpu_bench_md=""
ncu_md="not run"
bench_lines=""
sanitizer_errors=0
declare -A tool_errors=([memcheck]=- [racecheck]=- [initcheck]=-)
declare -A tool_notes=([memcheck]=" (not run)" [racecheck]=" (not run)" [initcheck]=" (not run)")
names=()

# ---- the report (after every phase, and on exit) -------------------------------------------------
write_report() {
  local elapsed=$(($(date +%s) - start)) cudnn_line
  cudnn_line=$(grep -E '^(CUDANET_CUDNN_LIBRARY|CUDANET_CUDNN_INCLUDE_DIR):' "$build/CMakeCache.txt" \
               2>/dev/null | sed 's/:[A-Z]*=/ = /' | tr '\n' ';')
  {
    echo "# cudanet device check"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- GPU: ${gpu:-none found}${gpu_note:+ — $gpu_note}"
    echo "- CUDA: $(nvcc --version 2>/dev/null | tail -n 2 | head -n 1)"
    echo "- cuDNN (CMake): ${cudnn_line:-unknown}"
    echo "- elapsed: ${elapsed}s of a ${budget}s budget; phases: ${PHASES:-all}${1:+; $1}"
    echo "- skipped for time: ${skipped[*]:-none}"
    echo
    echo "$machine_md"
    echo
    echo "| check | result |"
    echo "|---|---|"
    echo "| GPU | ${gpu:-none} |"
    echo "| build | $build_line |"
    echo "| tests | $tests_line |"
    echo "| memcheck errors (GPU tests, caching bypassed) | ${tool_errors[memcheck]}${tool_notes[memcheck]} |"
    echo "| racecheck errors (shared-memory kernel tests) | ${tool_errors[racecheck]}${tool_notes[racecheck]} |"
    echo "| initcheck errors (GPU tests, caching bypassed) | ${tool_errors[initcheck]}${tool_notes[initcheck]} |"
    echo "| Python tests (pytest, GPU tests active) | $python_line |"
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
    echo "${gpu_bench_md:-none run}"
    echo
    echo "## Nsight Compute: the native kernels of one AlexNet training step"
    echo
    echo "$ncu_md"
    echo
    if [[ -f $out/kernel_resources.md ]]; then
      echo "<details><summary>Kernel resources (ptxas)</summary>"
      echo
      sed 1d "$out/kernel_resources.md"
      echo "</details>"
      echo
    fi
    echo "## Skipped and failed tests"
    echo
    echo '```'
    cat "$out/ctest_summary.txt" 2>/dev/null
    echo '```'
    if [[ $build_rc != 0 && -f $out/build.log ]]; then
      echo
      echo "## Build log (last 40 lines)"
      echo
      echo '```'
      tail -n 40 "$out/build.log"
      echo '```'
    fi
  } >"$out/report.md"
  if [[ -n $bring_back ]]; then
    mkdir -p "$bring_back"
    cp "$out/report.md" "$bring_back/report.md"
    # The logs, each file under 20 MB (a runaway sanitizer log stays behind), in one tarball.
    (cd "$(dirname "$out")" &&
      find "$(basename "$out")" -type f -size -20M -print0 |
      tar czf "$bring_back/logs.tgz.tmp" --null -T - 2>/dev/null &&
      mv "$bring_back/logs.tgz.tmp" "$bring_back/logs.tgz")
  fi
}
finished=0
on_exit() {
  ((finished)) && return
  finished=1
  write_report "stopped early (signal or error) after $(($(date +%s) - start)) s"
}
trap on_exit EXIT
on_signal() {
  log "stopped by a signal" >&3
  ((child)) && kill -TERM "$child" 2>/dev/null  # timeout passes it on to its command
  jobs -p | xargs -r kill -TERM 2>/dev/null      # the sanitizer runs
  exit 143
}
trap on_signal INT TERM
write_report "starting"

# ---- 1. configure and build -----------------------------------------------------------------
if want build 0; then
  log "configure + build (archs ${CUDA_ARCHS:-90}, -j$jobs)"
  {
    cat "$out/machine.txt"
    # (CUDANET_PYTHON off here: the python phase turns it on, so a machine without nanobind
    # still builds.)
    step timeout "$(cap 120)" cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCUDANET_CUDA=ON -DCUDANET_PYTHON=OFF -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" \
      "${prefix_args[@]}" "${extra_cmake_args[@]}" &&
      step timeout "$(cap 360)" cmake --build "$build" -j "$jobs"
  } >"$out/build.log" 2>&1
  build_rc=$?
  if ((build_rc == 0)); then
    build_line="ok ($(grep -o 'cudanet [0-9.]*: CUDA=.*' "$out/build.log" | tail -n 1))"
  elif timed_out $build_rc; then
    build_line="TIMED OUT, see build.log"
  else
    build_line="FAILED ($build_rc), see build.log"
  fi
  log "build: $build_line"
elif [[ -f $build/CMakeCache.txt ]]; then
  build_rc=0
  build_line="not selected: using the existing $build"
  log "build phase not selected: using the existing $build"
fi
write_report

# ---- 2. all tests ---------------------------------------------------------------------------
if ((build_rc == 0)) && want tests 60; then
  log "ctest"
  rm -f "$out/ctest.xml"
  cd "$build" || exit 1
  step timeout "$(cap 240)" ctest -j "$jobs" --timeout 120 --output-on-failure \
    --output-junit "$out/ctest.xml" >"$out/ctest.log" 2>&1
  rc=$?
  cd "$root" || exit 1
  if [[ -s $out/ctest.xml ]]; then
    python3 "$root/tools/ctest_summary.py" "$out/ctest.xml" >"$out/ctest_summary.txt" 2>&1
    tests_line=$(tail -n 1 "$out/ctest_summary.txt")
  else
    tests_line="no JUnit report (ctest exit $rc$(timed_out $rc && echo ', TIMED OUT')): $(grep -c ' Passed ' "$out/ctest.log") passed, $(grep -cE '\*\*\*(Failed|Exception|Timeout)' "$out/ctest.log") failed so far, see ctest.log"
  fi
  log "tests: $tests_line"
  write_report
fi

# ---- 3. GPU tests under compute-sanitizer, caching bypassed ------------------------------------
# Tests named *FillTheDevice* take the whole GPU and tests named *FreeDeviceMemory* read how much
# of it is free: never next to other programs (ctest runs them serially), so the parallel
# sanitizer runs leave them out.
no_fill='-*FillTheDevice*:*FreeDeviceMemory*'
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
for exe in "$build"/tests/cudanet_*_gpu_tests; do
  [[ -x $exe ]] && names+=("$(basename "$exe")")
done
# sanitize "TOOLS...": every program under every tool in its own process, all at once, so a round
# takes ~150 s at most; then the error counts.
sanitize() {
  local limit tool name filter extra n
  limit=$(cap 150)
  for tool in $1; do
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
  for tool in $1; do
    tool_errors[$tool]=0
    tool_notes[$tool]=""
    for name in "${names[@]}"; do
      [[ -f $out/sanitizer_${tool}_$name.log ]] || continue
      n=$(errors "$tool" "$name")
      tool_errors[$tool]=$((tool_errors[$tool] + ${n:-0}))
      [[ -n $n ]] || tool_notes[$tool]+=" $name:no-summary(timeout? see its log)"
    done
    sanitizer_errors=$((sanitizer_errors + tool_errors[$tool]))
    log "$tool errors: ${tool_errors[$tool]}${tool_notes[$tool]}"
  done
}
can_sanitize=0
if ((build_rc == 0)); then
  if ! command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck initcheck; do tool_notes[$tool]=" (compute-sanitizer not found)"; done
  elif ((${#names[@]} == 0)); then
    for tool in memcheck racecheck initcheck; do tool_notes[$tool]=" (no GPU test programs built)"; done
  elif [[ -z $gpu ]]; then
    for tool in memcheck racecheck initcheck; do tool_notes[$tool]=" (not run: no GPU)"; done
  else
    can_sanitize=1
  fi
fi
if ((can_sanitize)) && want memcheck 120; then
  sanitize memcheck
  write_report
fi

# ---- 4. training-step benchmark -------------------------------------------------------------
# Training steps of AlexNet, AlexNet-OWT and LeNet-5: cudanet (native and cuDNN backends) next to
# PyTorch + cuDNN on this GPU, same run (bench/train/run_alexnet_bench.py; about a minute).
if ((build_rc == 0)) && want trainbench 90; then
  log "training-step benchmark vs PyTorch"
  limit=$(cap 240)
  step timeout "$limit" python3 "$root/bench/train/run_alexnet_bench.py" --build "$build" \
    --out "$out/train_bench" --time-limit $((limit - 15)) >"$out/train_bench.log" 2>&1
  rc=$?
  train_bench_md=$(cat "$out/train_bench/train_bench.md" 2>/dev/null ||
                   echo "failed (exit $rc$(timed_out $rc && echo ', TIMED OUT')): see train_bench.log")
  write_report
fi

# ---- 5. LeNet-5 training throughput: cudanet (native kernels) next to PyTorch + cuDNN ---------
[[ -z ${FASHION_MNIST:-} && -d $root/.deps/fashion-mnist ]] && FASHION_MNIST=$root/.deps/fashion-mnist
if ((build_rc == 0)) && want lenet 60; then
  if [[ -f ${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}/train-images-idx3-ubyte.gz ]]; then
    data=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
    log "LeNet-5 training speed"
    step timeout "$(cap 120)" "$build/tools/cudanet" train --model lenet5 --data "fashion-mnist:$data" \
      --epochs 2 --train-limit 16384 --validation-size 1000 --device cuda \
      --metrics-out "$out/lenet5_gpu.json" >"$out/lenet5_gpu.log" 2>&1
    step timeout "$(cap 120)" python3 "$root/bench/train/torch_lenet.py" --data "$data" --device cuda \
      --samples 16384 >"$out/lenet5_torch_gpu.json" 2>"$out/lenet5_torch_gpu.log"
    lenet_line=$(timeout 60 python3 - "$out" <<'PY' 2>&1
import json, sys
d = sys.argv[1]
try:
    ours = json.load(open(f"{d}/lenet5_gpu.json"))["train_images_per_sec"]
    theirs = json.loads(open(f"{d}/lenet5_torch_gpu.json").read())["train_images_per_sec"]
    print(f"cudanet {ours:.0f} img/s, PyTorch+cuDNN {theirs:.0f} img/s, ratio {ours / theirs:.2f}")
except Exception as e:  # report what is missing instead of failing the check
    print(f"incomplete ({e}): see lenet5_gpu.log, lenet5_torch_gpu.log")
PY
)
  else
    lenet_line="skipped: no Fashion-MNIST (tools/fetch_device_deps.sh copies it to .deps/)"
  fi
  write_report
fi

# ---- 6. the Python package on the GPU ---------------------------------------------------------
# The same build with the bindings on (only the extension is new), imported from the build tree
# (no pip: the machine may lack scikit-build-core), then the whole pytest suite with the GPU
# tests active against this machine's PyTorch.
if ((build_rc == 0)) && want python 150; then
  if ! timeout 60 python3 -c "import nanobind, pytest, numpy, os, sysconfig
assert os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h'))" >/dev/null 2>&1
  then
    python_line="skipped: python3 lacks nanobind, pytest, numpy or its headers (Python.h)"
  else
    log "Python package + pytest"
    {
      step timeout "$(cap 60)" cmake -S "$root" -B "$build" -DCUDANET_PYTHON=ON \
        -DPython_EXECUTABLE="$(command -v python3)" &&
        step timeout "$(cap 240)" cmake --build "$build" -j "$jobs" --target cudanet_python
    } >"$out/python_build.log" 2>&1
    rc=$?
    if ((rc != 0)); then
      python_line="build FAILED ($rc$(timed_out $rc && echo ', TIMED OUT')), see python_build.log"
    else
      cd "$root/python/tests" || exit 1
      PYTHONPATH="$build/python" step timeout "$(cap 300)" python3 -m pytest -q -rs \
        -p no:cacheprovider --junitxml="$out/pytest.xml" . >"$out/pytest.log" 2>&1
      rc=$?
      cd "$root" || exit 1
      python_line=$(grep -E '(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' \
                    "$out/pytest.log" | tail -n 1 | tr -d '=' | sed 's/^ *//')
      python_line=${python_line:-"no summary (exit $rc$(timed_out $rc && echo ', TIMED OUT')), see pytest.log"}
    fi
  fi
  log "python: $python_line"
  write_report
fi

# ---- 7. racecheck + initcheck -----------------------------------------------------------------
if ((can_sanitize)) && want racecheck 120; then
  sanitize "racecheck initcheck"
  write_report
fi

# ---- 8. AlexNet through the JPEG pipeline -----------------------------------------------------
# Accuracy on a synthetic 10-class set, images/s eager and with CUDA graphs next to PyTorch
# (torchvision ImageFolder + DataLoader), GPU busy, bottleneck.
if ((build_rc == 0)) && want alexnet 240; then
  log "AlexNet end to end (JPEG pipeline)"
  limit=$(cap 600)
  BUILD_DIR="$build" TIME_LIMIT_S=$((limit - 10)) step timeout "$limit" \
    "$root/bench/train/alexnet_imagefolder.sh" "$out/alexnet" >"$out/alexnet.log" 2>&1
  rc=$?
  alexnet_line=$(cat "$out/alexnet/alexnet_line.txt" 2>/dev/null ||
                 echo "failed (exit $rc$(timed_out $rc && echo ', TIMED OUT')), see alexnet.log")
  write_report
fi

# ---- 9. JPEG pipeline vs Pillow ---------------------------------------------------------------
if ((build_rc == 0)) && want pipeline 60; then
  log "JPEG pipeline vs Pillow"
  BUILD_DIR="$build" step timeout "$(cap 120)" "$root/bench/data/pipeline_vs_pillow.sh" "1,$jobs" 3 \
    >"$out/pipeline_vs_pillow.md" 2>&1 || echo "(pipeline_vs_pillow.sh exited with $?)" \
    >>"$out/pipeline_vs_pillow.md"
  write_report
fi

# ---- 10. kernel benchmarks --------------------------------------------------------------------
# Google Benchmark programs (CPU side) and the GPU benchmark programs.
if ((build_rc == 0)) && want kernelbench 120; then
  for exe in "$build"/bench/cudanet_bench_*; do
    [[ -x $exe ]] || continue
    (($(remaining) > 20)) || { skipped+=("$(basename "$exe") (budget)"); continue; }
    name=$(basename "$exe")
    log "benchmark $name"
    step timeout "$(cap 120)" "$exe" --benchmark_min_time=0.2 --benchmark_format=json \
      --benchmark_out="$out/$name.json" --benchmark_out_format=json >"$out/$name.log" 2>&1
  done
  # GPU benchmark programs (CUDA events; each prints a Markdown table and writes JSON).
  for exe in "$build"/bench/kernels/cudanet_gpu_bench_*; do
    [[ -x $exe ]] || continue
    (($(remaining) > 20)) || { skipped+=("$(basename "$exe") (budget)"); continue; }
    name=$(basename "$exe")
    log "gpu benchmark $name"
    step timeout "$(cap 150)" "$exe" --json "$out/$name.json" >"$out/$name.md" 2>&1 ||
      echo "($name exited with status $?)" >>"$out/$name.md"
    gpu_bench_md+=$'\n'"### $name"$'\n\n'"$(cat "$out/$name.md")"$'\n'
  done
  bench_lines=$(timeout 60 python3 "$root/tools/bench_summary.py" "$out" 2>&1)
  # Registers, shared and local memory of every kernel, from ptxas (read next to Nsight Compute).
  timeout "$(cap 60)" python3 "$root/tools/kernel_resources.py" "$build" -j "$jobs" \
    -o "$out/kernel_resources.md" >>"$out/kernel_resources.log" 2>&1 ||
    echo "(kernel_resources.py exited with status $?)" >>"$out/kernel_resources.log"
  write_report
fi

# ---- 11. Nsight Compute: the native kernels of one AlexNet training step -----------------------
# Per kernel: time, SM and memory throughput (% of peak), FMA-pipe use, achieved occupancy,
# registers and FP32 FLOP/s, to see where the hand-written backend stands against the hardware
# (docs/profiling.md). A metric name this ncu does not know fails the whole run, so a second run
# asks for the basic metrics only.
if ((build_rc == 0)) && want ncu 100; then
  if ! command -v ncu >/dev/null 2>&1; then
    ncu_md="ncu not found"
  else
    for set in all basic; do
      (($(remaining) > 30)) || break
      metrics=$(python3 "$root/tools/ncu_summary.py" --print-metrics "$set")
      log "ncu: an AlexNet step, batch 128, native kernels (metrics: ${metrics//,/ })"
      step timeout "$(cap 150)" ncu --csv --page details --print-units base --metrics "$metrics" \
        --launch-count 300 "$build/tools/cudanet" profile --model alexnet --batch-size 128 \
        --device cuda --backend native --steps 1 --warmup 0 >"$out/ncu.txt" 2>&1
      ncu_rc=$?
      if python3 "$root/tools/ncu_summary.py" "$out/ncu.txt" \
        --title "ncu, AlexNet batch 128, native backend, one step (exit $ncu_rc)" \
        >"$out/ncu.md" 2>>"$out/ncu_summary.log"; then
        ncu_md=$(cat "$out/ncu.md")
        break
      fi
      ncu_md="ncu exited with status $ncu_rc and gave no table; its last lines:"$'\n\n```\n'
      ncu_md+="$(grep -v '^"' "$out/ncu.txt" | tail -n 8)"$'\n```'
    done
  fi
  write_report
fi

# ---- the report -------------------------------------------------------------------------------
finished=1
write_report
echo
cat "$out/machine.txt"
sed -n '/^| check/,/^$/p' "$out/report.md"
# Success needs a GPU: without one nothing of the GPU side was checked.
[[ -n $gpu && $build_rc == 0 && ($tests_line == "not run" || $tests_line == *" 0 failed"*) &&
   $sanitizer_errors == 0 &&
   $python_line != *failed* && $python_line != *FAILED* && $python_line != *error* ]]
