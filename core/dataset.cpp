#include "core/dataset.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/npy.h"
#include "core/sha256.h"
#include "core/tensor_proto.h"

namespace edgepack {
namespace fs = std::filesystem;

namespace {


std::string type_name(const at::Tensor& t) { return onnx_type_name(onnx_from_scalar_type(t.scalar_type())); }

// "[N,3,224,224]": the model's dims with the sample dim shown as N.
std::string expected_shape(const std::vector<Dim>& dims) {
  std::vector<std::string> parts{"N"};
  for (size_t d = 1; d < dims.size(); ++d)
    parts.push_back(dims[d].known() ? std::to_string(dims[d].value) : dims[d].param.empty() ? "?" : dims[d].param);
  return fmt::format("[{}]", fmt::join(parts, ","));
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ONNX test data: `input_K.pb` in `dir`; each file must continue the batch layout of the first set.
void read_pb_set(const fs::path& dir, const std::vector<const ValueInfo*>& runtime,
                 std::vector<std::vector<at::Tensor>>& parts) {
  size_t k = 0;
  for (; fs::exists(dir / fmt::format("input_{}.pb", k)); ++k) {
    const std::string file = (dir / fmt::format("input_{}.pb", k)).string();
    if (k >= runtime.size())
      throw InputError(fmt::format("'{}': the model has only {} runtime input(s)", file, runtime.size()));
    at::Tensor t = read_tensor_file(file);
    if (t.dim() == 0) throw InputError(fmt::format("'{}' is a scalar; it needs a sample dimension first", file));
    if (!parts[k].empty()) {
      const at::Tensor& first = parts[k].front();
      if (t.scalar_type() != first.scalar_type() || t.sizes().slice(1) != first.sizes().slice(1))
        throw InputError(fmt::format("'{}' is {} [{}] but earlier sets hold {} [{}]", file, type_name(t),
                                     fmt::join(t.sizes(), ","), type_name(first), fmt::join(first.sizes(), ",")));
    }
    parts[k].push_back(t);
  }
  if (k != runtime.size())
    throw InputError(fmt::format("'{}' holds {} input_K.pb file(s) but the model has {} runtime input(s)",
                                 dir.string(), k, runtime.size()));
}

void load_pb_folder(const std::string& path, const std::vector<const ValueInfo*>& runtime, int64_t limit,
                    Dataset& d) {
  std::vector<std::pair<int64_t, fs::path>> sets;
  for (const auto& e : fs::directory_iterator(path)) {
    const std::string name = e.path().filename().string();
    const std::string prefix = "test_data_set_";
    if (!e.is_directory() || name.rfind(prefix, 0) != 0) continue;
    const std::string n = name.substr(prefix.size());
    if (n.empty() || n.size() > 9 || !std::all_of(n.begin(), n.end(), [](unsigned char c) { return std::isdigit(c); })) continue;
    sets.emplace_back(std::stoll(n), e.path());
  }
  std::sort(sets.begin(), sets.end());  // numerically: test_data_set_10 after _9
  if (sets.empty()) {
    if (!fs::exists(fs::path(path) / "input_0.pb"))
      throw InputError(fmt::format("'{}' holds neither input_K.pb files nor test_data_set_N folders", path));
    sets.emplace_back(0, path);
  }
  std::vector<std::vector<at::Tensor>> parts(runtime.size());
  int64_t have = 0;
  for (const auto& set : sets) {
    if (limit && have >= limit) break;
    read_pb_set(set.second, runtime, parts);
    have += parts[0].back().size(0);
  }
  for (size_t k = 0; k < runtime.size(); ++k) d.inputs[runtime[k]->name] = at::cat(parts[k]);
}

}  // namespace

Dataset::Batch Dataset::batch(int64_t start, int64_t count) const {
  start = std::clamp<int64_t>(start, 0, samples);
  const int64_t end = std::min(samples, start + std::max<int64_t>(count, 0));
  Batch b;
  for (const auto& [name, t] : inputs) b.feeds[name] = t.slice(0, start, end);
  if (labels.defined()) b.labels = labels.slice(0, start, end);
  return b;
}

void Dataset::validate(const Model& model) const {
  for (const ValueInfo* v : model.graph.runtime_inputs()) {
    auto it = inputs.find(v->name);
    if (it == inputs.end()) {
      std::vector<std::string> have;
      for (const auto& [name, _] : inputs) have.push_back("'" + name + "'");
      throw InputError(fmt::format("'{}' has no array '{}' for graph input '{}' (it holds {})", source, v->name,
                                   v->name, have.empty() ? "none" : fmt::format("{}", fmt::join(have, ", "))));
    }
    const at::Tensor& t = it->second;
    const std::string what = fmt::format("'{}' array '{}'", source, v->name);
    if (v->elem_type != 0 && !holds_onnx_type(t.scalar_type(), v->elem_type))
      throw InputError(fmt::format("{} is {} but graph input '{}' expects {}", what, type_name(t), v->name,
                                   onnx_type_name(v->elem_type)));
    if (t.dim() == 0) throw InputError(what + " is a scalar; its first dimension must be the sample index");
    if (!v->shape) continue;
    const auto& dims = *v->shape;
    bool ok = static_cast<int64_t>(dims.size()) == t.dim();
    for (size_t i = 1; ok && i < dims.size(); ++i) ok = !dims[i].known() || dims[i].value == t.size(i);
    if (!ok)
      throw InputError(fmt::format("{} has shape [{}] but graph input '{}' expects {} (N samples first)", what,
                                   fmt::join(t.sizes(), ","), v->name, expected_shape(dims)));
  }
}

std::string Dataset::digest() const {
  Sha256 sha;
  auto add = [&](const std::string& name, const at::Tensor& tensor) {
    at::Tensor t = tensor.cpu().contiguous();
    std::string head = fmt::format("{}\n{}\n{}\n", name, type_name(t), fmt::join(t.sizes(), ","));
    sha.update(head.data(), head.size());
    sha.update(t.data_ptr(), t.numel() * t.element_size());
  };
  for (const auto& [name, t] : inputs) add(name, t);
  if (labels.defined()) add("#labels", labels);
  return "sha256:" + sha.hex();
}

Dataset load_dataset(const std::string& path, const Model& model, const DatasetOptions& options) {
  const auto runtime = model.graph.runtime_inputs();
  if (runtime.empty()) throw InputError("the model has no runtime inputs to feed a dataset to");
  auto takes = [&](const std::string& name) {
    return std::any_of(runtime.begin(), runtime.end(), [&](const ValueInfo* v) { return v->name == name; });
  };
  Dataset d;
  d.source = path;
  std::string renamed;  // the lone .npz array bound to a single input under another name
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    load_pb_folder(path, runtime, options.limit, d);
  } else if (ends_with(path, ".npz")) {
    for (auto& [name, t] : read_npz(path)) {
      if (name == "labels" && !takes(name)) d.labels = t;
      else d.inputs[name] = t;
    }
    // np.savez(f, x) names its array arr_0: a single-input model takes a lone array by any name.
    if (runtime.size() == 1 && d.inputs.size() == 1 && !d.inputs.count(runtime[0]->name)) {
      auto lone = d.inputs.extract(d.inputs.begin());
      renamed = lone.key();
      lone.key() = runtime[0]->name;
      d.inputs.insert(std::move(lone));
    }
  } else if (ends_with(path, ".npy")) {
    if (runtime.size() != 1)
      throw InputError(fmt::format("'{}': a .npy holds one array but the model has {} inputs; use a .npz with one "
                                   "array per input name", path, runtime.size()));
    d.inputs[runtime[0]->name] = read_npy(path);
  } else {
    throw InputError(fmt::format("'{}': unknown dataset format (expected .npz, .npy or a folder of ONNX test data)",
                                 path));
  }
  try {
    d.validate(model);
  } catch (const InputError& e) {
    if (renamed.empty()) throw;
    throw InputError(fmt::format("{} (the file's only array, '{}', is bound to it)", e.what(), renamed));
  }
  for (auto it = d.inputs.begin(); it != d.inputs.end();) it = takes(it->first) ? std::next(it) : d.inputs.erase(it);

