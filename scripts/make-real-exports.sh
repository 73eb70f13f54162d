#!/usr/bin/env bash
# Makes the corpus of real torch.onnx exports for tests (scripts/real_exports.py): MobileNetV3-small
# (opset 17), ResNet-18 (opset 11), a small DBNet-style detector (opset 11), a tiny ViT (opset
# 17) and two CRNN text recognizers (LSTM, GRU; opset 13), with seeded random weights, and their
# calibration images (calib_224/_det/_64.npz). Takes ~15 s on 2 cores.
# Does nothing when every file exists and is newer than scripts/real_exports.py, unless --force.
# Needs Debian's python3-torch, python3-torchvision and python3-onnx (no C++ build).
#
# usage: scripts/make-real-exports.sh [--force] [OUT_DIR]   (default OUT_DIR: data/real)
# env:   PYTHON (default /usr/bin/python3 when it exists, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."

force=0 out=data/real
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    -*) echo "make-real-exports: unknown option $a" >&2; exit 2 ;;
    *) out=$a ;;
  esac
done

script=scripts/real_exports.py
files=(mobilenet_v3_small.onnx resnet18_op11.onnx detector_op11.onnx detector_op9.onnx vit_tiny.onnx crnn_lstm.onnx crnn_gru.onnx encoder_scripted.pt encoder_io.npz calib_224.npz calib_det.npz calib_64.npz)
fresh=1
for f in "${files[@]}"; do
  if [ ! -f "$out/$f" ] || [ ! "$out/$f" -nt "$script" ]; then fresh=0; break; fi
done
if [ "$fresh" = 1 ] && [ "$force" = 0 ]; then
  echo "make-real-exports: $out is up to date (--force to export again)"
  exit 0
fi

python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; else python=python3; fi
fi
if ! "$python" -c 'import numpy, onnx, torch, torchvision' 2>/dev/null; then
  echo "make-real-exports: $python cannot import numpy, onnx, torch and torchvision;" \
    "install them with: apt-get install python3-torch python3-torchvision python3-onnx python3-numpy" >&2
  exit 1
fi

"$python" "$script" "$out"
echo "make-real-exports: wrote $out"
