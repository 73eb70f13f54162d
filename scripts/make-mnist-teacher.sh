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

source scripts/lib/make-sample.sh
# --min-accuracy: a teacher below the documented accuracy is an error, and no file is written.
make_sample make-mnist-teacher data/mnist/teacher.onnx "scripts/fetch-data.sh data" mnist_teacher \
  --data data/mnist --out data/mnist/teacher.onnx --min-accuracy 98.5 -- "$@"
