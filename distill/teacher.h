// The teacher's targets for a training batch: its logits (graph output 0) and any feature
// values, computed on the fly (no grad) or once for the whole training set and cached, in memory
// or in the work folder (teacher_cache.npz, reused when the data and teacher match).
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dataset.h"
#include "core/executor.h"
#include "core/ir.h"

namespace edgepack::distill {

class Communicator;

class TeacherTargets {
 public:
  // `values`: teacher value names to provide, in order (output 0 first, then features).
  // With `cache`, the whole of `data` runs through the teacher now; with a non-empty
  // `cache_folder` rank 0 writes it there and the other ranks read it.
  TeacherTargets(const Model& teacher, std::vector<std::string> values, const Dataset& data, bool cache,
                 const std::string& cache_folder, int64_t batch_size, Communicator& comm);
  // The values for samples `indices` (int64) of the training data, whose feeds are `feeds`.
  std::vector<at::Tensor> get(const at::Tensor& indices, const std::map<std::string, at::Tensor>& feeds);

 private:
  std::unique_ptr<Executor> executor_;
  std::vector<std::string> values_;
  std::vector<at::Tensor> cached_;  // [samples, ...] per value, when caching
};

// A fingerprint of a model's weights and graph outputs (names, shapes, sums), to tell whether a
// cache or checkpoint was made with the same model.
std::string model_fingerprint(const Model& model);

}  // namespace edgepack::distill
