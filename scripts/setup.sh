#!/usr/bin/env bash
# Installs what edgepack needs on Debian 12 (idempotent; run as root or with sudo available):
# the Debian packages it builds against, and onnxruntime-node (npm) that tests run artifacts in.
# Debian's python3-torch, -torchvision, -onnx and -numpy export the corpus of real models the tests
# run (scripts/make-real-exports.sh) and the PyTorch FX peer row of bench/bench_quantize.
# --bench is accepted for older instructions (it adds nothing now).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    *) echo "usage: scripts/setup.sh [--bench]" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libonnx-dev libprotobuf-dev protobuf-compiler libopenblas0-pthread libgloo-dev
  libcli11-dev libfmt-dev libeigen3-dev doctest-dev nlohmann-json3-dev libyaml-cpp-dev zlib1g-dev libssl-dev
  nodejs npm
  fortunes
  python3-torch python3-torchvision python3-onnx python3-numpy
  libonnx-testdata
)
: "$bench"
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from elsewhere (e.g. a preinstalled node); only install if absent.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -ra missing <<< "${missing[*]:-}"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# onnxruntime-node ships its CPU library inside the package; --ignore-scripts skips the
# download of optional GPU binaries.
if [ ! -f "$here/node/node_modules/onnxruntime-node/package.json" ]; then
  echo "setup: installing onnxruntime-node into scripts/node"
  (cd "$here/node" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
echo "setup: ok"
