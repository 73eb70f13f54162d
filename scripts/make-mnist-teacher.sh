#!/usr/bin/env bash
# Makes the MNIST teacher, data/mnist/teacher.onnx: fetches the data if missing
# (scripts/fetch-data.sh), builds the mnist_teacher target if needed, and trains.
# Does nothing when the teacher exists, unless --force. Other arguments go to mnist_teacher
# (e.g. --epochs 20 --seed 2 --threads 2); see samples/mnist/README.md.
#
# usage: scripts/make-mnist-teacher.sh [--force] [mnist_teacher options...]
# env:   BUILD_DIR (default build/, as scripts/build.sh makes it), JOBS (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."

force=0
args=()
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    *) args+=("$a") ;;
  esac
done

data=data/mnist
out=$data/teacher.onnx
if [ -f "$out" ] && [ "$force" = 0 ]; then
  echo "make-mnist-teacher: $out exists (--force to train again)"
  exit 0
fi

scripts/fetch-data.sh data

build=${BUILD_DIR:-build}
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
ninja -C "$build" -j "${JOBS:-$(nproc)}" mnist_teacher >/dev/null

# --min-accuracy: a teacher below the documented accuracy is an error, and no file is written.
"$build/mnist_teacher" --data "$data" --out "$out" --min-accuracy 98.5 ${args[@]+"${args[@]}"}
echo "make-mnist-teacher: wrote $out"
