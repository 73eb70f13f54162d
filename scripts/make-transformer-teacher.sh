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

source scripts/lib/make-sample.sh
# --max-perplexity: a teacher above the documented held-out perplexity is an error, and no file
# is written.
make_sample make-transformer-teacher data/fortunes/teacher.onnx "scripts/fetch-text.sh data" transformer_teacher \
  train --data data/fortunes --out data/fortunes/teacher.onnx --max-perplexity 12 -- "$@"
