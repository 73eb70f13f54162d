// Evaluation and calibration data: one array per graph input whose first dimension is the sample
// index, plus optional int64 class labels. Loaded from a NumPy `.npz` (arrays named after the
// graph inputs, `labels` for the labels), a `.npy` (single-input models), or a folder of ONNX
// test data (`input_K.pb` directly inside, or in `test_data_set_N/` subfolders, each a batch).
// Loading validates the arrays against the model, so a bad file fails before anything runs.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/ir.h"

namespace edgepack {

struct DatasetOptions {
  int64_t limit = 0;  // first N samples only; 0 = all
};

struct Dataset {
  std::string source;                       // the path it was loaded from
  std::map<std::string, at::Tensor> inputs; // by graph-input name, dim 0 = sample
  at::Tensor labels;                        // int64 [samples] or [samples, T] (per token), or undefined
  int64_t samples = 0;

  struct Batch {
    std::map<std::string, at::Tensor> feeds;  // views into the dataset, ready for Executor::run
    at::Tensor labels;                        // undefined when the dataset has none
  };
  // Samples [start, start + count), clamped to the end.
  Batch batch(int64_t start, int64_t count) const;
  bool has_labels() const { return labels.defined(); }

  // InputError naming the array and what was expected when `model`'s runtime inputs are not all
  // present with the declared element type and per-sample shape (dims after the first).
  void validate(const Model& model) const;
  // "sha256:<hex>" of, for each input in name order and then the labels (named "#labels"):
  // "<name>\n<ONNX TYPE>\n<d0,d1,...>\n" followed by the raw little-endian C-order bytes.
  std::string digest() const;
};

// Throws InputError naming the file, member or array on anything malformed or mismatched.
Dataset load_dataset(const std::string& path, const Model& model, const DatasetOptions& options = {});

// The dataset's first `limit` samples (0 = all) cut into feeds for the executor: batches of
// `batch_size`, or of the model's fixed batch size when its inputs have one.
std::vector<std::map<std::string, at::Tensor>> feed_batches(const Dataset& data, const Model& model, int64_t batch_size,
                                                            int64_t limit = 0);

// How many samples one run of `model` takes: 0 when dim 0 of its inputs is free, else the fixed
// size of dim 0 (1 for models exported with batch 1). Callers feed exactly that many at a time.
int64_t max_batch(const Model& model);

}  // namespace edgepack
