#include "distill/teacher.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "core/error.h"
#include "core/npy.h"
#include "distill/data_parallel.h"
#include "distill/forward.h"

namespace edgepack::distill {
namespace {

std::string cache_key(const Model& teacher, const std::vector<std::string>& values, const Dataset& data) {
  return nlohmann::json{{"teacher", model_fingerprint(teacher)}, {"values", values}, {"data", data.digest()}}.dump();
}

// The cached arrays when the file exists and was made for `key`; empty otherwise.
std::vector<at::Tensor> read_cache(const std::string& path, const std::string& key, size_t count) {
  if (!std::filesystem::exists(path)) return {};
  std::vector<at::Tensor> out;
  std::string stored;
  for (auto& [name, t] : read_npz(path)) {
    if (name == "key") stored.assign(static_cast<const char*>(t.contiguous().data_ptr()), t.numel());
    else out.push_back(t);
  }
  if (stored != key || out.size() != count) return {};
  return out;
}

}  // namespace

std::string model_fingerprint(const Model& model) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& [name, t] : model.graph.initializers) {
    const double sum = t.is_floating_point() ? t.to(at::kDouble).abs().sum().item<double>() : 0.0;
    j.push_back({name, t.sizes().vec(), fmt::format("{:.17g}", sum)});
  }
  for (const auto& out : model.graph.outputs) j.push_back(out.name);
  return j.dump();
}

TeacherTargets::TeacherTargets(const Model& teacher, std::vector<std::string> values, const Dataset& data, bool cache,
                               const std::string& cache_folder, int64_t batch_size, Communicator& comm)
    : executor_(std::make_unique<Executor>(teacher)), values_(std::move(values)) {
  if (!cache) return;
  const std::string key = cache_key(teacher, values_, data);
  const std::string path = cache_folder.empty() ? "" : (std::filesystem::path(cache_folder) / "teacher_cache.npz").string();
  if (!path.empty()) cached_ = read_cache(path, key, values_.size());
  if (!cached_.empty()) return;
  if (path.empty() || comm.rank() == 0) {
    std::vector<std::vector<at::Tensor>> parts(values_.size());
    for (int64_t start = 0; start < data.samples; start += batch_size) {
      auto outs = run_values(*executor_, data.batch(start, batch_size).feeds, values_);
      for (size_t v = 0; v < outs.size(); ++v) parts[v].push_back(outs[v]);
    }
    for (auto& p : parts) cached_.push_back(at::cat(p));
    if (!path.empty()) {
      std::filesystem::create_directories(cache_folder);
      NamedArrays arrays;
      arrays.emplace_back("key", at::from_blob(const_cast<char*>(key.data()), {static_cast<int64_t>(key.size())}, at::kByte).clone());
      for (size_t v = 0; v < values_.size(); ++v) arrays.emplace_back(fmt::format("value{}", v), cached_[v].contiguous());
      write_npz(path, arrays);
    }
  }
  if (path.empty()) return;
  comm.barrier();  // rank 0 has written the cache
  if (cached_.empty()) {
    cached_ = read_cache(path, key, values_.size());
    if (cached_.empty()) throw Error(fmt::format("teacher cache '{}' written by rank 0 is unreadable here", path));
  }
}

std::vector<at::Tensor> TeacherTargets::get(const at::Tensor& indices, const std::map<std::string, at::Tensor>& feeds) {
  if (cached_.empty()) return run_values(*executor_, feeds, values_);
  std::vector<at::Tensor> out;
  for (const at::Tensor& c : cached_) out.push_back(c.index_select(0, indices));
  return out;
}

}  // namespace edgepack::distill
