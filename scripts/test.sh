#!/usr/bin/env bash
# Sets up, builds and runs every test (unit, conformance, CLI, onnxruntime, MNIST end to end,
# hostile models, kill tests), then the reliability jobs of docs/reliability.md: the unit suite
# built with ASan+UBSan (build-fuzz/) and each fuzz target for a short time (build-fuzz/).
#   EDGEPACK_SANITIZE=0 / EDGEPACK_FUZZ=0 skip those, EDGEPACK_SANITIZE=full instruments the whole
#   build instead (build-asan/); EDGEPACK_FUZZ_SECONDS (default 30) per target.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each part prints its wall time ("test: <part>: N s") so CI logs show where the time goes;
# ctest adds each label's time.
timed() {
  local part=$1 start=$SECONDS
  shift
  "$@"
  echo "test: $part: $((SECONDS - start)) s"
}
timed setup scripts/setup.sh
timed build scripts/build.sh
# The MNIST end-to-end test needs the sample teacher (trained once, then reused).
timed teacher scripts/make-mnist-teacher.sh
# The transformer sample's slow test needs its teacher (trained once, 5+ minutes, then reused).
timed transformer scripts/make-transformer-teacher.sh
# The real-export tests need the corpus of torch.onnx exports (~15 s, then reused).
timed real-exports scripts/make-real-exports.sh
timed ctest bash -c 'cd build && ctest --output-on-failure "$@"' ctest "$@"

export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
jobs=${JOBS:-$(nproc)}
case "${EDGEPACK_SANITIZE:-narrow}" in
  0) ;;
  full)
    # Everything instrumented (docs/reliability.md gives its cost); not the CI default.
    start=$SECONDS
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGEPACK_SANITIZE=ON >/dev/null
    ninja -C build-asan -j "$jobs" edgepack_tests
    built=$SECONDS
    ASAN_OPTIONS="detect_leaks=1:detect_container_overflow=0:abort_on_error=1" \
    LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/fuzz/ubsan.supp" \
      build-asan/tests/edgepack_tests --test-suite-exclude=conformance,cli,onnxruntime,mnist,transformer,real,onnx-node
    echo "test: full sanitizer job: build $((built - start)) s, unit suite $((SECONDS - built)) s"
    ;;
  *)
    start=$SECONDS
    scripts/fuzz.sh --sanitized-tests
    echo "test: sanitizer job: $((SECONDS - start)) s"
    ;;
esac
if [ "${EDGEPACK_FUZZ:-1}" != 0 ]; then
  start=$SECONDS
  scripts/fuzz.sh "${EDGEPACK_FUZZ_SECONDS:-30}"
  echo "test: fuzz job: $((SECONDS - start)) s"
fi
