#include "core/input_shapes.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/close_match.h"
#include "core/dataset.h"
#include "core/error.h"

namespace edgepack {

namespace {

std::string dims_text(const std::vector<Dim>& dims) {
  std::vector<std::string> parts;
  for (const Dim& d : dims) parts.push_back(d.known() ? std::to_string(d.value) : "?");
  return fmt::format("{}", fmt::join(parts, "x"));
}

void bind(ValueInfo& in, size_t d, int64_t size) {
  Dim& dim = (*in.shape)[d];
  if (dim.param.empty()) dim.param = fmt::format("{}_dim{}", in.name, d);
  dim.value = size;
}

ValueInfo& runtime_input(Model& model, const std::string& name) {
  std::vector<std::string> names;
  for (const ValueInfo* in : model.graph.runtime_inputs()) names.push_back(in->name);
  if (name.empty() && names.size() != 1)
    throw InputError(fmt::format("--input-shape needs NAME:DIMS: the model has {} inputs ({})", names.size(), fmt::join(names, ", ")));
  const std::string wanted = name.empty() ? names.at(0) : name;
  for (ValueInfo& v : model.graph.inputs)
    if (v.name == wanted && !model.graph.is_initializer(v.name)) return v;
  throw InputError(fmt::format("--input-shape: the model has no input '{}'{}; its inputs: {}", name, did_you_mean(name, names),
                               fmt::join(names, ", ")));
}

}  // namespace

void bind_input_shapes(Model& model, const std::map<std::string, InputSpec>& specs) {
  for (const auto& [name, spec] : specs) {
    ValueInfo& in = runtime_input(model, name);
    if (!in.shape) in.shape = std::vector<Dim>(spec.dims.size());
    std::vector<Dim>& dims = *in.shape;
    if (dims.size() != spec.dims.size())
      throw InputError(fmt::format("--input-shape {}: {} dims given, the input has {} ({})", in.name, spec.dims.size(), dims.size(),
                                   dims_text(dims)));
    for (size_t d = 0; d < dims.size(); ++d) {
      if (spec.dims[d] < 1) throw InputError(fmt::format("--input-shape {}: dim {} must be at least 1", in.name, d));
      if (dims[d].known() && dims[d].param.empty() && dims[d].value != spec.dims[d])
        throw InputError(fmt::format("--input-shape {}: dim {} is {} in the model, not {}", in.name, d, dims[d].value, spec.dims[d]));
      // A fixed dim stays fixed: only a dynamic one gets the size (and a symbol the file keeps).
      if (!(dims[d].known() && dims[d].param.empty())) bind(in, d, spec.dims[d]);
    }
  }
}

std::vector<std::string> bind_input_shapes(Model& model, const Dataset& data) {
  std::vector<std::string> bound;
  for (ValueInfo& in : model.graph.inputs) {
    if (model.graph.is_initializer(in.name) || !in.shape || !data.inputs.count(in.name)) continue;
    const at::Tensor& t = data.inputs.at(in.name);
    std::vector<Dim>& dims = *in.shape;
    if (t.dim() != static_cast<int64_t>(dims.size())) continue;   // validate() reports it
    bool changed = false;
    for (size_t d = 1; d < dims.size(); ++d)
      if (!dims[d].known()) {
        bind(in, d, t.size(static_cast<int64_t>(d)));
        changed = true;
      }
    if (changed) bound.push_back(fmt::format("{}: {} from {}", in.name, dims_text(dims), data.source));
  }
  return bound;
}

std::map<std::string, std::string> input_shapes(const Model& model) {
  std::map<std::string, std::string> out;
  for (const ValueInfo* in : model.graph.runtime_inputs()) out[in->name] = in->shape ? dims_text(*in->shape) : "?";
  return out;
}

void require_bound_dims(const Model& model) {
  std::vector<std::string> free;
  std::string example;
  for (const ValueInfo* in : model.graph.runtime_inputs()) {
    if (!in->shape) continue;
    std::vector<std::string> mine;
    for (size_t d = 1; d < in->shape->size(); ++d) {
      const Dim& dim = (*in->shape)[d];
      if (!dim.known()) mine.push_back(fmt::format("{}{}", d, dim.param.empty() ? "" : " (" + dim.param + ")"));
    }
    if (mine.empty()) continue;
    free.push_back(fmt::format("input '{}' dim{} {}", in->name, mine.size() == 1 ? "" : "s", fmt::join(mine, ", ")));
    if (example.empty()) {
      std::vector<std::string> parts;
      for (size_t d = 0; d < in->shape->size(); ++d) {
        const Dim& dim = (*in->shape)[d];
        parts.push_back(dim.known() ? std::to_string(dim.value) : d == 0 ? "1" : dim.param.empty() ? "D" : dim.param);
      }
      example = fmt::format("--input-shape {}:{}", in->name, fmt::join(parts, "x"));
    }
  }
  if (!free.empty())
    throw InputError(fmt::format("{} {} dynamic: give their sizes, e.g. {}, or data whose samples fix them",
                                 fmt::join(free, "; "), free.size() == 1 && free[0].find("dims") == std::string::npos ? "is" : "are",
                                 example));
}

}  // namespace edgepack
