# Sourced by scripts/make-*-teacher.sh: the steps every sample teacher shares.
#
# make_sample NAME OUT FETCH TARGET [TRAINER ARGS...] -- [USER ARGS...]
#   Does nothing when OUT exists, unless --force is among the user arguments. Otherwise runs
#   FETCH (a command line that makes the sample's data), configures and builds the CMake target
#   TARGET in $BUILD_DIR (default build/; JOBS, default nproc), and runs it with the trainer
#   arguments followed by the user's (all but --force).
make_sample() {
  local name=$1 out=$2 fetch=$3 target=$4
  shift 4
  local trainer=() user=() force=0
  while [ $# -gt 0 ] && [ "$1" != -- ]; do trainer+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  for a in "$@"; do
    case "$a" in
      --force) force=1 ;;
      *) user+=("$a") ;;
    esac
  done
  if [ -f "$out" ] && [ "$force" = 0 ]; then
    echo "$name: $out exists (--force to train again)"
    return 0
  fi
  $fetch
  local build=${BUILD_DIR:-build}
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  ninja -C "$build" -j "${JOBS:-$(nproc)}" "$target" >/dev/null
  "$build/$target" ${trainer[@]+"${trainer[@]}"} ${user[@]+"${user[@]}"}
  echo "$name: wrote $out"
}
