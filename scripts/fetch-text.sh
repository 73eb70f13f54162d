#!/usr/bin/env bash
# Makes the transformer sample's corpus, CACHE_DIR/fortunes/{train,test}.npz and vocab.txt
# (CACHE_DIR defaults to data/ at the repo root, which git ignores), from the Debian package
# `fortunes` (/usr/share/games/fortunes; scripts/setup.sh installs it). Builds the
# transformer_teacher target if needed, whose `data` command does the work; the split and the
# vocabulary are described in samples/transformer/README.md.
#
# usage: scripts/fetch-text.sh [CACHE_DIR]
# env:   BUILD_DIR (default build/), JOBS (default: nproc), FORTUNES (default /usr/share/games/fortunes)
# Idempotent: does nothing when both files exist and are newer than the fortunes folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${1:-"$root/data"}
fortunes=${FORTUNES:-/usr/share/games/fortunes}

if [ ! -d "$fortunes" ]; then
  echo "fetch-text: $fortunes missing; running scripts/setup.sh"
  "$here/setup.sh"
fi
[ -d "$fortunes" ] || { echo "fetch-text: no fortunes in $fortunes (apt-get install fortunes)" >&2; exit 1; }

out="$cache/fortunes"
if [ -f "$out/train.npz" ] && [ -f "$out/test.npz" ] && [ "$out/train.npz" -nt "$fortunes" ] && [ "$out/test.npz" -nt "$fortunes" ]; then
  echo "fetch-text: $out/train.npz and $out/test.npz are up to date"
  exit 0
fi

cd "$root"
build=${BUILD_DIR:-build}
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
ninja -C "$build" -j "${JOBS:-$(nproc)}" transformer_teacher >/dev/null
"$build/transformer_teacher" data --fortunes "$fortunes" --out "$out"
