// If, Loop and Scan: the ops whose work is running a subgraph. They live in the executor, not in
// the kernel table, because a subgraph runs with the values of its enclosing scopes visible
// (Executor::Scope) and with the plans the constructor made for it.
// Tensors only: a sequence or optional value never reaches here, because the ops that make them
// (SequenceConstruct, Optional, ...) are refused as unsupported when the constructor checks the
// subgraphs.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/executor.h"
#include "core/tensor_proto.h"

namespace edgepack {

namespace {

const Graph& subgraph(const Node& n, const std::string& attr) {
  auto it = n.attrs.find(attr);
  if (it == n.attrs.end() || it->second.kind != Attribute::Kind::Graph || !it->second.g)
    throw InputError(fmt::format("{}: missing graph attribute '{}'", n.label(), attr));
  return *it->second.g;
}

// One value of a trip count or condition, which ONNX allows as shape [] or [1].
at::Tensor single_value(const at::Tensor& t, const Node& n, const char* what) {
  if (!t.defined() || t.numel() != 1)
    throw InputError(fmt::format("{}: {} must hold exactly one value, it has shape [{}]", n.label(), what,
                                 t.defined() ? fmt::format("{}", fmt::join(t.sizes(), ",")) : "none"));
  return t.reshape({});
}

bool truth(const at::Tensor& t, const Node& n, const char* what) {
  return single_value(t, n, what).to(at::kBool).item<bool>();
}

// Axis `axis` of a rank-`rank` tensor, negative counting from the end (ONNX 11+).
int64_t normalized_axis(int64_t axis, int64_t rank, const Node& n, const char* what) {
  if (axis < -rank || axis >= rank)
    throw InputError(fmt::format("{}: {} {} is out of range for rank {}", n.label(), what, axis, rank));
  return axis < 0 ? axis + rank : axis;
}

// The stacked per-iteration values of a scan output (Loop: axis 0). No iteration leaves no value
// to take a shape from: the body's declared type and shape stand in, with 0 at `axis`.
at::Tensor stack_iterations(std::vector<at::Tensor>& parts, const ValueInfo& declared, int64_t axis, const Node& n) {
  if (parts.empty()) {
    std::vector<int64_t> shape = declared.concrete_shape(0);
    shape.insert(shape.begin() + std::min<int64_t>(std::max<int64_t>(axis, 0), shape.size()), 0);
    const at::ScalarType type =
        declared.elem_type == 0 ? at::kFloat : scalar_type_from_onnx(declared.elem_type, "scan output '" + declared.name + "'");
    return at::empty(shape, at::TensorOptions().dtype(type));
  }
  for (const at::Tensor& p : parts)
    if (p.sizes() != parts.front().sizes())
      throw InputError(fmt::format("{}: scan output '{}' changes shape between iterations ([{}] then [{}])", n.label(),
                                   declared.name, fmt::join(parts.front().sizes(), ","), fmt::join(p.sizes(), ",")));
  return at::stack(parts, axis);
}

}  // namespace

// Structure only (counts of inputs, outputs and attribute entries), so that a malformed model is
// refused when the Executor is made, not halfway through a run.
void Executor::check_control_flow(const Node& n) const {
  auto refuse = [&](const std::string& why) { throw InputError(fmt::format("{}: {}", n.label(), why)); };
  if (n.op_type == "If") {
    if (n.inputs.empty() || n.inputs[0].empty()) refuse("needs its condition input");
    for (const char* branch : {"then_branch", "else_branch"}) {
      const Graph& g = subgraph(n, branch);
      if (g.outputs.size() != n.outputs.size())
        refuse(fmt::format("{} has {} outputs but the node has {}", branch, g.outputs.size(), n.outputs.size()));
    }
  } else if (n.op_type == "Loop") {
    const Graph& body = subgraph(n, "body");
    if (n.inputs.size() < 2) refuse(fmt::format("has {} inputs; Loop takes M, cond and the loop-carried values", n.inputs.size()));
    if (n.inputs[0].empty() && n.inputs[1].empty()) refuse("has neither a trip count nor a condition: it would never end");
    const size_t carried = n.inputs.size() - 2;
    if (body.inputs.size() != carried + 2)
      refuse(fmt::format("body has {} inputs, expected {} (iteration number, condition, {} loop-carried)",
                         body.inputs.size(), carried + 2, carried));
    if (body.outputs.size() < carried + 1)
      refuse(fmt::format("body has {} outputs, expected at least {} (condition, {} loop-carried)", body.outputs.size(),
                         carried + 1, carried));
    if (n.outputs.size() > body.outputs.size() - 1)
      refuse(fmt::format("has {} outputs but its body makes {} values", n.outputs.size(), body.outputs.size() - 1));
  } else if (n.op_type == "Scan") {
    const Graph& body = subgraph(n, "body");
    const bool batched = model_.opset() < 9;   // Scan-8: sequence_lens input, batch axis 0
    const int64_t scan_inputs = n.attr("num_scan_inputs").i;
    const int64_t states = static_cast<int64_t>(n.inputs.size()) - (batched ? 1 : 0) - scan_inputs;
    if (scan_inputs < 1 || states < 0)
      refuse(fmt::format("num_scan_inputs is {} but the node has {} inputs", scan_inputs, n.inputs.size()));
    if (static_cast<int64_t>(body.inputs.size()) != states + scan_inputs)
      refuse(fmt::format("body has {} inputs, expected {} ({} state, {} scan)", body.inputs.size(), states + scan_inputs,
                         states, scan_inputs));
    if (static_cast<int64_t>(body.outputs.size()) < states)
      refuse(fmt::format("body has {} outputs, fewer than its {} state values", body.outputs.size(), states));
    const int64_t scan_outputs = static_cast<int64_t>(body.outputs.size()) - states;
    if (static_cast<int64_t>(n.outputs.size()) > states + scan_outputs)
      refuse(fmt::format("has {} outputs but its body makes {} values", n.outputs.size(), body.outputs.size()));
    auto check_length = [&](const char* attr, int64_t want) {
      if (n.has(attr) && static_cast<int64_t>(n.attr(attr).ints.size()) != want)
        refuse(fmt::format("{} has {} entries, expected {}", attr, n.attr(attr).ints.size(), want));
    };
    check_length(batched ? "directions" : "scan_input_directions", scan_inputs);
    check_length("scan_input_axes", scan_inputs);
    check_length("scan_output_axes", scan_outputs);
    check_length("scan_output_directions", scan_outputs);
    if (batched && (n.has("scan_input_axes") || n.has("scan_output_axes")))
      refuse("Scan before opset 9 has no scan axes attributes");
  }
}

std::vector<at::Tensor> Executor::run_control_flow(const Node& n, const std::vector<at::Tensor>& inputs, const Scope& scope) {
  try {
    if (n.op_type == "If") return run_if(n, inputs, scope);
    if (n.op_type == "Loop") return run_loop(n, inputs, scope);
    return run_scan(n, inputs, scope);
  } catch (const InputError&) {
    throw;   // names the node it is about (maybe one inside the subgraph)
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    throw InputError(fmt::format("{} failed: {}", n.label(), msg.substr(0, msg.find('\n'))));
  }
}

std::vector<at::Tensor> Executor::run_if(const Node& n, const std::vector<at::Tensor>& inputs, const Scope& scope) {
  const bool cond = truth(inputs.at(0), n, "the condition");
  return run_subgraph(subgraph(n, cond ? "then_branch" : "else_branch"), scope, {});
}

// for (i = 0; (M absent or i < M) and (cond absent or cond); ++i) (cond, v...) = body(i, cond, v...)
// A body's condition output is ignored when the node has no cond input (ONNX: a plain for loop).
std::vector<at::Tensor> Executor::run_loop(const Node& n, const std::vector<at::Tensor>& inputs, const Scope& scope) {
  const Graph& body = subgraph(n, "body");
  const bool has_trip_count = inputs.at(0).defined(), has_cond = inputs.at(1).defined();
  const int64_t trip_count = has_trip_count ? single_value(inputs[0], n, "the trip count M").to(at::kLong).item<int64_t>() : 0;
  bool cond = has_cond ? truth(inputs[1], n, "the condition") : true;
  const size_t carried = inputs.size() - 2;
  const size_t scan_outputs = body.outputs.size() - 1 - carried;

  std::vector<at::Tensor> body_inputs(carried + 2);
  body_inputs[1] = has_cond ? inputs[1] : at::ones({}, at::TensorOptions().dtype(at::kBool));
  std::copy(inputs.begin() + 2, inputs.end(), body_inputs.begin() + 2);
  std::vector<std::vector<at::Tensor>> scans(scan_outputs);
  for (int64_t i = 0; (!has_trip_count || i < trip_count) && cond; ++i) {
    body_inputs[0] = at::scalar_tensor(i, at::TensorOptions().dtype(at::kLong));
    std::vector<at::Tensor> out = run_subgraph(body, scope, body_inputs);
    if (has_cond) cond = truth(out[0], n, "the body's condition output");
    body_inputs[1] = std::move(out[0]);
    for (size_t v = 0; v < carried; ++v) body_inputs[2 + v] = std::move(out[1 + v]);
    for (size_t k = 0; k < scan_outputs; ++k) scans[k].push_back(std::move(out[1 + carried + k]));
  }
  std::vector<at::Tensor> outputs(body_inputs.begin() + 2, body_inputs.end());
  for (size_t k = 0; k < scan_outputs; ++k)
    outputs.push_back(stack_iterations(scans[k], body.outputs[1 + carried + k], 0, n));
  return outputs;
}

// Scan-9+: one pass over the sequence axis of every scan input, each direction as its
// attribute says; state threads through the iterations, scan outputs stack on their axes.
// Scan-8 is the same per batch entry (axis 0 of every input and output), the sequence on axis 1.
std::vector<at::Tensor> Executor::run_scan(const Node& n, const std::vector<at::Tensor>& inputs, const Scope& scope) {
  const Graph& body = subgraph(n, "body");
  const bool batched = model_.opset() < 9;
  const size_t first = batched ? 1 : 0;   // Scan-8's sequence_lens comes first
  const size_t scan_inputs = static_cast<size_t>(n.attr("num_scan_inputs").i);
  const size_t states = inputs.size() - first - scan_inputs;
  const size_t scan_outputs = body.outputs.size() - states;
  const std::vector<int64_t> input_dirs =
      n.attr_ints(batched ? "directions" : "scan_input_directions", std::vector<int64_t>(scan_inputs, 0));
  const std::vector<int64_t> input_axes = n.attr_ints("scan_input_axes", std::vector<int64_t>(scan_inputs, 0));
  const std::vector<int64_t> output_axes = n.attr_ints("scan_output_axes", std::vector<int64_t>(scan_outputs, 0));
  const std::vector<int64_t> output_dirs = n.attr_ints("scan_output_directions", std::vector<int64_t>(scan_outputs, 0));
  for (size_t k = first; k < inputs.size(); ++k)
    if (!inputs[k].defined()) throw InputError(fmt::format("{}: input {} is missing", n.label(), k));

  // One scan over unbatched state and scan inputs.
  auto scan_once = [&](std::vector<at::Tensor> state, const std::vector<at::Tensor>& sequences) {
    int64_t length = -1;
    std::vector<int64_t> axes(scan_inputs);
    for (size_t j = 0; j < scan_inputs; ++j) {
      axes[j] = normalized_axis(input_axes[j], sequences[j].dim(), n, "scan_input_axes entry");
      const int64_t len = sequences[j].size(axes[j]);
      if (length >= 0 && len != length)
        throw InputError(fmt::format("{}: scan inputs have different sequence lengths ({} and {})", n.label(), length, len));
      length = len;
    }
    std::vector<std::vector<at::Tensor>> scans(scan_outputs);
    std::vector<at::Tensor> body_inputs(states + scan_inputs);
    for (int64_t t = 0; t < length; ++t) {
      std::copy(state.begin(), state.end(), body_inputs.begin());
      for (size_t j = 0; j < scan_inputs; ++j)
        body_inputs[states + j] = sequences[j].select(axes[j], input_dirs[j] == 1 ? length - 1 - t : t);
      std::vector<at::Tensor> out = run_subgraph(body, scope, body_inputs);
      for (size_t s = 0; s < states; ++s) state[s] = std::move(out[s]);
      for (size_t k = 0; k < scan_outputs; ++k) scans[k].push_back(std::move(out[states + k]));
    }
    std::vector<at::Tensor> outputs = std::move(state);
    for (size_t k = 0; k < scan_outputs; ++k) {
      if (output_dirs[k] == 1) std::reverse(scans[k].begin(), scans[k].end());
      const ValueInfo& declared = body.outputs[states + k];
      const int64_t rank = scans[k].empty() ? (declared.shape ? static_cast<int64_t>(declared.shape->size()) : 0)
                                            : scans[k].front().dim();
      const int64_t axis = normalized_axis(output_axes[k], rank + 1, n, "scan_output_axes entry");
      outputs.push_back(stack_iterations(scans[k], declared, axis, n));
    }
    return outputs;
  };

  auto state_of = [&](size_t b) {
    std::vector<at::Tensor> state;
    for (size_t s = 0; s < states; ++s) state.push_back(batched ? inputs[first + s].select(0, b) : inputs[first + s]);
    return state;
  };
  auto sequences_of = [&](size_t b) {
    std::vector<at::Tensor> sequences;
    for (size_t j = 0; j < scan_inputs; ++j) {
      const at::Tensor& x = inputs[first + states + j];
      sequences.push_back(batched ? x.select(0, b) : x);
    }
    return sequences;
  };
  if (!batched) return scan_once(state_of(0), sequences_of(0));

  // Scan-8: every state and scan input has the batch on axis 0 and (scan inputs) the sequence on 1.
  const at::Tensor& lead = inputs[first + states];
  if (lead.dim() < 2) throw InputError(fmt::format("{}: scan input must be [batch, sequence, ...]", n.label()));
  const int64_t batch = lead.size(0);
  if (inputs[0].defined()) {
    const at::Tensor lengths = inputs[0].to(at::kLong);
    if (lengths.numel() != batch || !lengths.eq(lead.size(1)).all().item<bool>())
      throw InputError(fmt::format("{}: sequence_lens shorter than the sequence axis is not supported", n.label()));
  }
  std::vector<std::vector<at::Tensor>> per_batch(states + scan_outputs);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<at::Tensor> out = scan_once(state_of(b), sequences_of(b));
    for (size_t k = 0; k < out.size(); ++k) per_batch[k].push_back(std::move(out[k]));
  }
  std::vector<at::Tensor> outputs;
  for (size_t k = 0; k < per_batch.size(); ++k) outputs.push_back(at::stack(per_batch[k], 0));
  return outputs;
}

}  // namespace edgepack
