#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang and runs each for SECONDS (default 60):
#   scripts/fuzz.sh [SECONDS] [TARGET ...]
# Installs clang and libclang-rt-dev when missing (Debian). Links against the library of the
# normal build (build/, or $EDGEPACK_BUILD), which it builds first if absent. Replays
# tests/data/fuzz-regressions/<target>/ (every crash found so far), then fuzzes from the seed
# corpus (fuzz/make_seeds) plus what earlier runs found (build-fuzz/corpus/<target>/). Fails on
# any crash, leak, timeout, out-of-memory or sanitizer report; the input is saved to
# build-fuzz/artifacts/<target>/. Prints execs/s and corpus size per target.
#   scripts/fuzz.sh --sanitized-tests   instead builds and runs the narrow ASan+UBSan unit tests
#                                       (edgepack_tests_sanitized, docs/reliability.md)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=fuzz
[ "${1:-}" = --sanitized-tests ] && mode=tests && shift
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_onnx_import fuzz_npy fuzz_pipeline fuzz_targets)
build=${EDGEPACK_BUILD:-build}
fuzz_build=${EDGEPACK_FUZZ_BUILD:-build-fuzz}
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime

need=()
command -v clang++ >/dev/null || need+=(clang)
dpkg-query -W -f='${Status}' libclang-rt-dev 2>/dev/null | grep -q "install ok installed" || need+=(libclang-rt-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "fuzz: installing ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -f "$build/libedgepack_lib.a" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$build" edgepack_lib
fi
cmake -S fuzz -B "$fuzz_build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEDGEPACK_LIB="$PWD/$build/libedgepack_lib.a" >/dev/null

# Leaks inside LibTorch/protobuf start-up are not ours (fuzz/lsan.supp says which and why).
# Container-overflow checks need every library instrumented; LibTorch and protobuf are not.
export ASAN_OPTIONS="detect_leaks=1:detect_container_overflow=0:abort_on_error=1:symbolize=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/fuzz/ubsan.supp"

if [ $mode = tests ]; then
  start=$SECONDS
  ninja -C "$fuzz_build" -j "${JOBS:-$(nproc)}" edgepack_tests_sanitized
  built=$SECONDS
  "$fuzz_build/edgepack_tests_sanitized" --test-suite-exclude=conformance,cli,onnxruntime,mnist,transformer,real,onnx-node
  echo "fuzz: sanitized unit tests: build $((built - start)) s, run $((SECONDS - built)) s"
  exit 0
fi
ninja -C "$fuzz_build" -j "${JOBS:-$(nproc)}" "${targets[@]}" make_seeds
seeds="$fuzz_build/seeds"
rm -rf "$seeds" && "$fuzz_build/make_seeds" "$seeds"

status=0
summary=()
for t in "${targets[@]}"; do
  corpus="$fuzz_build/corpus/$t" artifacts="$fuzz_build/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  regressions="tests/data/fuzz-regressions/$t"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    if ! "$fuzz_build/$t" -runs=0 "$regressions"/* >"$artifacts/regressions.log" 2>&1; then
      echo "fuzz: $t fails on a regression input:"; tail -30 "$artifacts/regressions.log"; status=1; continue
    fi
  fi
  log="$artifacts/fuzz.log"
  # -fork would use more cores; the machines are shared, one process per target.
  if "$fuzz_build/$t" "$corpus" "$seeds/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED; status=1
    echo "fuzz: $t found a problem (input saved in $artifacts/):"; grep -v "^#" "$log" | tail -40
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  size=$(ls "$corpus" | wc -l)
  summary+=("$(printf '%-18s %-6s %8s execs %6s/s  corpus %5s files' "$t" "$result" "$execs" "$rate" "$size")")
done
printf 'fuzz: %s\n' "${summary[@]}"
exit $status