  d.samples = d.inputs.at(runtime[0]->name).size(0);
  for (const auto& [name, t] : d.inputs)
    if (t.size(0) != d.samples)
      throw InputError(fmt::format("'{}' array '{}' holds {} samples but array '{}' holds {}", path, name, t.size(0),
                                   runtime[0]->name, d.samples));
  if (d.labels.defined()) {
    const at::Tensor& l = d.labels;
    // [N]: a class per sample; [N,T]: a class per token (language models: the next token).
    if (!at::isIntegralType(l.scalar_type(), /*includeBool=*/false) || l.dim() < 1 || l.dim() > 2 ||
        l.size(0) != d.samples)
      throw InputError(fmt::format("'{}' array 'labels' is {} [{}]; expected integer class ids of shape [{}] (or "
                                   "[{},T] per token)", path, type_name(l), fmt::join(l.sizes(), ","), d.samples,
                                   d.samples));
    d.labels = l.to(at::kLong);
  }
  if (d.samples == 0) throw InputError(fmt::format("'{}' holds no samples", path));
  if (options.limit > 0 && options.limit < d.samples) {
    // Copies, so that the rest of a large file is freed.
    for (auto& [name, t] : d.inputs) t = t.slice(0, 0, options.limit).clone();
    if (d.labels.defined()) d.labels = d.labels.slice(0, 0, options.limit).clone();
    d.samples = options.limit;
  }
  return d;
}

int64_t max_batch(const Model& model) {
  for (const ValueInfo* v : model.graph.runtime_inputs())
    if (v->shape && !v->shape->empty() && v->shape->front().value > 0) return v->shape->front().value;
  return 0;
}

std::vector<std::map<std::string, at::Tensor>> feed_batches(const Dataset& data, const Model& model, int64_t batch_size,
                                                            int64_t limit) {
  const int64_t step = max_batch(model) > 0 ? max_batch(model) : std::max<int64_t>(1, batch_size);
  const int64_t end = limit > 0 ? std::min(limit, data.samples) : data.samples;
  std::vector<std::map<std::string, at::Tensor>> batches;
  for (int64_t start = 0; start < end; start += step) batches.push_back(data.batch(start, std::min(step, end - start)).feeds);
  return batches;
}

}  // namespace edgepack
