#!/usr/bin/env bash
# Makes the transformer sample's teacher, data/fortunes/teacher.onnx: makes the corpus if missing
# (scripts/fetch-text.sh), builds the transformer_teacher target if needed, and trains (the
# default schedule, 250 steps, took 5-14 minutes on the shared 2-core machine). Does nothing when the teacher exists,
# unless --force. Other arguments go to `transformer_teacher train` (e.g. --long --seed 2
# --threads 2); see samples/transformer/README.md.
#
# usage: scripts/make-transformer-teacher.sh [--force] [transformer_teacher train options...]
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

data=data/fortunes
out=$data/teacher.onnx
if [ -f "$out" ] && [ "$force" = 0 ]; then
  echo "make-transformer-teacher: $out exists (--force to train again)"
  exit 0
fi

scripts/fetch-text.sh data

build=${BUILD_DIR:-build}
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
ninja -C "$build" -j "${JOBS:-$(nproc)}" transformer_teacher >/dev/null

# --max-perplexity: a teacher above the documented held-out perplexity is an error, and no file
# is written.
"$build/transformer_teacher" train --data "$data" --out "$out" --max-perplexity 12 ${args[@]+"${args[@]}"}
echo "make-transformer-teacher: wrote $out"
