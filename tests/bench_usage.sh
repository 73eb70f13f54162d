#!/usr/bin/env bash
# Every bench program fails like the CLI: --help exits 0 and prints its usage; an unknown flag, a
# bad value and a missing folder are each one line on stderr ("NAME: error: ..."), exit 2.
# usage: tests/bench_usage.sh BENCH_DIR PROGRAM...
set -uo pipefail
dir=$1
shift
failed=0
expect_error() {   # NAME ARGS...: exit 2, one line on stderr starting "NAME: error: "
  local name=$1 err rc lines
  shift
  err=$("$dir/$name" "$@" 2>&1 >/dev/null)
  rc=$?
  lines=$(printf '%s\n' "$err" | wc -l)
  if [[ $rc != 2 || $lines != 1 || $err != "$name: error: "* ]]; then
    echo "FAIL: $name $*: exit $rc, stderr: $err"
    failed=1
  fi
}
for name in "$@"; do
  out=$("$dir/$name" --help 2>&1)
  rc=$?
  if [[ $rc != 0 || $out != *"Usage: $name"* ]]; then
    echo "FAIL: $name --help: exit $rc"
    failed=1
  fi
  expect_error "$name" --no-such-flag
  expect_error "$name" --threads zero
done
expect_error bench_stream --dir /nonexistent/edgepack-bench-usage
expect_error bench_executor --repeat 0
[[ $failed == 0 ]] && echo "bench usage: $# programs checked"
exit $failed
