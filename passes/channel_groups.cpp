// Channel dependency analysis: walks the graph once and records which channels are coupled, which
// tensor dimensions each channel owns, and which channels are pinned (the rules are in
// passes/channel_groups.h). Removing the channels is passes/channel_surgery.cpp; what removing
// them saves is passes/channel_costs.cpp.
#include "passes/channel_groups.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <functional>
#include <numeric>
#include <tuple>

#include "core/cost_model.h"
#include "core/error.h"

namespace edgepack {

std::string ChannelGroup::label() const {
  if (sources.empty()) return "?";
  return sources.size() == 1 ? sources[0] : fmt::format("{} (+{} coupled)", sources[0], sources.size() - 1);
}

std::vector<int> ChannelGroups::prunable() const {
  std::vector<int> ids;
  for (size_t g = 0; g < groups.size(); ++g)
    if (groups[g].prunable()) ids.push_back(static_cast<int>(g));
  return ids;
}

bool is_kept(const ChannelRef& channel, const KeepMasks& keep) {
  auto it = channel.group < 0 ? keep.end() : keep.find(channel.group);
  return it == keep.end() || it->second[channel.index];
}

int64_t kept_positions(const ChannelMap& map, const KeepMasks& keep) {
  int64_t n = 0;
  for (const ChannelRef& r : map) n += is_kept(r, keep);
  return n;
}

namespace {

bool is_channelwise(const std::string& op) {
  static const std::set<std::string> ops = {
      "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish", "Elu", "Selu", "Softplus",
      "Softsign", "Gelu", "Mish", "Erf", "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Identity", "Dropout",
      "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "GlobalLpPool",
      // LRN mixes neighbouring channels; after pruning its window spans the kept neighbours.
      "LRN"};
  return ops.count(op) != 0;
}

bool is_elementwise_binary(const std::string& op) {
  static const std::set<std::string> ops = {"Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "Pow"};
  return ops.count(op) != 0;
}

// During analysis a channel is a global id (source offset + filter index), -1 for a channel no
// source owns. A union-find over the ids couples channels; `finish` turns its classes into
// units and groups.
using Ids = std::vector<int64_t>;

class Builder {
 public:
  Builder(const Model& model, const std::set<std::string>& exclude) : g_(model.graph), exclude_(exclude) {
    ModelCost cost = analyze_model(model);
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      for (size_t o = 0; o < g_.nodes[i].outputs.size() && o < cost.nodes[i].output_shapes.size(); ++o)
        shapes_[g_.nodes[i].outputs[o]] = cost.nodes[i].output_shapes[o];
    for (const ValueInfo* in : g_.runtime_inputs()) shapes_[in->name] = in->concrete_shape(1);
    std::map<std::string, int> uses;
    for (const Node& n : g_.nodes)
      for (const std::string& in : values_read(n))   // reads inside subgraphs count too
        if (g_.is_initializer(in)) ++uses[in];
    for (const auto& [name, count] : uses)
      if (count > 1) shared_.insert(name);
  }

  ChannelGroups build() {
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (!consumed_.count(i)) visit(i);
    for (const ValueInfo& out : g_.outputs) pin(out.name, fmt::format("reaches graph output '{}'", out.name));
    return finish();
  }

 private:
  struct Source {
    std::string name;
    int64_t offset = 0, channels = 0;
    std::string tensor;
    int64_t dim = 0;
    std::vector<int64_t> rows;   // the channel (0 .. channels-1) of each position along `dim`; empty = position c is channel c
  };
  struct Slice {
    std::string tensor;
    int64_t dim;
    Ids ids;
  };

  int64_t find(int64_t c) {
    while (parent_[c] != c) c = parent_[c] = parent_[parent_[c]];
    return c;
  }
  void unite(int64_t a, int64_t b) {
    a = find(a), b = find(b);
    if (a != b) parent_[b] = a;
  }
  void pin_ids(const Ids& ids, const std::string& why) {
    for (int64_t c : ids)
      if (c >= 0) pinned_.emplace(c, why);
  }
  // Pins the channels `value` carries; a Shape of a channel-carrying value pins that value
  // (whoever reads the shape may read its channel count).
  void pin(const std::string& value, const std::string& why) {
    auto it = channels_.find(value);
    if (it != channels_.end()) pin_ids(it->second, why);
    auto shape = shape_of_.find(value);
    if (shape != shape_of_.end()) pin(shape->second, why);
  }
  void pin_inputs(const Node& n, const std::string& why) {
    for (const std::string& v : n.inputs) pin(v, why);
  }
  // Position p of `a` and of `b` must be kept or removed together.
  void align(const Ids& a, const Ids& b, const std::string& where) {
    if (a.size() != b.size()) {
      pin_ids(a, where + ": operands of different widths");
      pin_ids(b, where + ": operands of different widths");
      return;
    }
    for (size_t p = 0; p < a.size(); ++p) {
      if (a[p] >= 0 && b[p] >= 0) unite(a[p], b[p]);
      else if (a[p] >= 0 || b[p] >= 0) pin_ids({std::max(a[p], b[p])}, where + ": coupled with a channel no layer owns");
    }
  }
  // Grouped layers: local channel j of every one of `groups` groups is one unit.
  void tie_groups(const Ids& ids, int64_t groups, const std::string& where) {
    const auto m = static_cast<int64_t>(ids.size()) / groups;
    for (int64_t k = 1; k < groups; ++k)
      align(Ids(ids.begin(), ids.begin() + m), Ids(ids.begin() + k * m, ids.begin() + (k + 1) * m), where);
  }

  const std::vector<int64_t>* shape(const std::string& v) const {
    auto it = shapes_.find(v);
    return it == shapes_.end() ? nullptr : &it->second;
  }
  const Ids* tracked(const std::string& v) const {
    auto it = channels_.find(v);
    return it == channels_.end() ? nullptr : &it->second;
  }
  int64_t rank_of(const std::string& v) const {
    const auto* s = shape(v);
    return s ? static_cast<int64_t>(s->size()) : -1;
  }
  int64_t axis_of(const std::string& v) const { return axis_.at(v); }
  bool is_const(const std::string& v) const { return !v.empty() && g_.is_initializer(v); }
  bool excluded(const Node& n) const { return exclude_.count(n.name) || exclude_.count(n.op_type); }
  void track(const std::string& value, Ids ids, int64_t axis) {
    channels_[value] = std::move(ids);
    axis_[value] = axis;
  }

  void slice(const std::string& tensor, int64_t dim, Ids ids, const Node& n) {
    if (shared_.count(tensor)) return pin_ids(ids, fmt::format("{} shares constant '{}' with another layer", n.label(), tensor));
    slices_.push_back({tensor, dim, std::move(ids)});
  }
  // A constant operand broadcast against a channel-carrying value: sliced when it has a
  // per-channel dimension (e.g. a [C,1,1] bias), untouched when it broadcasts (size 1).
  void slice_broadcast(const std::string& tensor, const Ids& ids, int64_t axis, int64_t rank, const Node& n) {
    const at::Tensor& t = g_.initializers.at(tensor);
    const int64_t d = axis - (rank - t.dim());
    if (d < 0 || t.size(d) == 1) return;
    if (t.size(d) != static_cast<int64_t>(ids.size())) return pin_ids(ids, n.label() + ": constant operand of another width");
    slice(tensor, d, ids, n);
  }
  Ids new_source(const Node& n, int64_t channels, const std::string& tensor, int64_t dim, std::vector<int64_t> rows = {}) {
    Source s{n.name.empty() ? n.outputs[0] : n.name, static_cast<int64_t>(parent_.size()), channels, tensor, dim, std::move(rows)};
    Ids ids(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) {
      ids[c] = s.offset + c;
      parent_.push_back(s.offset + c);
      owner_.push_back(static_cast<int>(sources_.size()));
    }
    sources_.push_back(std::move(s));
    return ids;
  }

  void visit(size_t index) {
    const Node& n = g_.nodes[index];
    const std::string& op = n.op_type;
    if (!n.domain.empty() && n.domain != "ai.onnx") return pin_inputs(n, n.label() + " is outside ai.onnx");
    // What a subgraph reads keeps its channels: pruning does not look inside If/Loop/Scan.
    if (has_subgraphs(n)) {
      for (const std::string& v : values_read(n)) pin(v, n.label() + " reads it, and pruning does not model subgraphs");
      return;
    }
    if (op == "Conv") return visit_conv(index);
    if (op == "Gemm") return visit_gemm(n);
    if (op == "MatMul") return visit_matmul(n);
    if (op == "Gather" && visit_embedding(n)) return;
    if (op == "LSTM" || op == "GRU" || op == "RNN") return visit_recurrent(index);
    if (std::any_of(n.inputs.begin(), n.inputs.end(), [&](const std::string& v) { return shape_of_.count(v) != 0; }))
      return visit_shape_read(n);
    bool any = false;
    for (const std::string& v : n.inputs) any = any || tracked(v);
    if (!any) return;
    if (op == "Shape") {   // exporters read the batch size: fine, as long as no one reads the channel count
      if (n.has("start") || n.has("end")) return pin_inputs(n, n.label() + " reads part of a shape");
      shape_of_[n.outputs[0]] = n.inputs[0];
      return;
    }
    if (is_elementwise_binary(op)) return visit_elementwise(n);
    if (op == "Concat") return visit_concat(n);
    const std::string& x = n.inputs[0];
    const Ids* in = tracked(x);
    if (!in) return pin_inputs(n, n.label() + " reads channels in a way pruning does not model");
    if (is_channelwise(op)) {
      for (size_t i = 1; i < n.inputs.size(); ++i)
        if (tracked(n.inputs[i])) return pin_inputs(n, n.label() + ": channels as a parameter");
      return track(n.outputs[0], *in, axis_of(x));
    }
    if (op == "BatchNormalization" || op == "InstanceNormalization" || op == "PRelu") {
      if (axis_of(x) != 1 && op != "PRelu") return pin_inputs(n, n.label() + " normalizes another axis");
      for (size_t i = 1; i < n.inputs.size(); ++i) {
        if (!is_const(n.inputs[i])) return pin_inputs(n, n.label() + " has runtime parameters");
        if (op == "PRelu") slice_broadcast(n.inputs[i], *in, axis_of(x), rank_of(x), n);
        else slice(n.inputs[i], 0, *in, n);
      }
      return track(n.outputs[0], *in, axis_of(x));
    }
    if (op == "LayerNormalization") {
      // Over the channel axis alone (transformers: [N,T,C], axis -1): the scale and bias are
      // per channel. Removing channels changes the statistics it normalizes with, which the
      // recovery training (fine-tune or distillation) absorbs.
      const int64_t rank = rank_of(x);
      int64_t axis = n.attr_int("axis", -1);
      if (axis < 0) axis += rank;
      if (axis != rank - 1 || axis_of(x) != axis) return pin_inputs(n, n.label() + " normalizes more than the channel axis");
      for (size_t i = 1; i < n.inputs.size(); ++i) {
        if (n.inputs[i].empty()) continue;
        if (!is_const(n.inputs[i])) return pin_inputs(n, n.label() + " has runtime parameters");
        slice(n.inputs[i], 0, *in, n);
      }
      return track(n.outputs[0], *in, axis);
    }
    if (op == "Transpose" || op == "Squeeze" || op == "Unsqueeze") return visit_moved_axis(n, *in);
    if (op == "Reshape" && visit_shuffle(index, *in)) return;
    if (op == "Reshape" && axis_of(x) == rank_of(x) - 1) return visit_reshape_last(n, *in);
    if (op == "Flatten" || op == "Reshape") return visit_flatten(n, *in);
    pin_inputs(n, n.label() + " is not modelled by channel pruning");
  }

  void visit_conv(size_t index) {
    const Node& n = g_.nodes[index];
    const std::string& w = n.inputs.size() > 1 ? n.inputs[1] : std::string();
    const std::string& b = n.inputs.size() > 2 ? n.inputs[2] : std::string();
    if (!is_const(w) || (!b.empty() && !is_const(b))) return pin_inputs(n, n.label() + " has a runtime weight");
    const Ids* in = tracked(n.inputs[0]);
    const at::Tensor& weight = g_.initializers.at(w);
    const int64_t groups = n.attr_int("group", 1);
    if (groups > 1 && weight.size(1) == 1 && weight.size(0) == groups) {   // depthwise: channel c -> c
      if (!in) return;
      slice(w, 0, *in, n);
      if (!b.empty()) slice(b, 0, *in, n);
      attribute_fixes_.push_back({index, "group", n.inputs[0]});
      return track(n.outputs[0], *in, 1);
    }
    if (in) {
      if (groups > 1) tie_groups(*in, groups, n.label());
      slice(w, 1, Ids(in->begin(), in->begin() + weight.size(1)), n);
    }
    if (excluded(n)) return;
    Ids out = new_source(n, weight.size(0), w, 0);
    if (groups > 1) tie_groups(out, groups, n.label());
    slice(w, 0, out, n);
    if (!b.empty()) slice(b, 0, out, n);
    track(n.outputs[0], std::move(out), 1);
  }

  void visit_gemm(const Node& n) {
    const std::string& w = n.inputs.size() > 1 ? n.inputs[1] : std::string();
    const std::string& c = n.inputs.size() > 2 ? n.inputs[2] : std::string();
    if (!is_const(w) || n.attr_int("transA", 0) || (!c.empty() && !is_const(c)))
      return pin_inputs(n, n.label() + " has a runtime or transposed operand");
    const bool trans_b = n.attr_int("transB", 0) != 0;
    if (const Ids* in = tracked(n.inputs[0])) slice(w, trans_b ? 1 : 0, *in, n);
    if (excluded(n)) return;
    Ids out = new_source(n, g_.initializers.at(w).size(trans_b ? 0 : 1), w, trans_b ? 0 : 1);
    slice(w, trans_b ? 0 : 1, out, n);
    if (!c.empty()) slice_broadcast(c, out, 1, 2, n);
    track(n.outputs[0], std::move(out), 1);
  }

  void visit_matmul(const Node& n) {
    const std::string& w = n.inputs[1];
    if (!is_const(w) || g_.initializers.at(w).dim() != 2) return pin_inputs(n, n.label() + " has a runtime or batched weight");
    if (const Ids* in = tracked(n.inputs[0])) {
      if (axis_of(n.inputs[0]) != rank_of(n.inputs[0]) - 1) return pin_inputs(n, n.label() + " contracts another axis");
      slice(w, 0, *in, n);
    }
    const int64_t rank = rank_of(n.outputs[0]);
    if (excluded(n) || rank < 1) return;
    Ids out = new_source(n, g_.initializers.at(w).size(1), w, 1);
    slice(w, 1, out, n);
    track(n.outputs[0], std::move(out), rank - 1);
  }

  // LSTM / GRU / RNN: H hidden units, a source (the layout is in channel_groups.h).
  void visit_recurrent(size_t index) {
    const Node& n = g_.nodes[index];
    auto input = [&](size_t i) { return i < n.inputs.size() ? n.inputs[i] : std::string(); };
    const std::string x = input(0), w = input(1), r = input(2), b = input(3);
    if (!is_const(w) || !is_const(r) || (!b.empty() && !is_const(b))) return pin_inputs(n, n.label() + " has runtime weights");
    const at::Tensor& weight = g_.initializers.at(w);
    const int64_t gates = n.op_type == "LSTM" ? 4 : n.op_type == "GRU" ? 3 : 1;
    const int64_t hidden = g_.initializers.at(r).size(2);
    if (weight.dim() != 3 || weight.size(1) != gates * hidden) return pin_inputs(n, n.label() + ": weights of an unexpected shape");
    if (const Ids* in = tracked(x)) {
      if (axis_of(x) != rank_of(x) - 1) return pin_inputs(n, n.label() + " reads channels on another axis");
      slice(w, 2, *in, n);
    }
    if (excluded(n)) return;
    // Positions k*H + h of `blocks` stacked blocks of H (one per gate, or per gate and half).
    auto stacked = [&](int64_t blocks) {
      std::vector<int64_t> rows;
      for (int64_t k = 0; k < blocks; ++k)
        for (int64_t h = 0; h < hidden; ++h) rows.push_back(h);
      return rows;
    };
    const std::vector<int64_t> gate_rows = stacked(gates);
    Ids units = new_source(n, hidden, w, 1, gate_rows);
    auto of = [&](const std::vector<int64_t>& rows) {
      Ids ids;
      for (int64_t h : rows) ids.push_back(units[h]);
      return ids;
    };
    const Ids gate_ids = of(gate_rows);
    slice(w, 1, gate_ids, n);
    slice(r, 1, gate_ids, n);
    slice(r, 2, units, n);
    if (!b.empty()) slice(b, 1, of(stacked(2 * gates)), n);
    std::string carrier;   // an output carrying the units: `hidden_size` follows it
    for (size_t o = 0; o < n.outputs.size(); ++o)
      if (!n.outputs[o].empty()) {
        track(n.outputs[o], units, o == 0 ? 3 : 2);
        if (carrier.empty()) carrier = n.outputs[o];
      }
    if (carrier.empty()) return pin_ids(units, n.label() + " has no outputs");
    attribute_fixes_.push_back({index, "hidden_size", carrier});
    // Initial states (5; LSTM's cell 6) and peepholes (LSTM 7).
    for (size_t i : {size_t{5}, size_t{6}, size_t{7}}) {
      const std::string v = input(i);
      if (v.empty()) continue;
      if (is_const(v)) {
        slice(v, i == 7 ? 1 : 2, i == 7 ? of(stacked(3)) : units, n);
      } else if (i != 7 && is_zero_state(v)) {
        zero_states_.push_back({index, i, carrier});
      } else {
        pin(v, n.label() + " has a runtime initial state");
        return pin_ids(units, n.label() + " has a runtime initial state or peepholes");
      }
    }
  }
  // A value that is all zeros whatever the input: ConstantOfShape with value 0 (or none),
  // through Slice / Identity / Reshape / Expand / Squeeze / Unsqueeze / Transpose of it.
  bool is_zero_state(const std::string& v) const {
    const int p = g_.producer(v);
    if (p < 0) return false;
    const Node& n = g_.nodes[p];
    if (n.op_type == "ConstantOfShape") return !n.has("value") || n.attr("value").t.eq(0).all().item<bool>();
    static const std::set<std::string> views = {"Slice", "Identity", "Reshape", "Expand", "Squeeze", "Unsqueeze", "Transpose"};
    return n.domain.empty() && views.count(n.op_type) && is_zero_state(n.inputs[0]);
  }

  // A node reading the Shape of a channel-carrying value: a Gather of other entries (the batch
  // size, the sequence length) does not see the channel count; anything else pins every value
  // whose shape it reads.
  void visit_shape_read(const Node& n) {
    if (n.op_type == "Gather" && n.inputs.size() > 1 && shape_of_.count(n.inputs[0]) && is_const(n.inputs[1])) {
      const std::string& value = shape_of_.at(n.inputs[0]);
      const at::Tensor idx = g_.initializers.at(n.inputs[1]).to(at::kLong).flatten();
      const int64_t rank = rank_of(value), axis = axis_of(value);
      bool reads_channels = false;
      for (int64_t k = 0; k < idx.numel(); ++k) {
        const int64_t i = idx[k].item<int64_t>();
        reads_channels = reads_channels || (i < 0 ? i + rank : i) == axis;
      }
      if (!reads_channels) return;
    }
    pin_inputs(n, n.label() + " reads the channel count");
  }

  // Transpose, Squeeze, Unsqueeze: the same channels on the axis they move to.
  void visit_moved_axis(const Node& n, const Ids& in) {
    const std::string& x = n.inputs[0];
    const int64_t axis = axis_of(x), in_rank = rank_of(x), out_rank = rank_of(n.outputs[0]);
    if (in_rank < 0 || out_rank < 0) return pin_inputs(n, n.label() + ": operand of unknown shape");
    int64_t moved = -1;
    if (n.op_type == "Transpose") {
      std::vector<int64_t> perm = n.attr_ints("perm");
      if (perm.empty())
        for (int64_t d = in_rank - 1; d >= 0; --d) perm.push_back(d);
      moved = std::find(perm.begin(), perm.end(), axis) - perm.begin();
    } else {
      std::vector<int64_t> axes = n.attr_ints("axes");
      if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
        if (!is_const(n.inputs[1])) return pin_inputs(n, n.label() + " has runtime axes");
        const at::Tensor a = g_.initializers.at(n.inputs[1]).to(at::kLong).contiguous();
        axes.assign(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
      }
      const bool squeeze = n.op_type == "Squeeze";
      if (squeeze && axes.empty())   // every size-1 dim
        for (int64_t d = 0; d < in_rank; ++d)
          if ((*shape(x))[d] == 1) axes.push_back(d);
      for (int64_t& a : axes) a += a < 0 ? (squeeze ? in_rank : out_rank) : 0;
      if (squeeze) {
        if (std::count(axes.begin(), axes.end(), axis)) return pin_inputs(n, n.label() + " squeezes the channel axis");
        moved = axis - std::count_if(axes.begin(), axes.end(), [&](int64_t a) { return a < axis; });
      } else {
        for (int64_t p = 0, d = 0; p < out_rank; ++p) {   // output position p holds input dim d unless inserted
          if (std::count(axes.begin(), axes.end(), p)) continue;
          if (d++ == axis) moved = p;
        }
      }
    }
    if (moved < 0 || moved >= out_rank) return pin_inputs(n, n.label() + " moves the channels in a way pruning does not model");
    track(n.outputs[0], in, moved);
  }

  // A Reshape of a value whose channels are on its last axis that keeps that axis ([T,N,H] ->
  // [T*N,H]) or merges it with the one before ([T,N,D,H] -> [T,N,D*H]: position d*H + h is
  // channel h of direction d, as a bidirectional LSTM's output is read).
  void visit_reshape_last(const Node& n, const Ids& in) {
    const auto* is = shape(n.inputs[0]);
    const auto* os = shape(n.outputs[0]);
    if (!is || !os || os->empty() || is->size() < 2) return pin_inputs(n, n.label() + " reshapes the channels");
    const int64_t c = is->back();
    Ids out;
    if (os->back() == c) {
      out = in;
    } else if (os->size() + 1 == is->size() && std::equal(os->begin(), os->end() - 1, is->begin()) &&
               os->back() == (*is)[is->size() - 2] * c) {
      for (int64_t k = 0; k < (*is)[is->size() - 2]; ++k) out.insert(out.end(), in.begin(), in.end());
    } else {
      return pin_inputs(n, n.label() + " reshapes the channels");
    }
    if (!is_const(n.inputs[1])) return pin_inputs(n, n.label() + " has a runtime shape");
    const at::Tensor target = g_.initializers.at(n.inputs[1]);
    if (target.numel() != static_cast<int64_t>(os->size())) return pin_inputs(n, n.label() + " reshapes the channels");
    if (target[-1].item<int64_t>() > 0) {   // -1 is inferred; a written size follows the kept channels
      if (shared_.count(n.inputs[1])) return pin_inputs(n, n.label() + " shares its shape constant");
      shape_fixes_.push_back({n.inputs[1], target.numel() - 1, n.outputs[0], 1});
    }
    track(n.outputs[0], std::move(out), static_cast<int64_t>(os->size()) - 1);
  }

  // An embedding: Gather(table [V,C] constant, ids at runtime) -> [..., C]. Each column of the
  // table is a channel (a source, like a layer's filter), on the output's last axis.
  bool visit_embedding(const Node& n) {
    const std::string& table = n.inputs[0];
    if (n.inputs.size() < 2 || !is_const(table) || is_const(n.inputs[1]) || n.attr_int("axis", 0) != 0 || excluded(n))
      return false;
    const at::Tensor& t = g_.initializers.at(table);
    const int64_t rank = rank_of(n.outputs[0]);
    if (!t.is_floating_point() || t.dim() != 2 || rank < 1) return false;
    Ids out = new_source(n, t.size(1), table, 1);
    slice(table, 1, out, n);
    track(n.outputs[0], std::move(out), rank - 1);
    return true;
  }

  void visit_elementwise(const Node& n) {
    const std::string* first = nullptr;
    for (const std::string& v : n.inputs)
      if (tracked(v) && (!first || rank_of(v) > rank_of(*first))) first = &v;
    const Ids ids = *tracked(*first);
    const int64_t axis = axis_of(*first), rank = rank_of(*first);
    if (rank_of(n.outputs[0]) != rank) return pin_inputs(n, n.label() + " broadcasts the channels");
    for (const std::string& v : n.inputs) {
      if (v.empty() || &v == first) continue;
      if (const Ids* other = tracked(v)) {
        if (rank_of(v) != rank || axis_of(v) != axis) return pin_inputs(n, n.label() + ": operands of different layouts");
        align(ids, *other, n.label());
      } else if (is_const(v)) {
        slice_broadcast(v, ids, axis, rank, n);
      } else if (const auto* s = shape(v)) {
        const int64_t d = axis - (rank - static_cast<int64_t>(s->size()));
        if (d >= 0 && (*s)[d] != 1) align(ids, Ids((*s)[d], -1), n.label());
      } else {
        return pin_inputs(n, n.label() + ": operand of unknown shape");
      }
    }
    track(n.outputs[0], ids, axis);
  }

  void visit_concat(const Node& n) {
    int64_t axis = n.attr_int("axis", 0);
    if (axis < 0) axis += rank_of(n.outputs[0]);
    Ids out;
    for (const std::string& v : n.inputs) {
      if (const Ids* m = tracked(v)) {
        if (axis_of(v) != axis) return pin_inputs(n, n.label() + " concatenates along another axis");
        out.insert(out.end(), m->begin(), m->end());
      } else if (const auto* s = shape(v)) {
        out.insert(out.end(), (*s)[axis], -1);
      } else {
        return pin_inputs(n, n.label() + ": operand of unknown shape");
      }
    }
    track(n.outputs[0], std::move(out), axis);
  }

  // ShuffleNet's channel shuffle: Reshape [N,C,H,W] -> [N,G,C/G,H,W], Transpose swapping axes 1
  // and 2, Reshape back to [N,C,H,W]: output channel j*G + k is input channel k*(C/G) + j.
  bool visit_shuffle(size_t index, const Ids& in) {
    const Node& split = g_.nodes[index];
    const auto* is = shape(split.inputs[0]);
    const auto* ss = shape(split.outputs[0]);
    if (!is || !ss || is->size() != 4 || ss->size() != 5 || axis_of(split.inputs[0]) != 1 || (*ss)[1] * (*ss)[2] != (*is)[1] ||
        index + 2 >= g_.nodes.size())
      return false;
    const Node& transpose = g_.nodes[index + 1];
    const Node& merge = g_.nodes[index + 2];
    const bool chain = transpose.op_type == "Transpose" && transpose.inputs[0] == split.outputs[0] &&
                       transpose.attr_ints("perm") == std::vector<int64_t>{0, 2, 1, 3, 4} && merge.op_type == "Reshape" &&
                       merge.inputs[0] == transpose.outputs[0] && shape(merge.outputs[0]) && *shape(merge.outputs[0]) == *is &&
                       is_const(split.inputs[1]) && is_const(merge.inputs[1]) && single_use(split.outputs[0]) &&
                       single_use(transpose.outputs[0]);
    if (!chain) return false;
    const int64_t groups = (*ss)[1], per = (*ss)[2];
    if (g_.initializers.at(split.inputs[1]).numel() != 5 || g_.initializers.at(merge.inputs[1]).numel() != 4) return false;
    Ids out(in.size());
    for (int64_t j = 0; j < per; ++j)
      for (int64_t k = 0; k < groups; ++k) out[j * groups + k] = in[k * per + j];
    // Removing local channel j of every group keeps the view [G, C/G] rectangular.
    tie_groups(in, groups, split.label());
    for (const auto& [tensor, position, divisor] :
         {std::tuple{split.inputs[1], int64_t{2}, groups}, std::tuple{merge.inputs[1], int64_t{1}, int64_t{1}}}) {
      if (shared_.count(tensor)) {
        pin_ids(in, split.label() + " shares its shape constant");
        return true;
      }
      shape_fixes_.push_back({tensor, position, merge.outputs[0], divisor});
    }
    consumed_.insert(index + 1);
    consumed_.insert(index + 2);
    track(merge.outputs[0], std::move(out), 1);
    return true;
  }
  bool single_use(const std::string& v) const {
    int uses = 0;
    for (const Node& n : g_.nodes)
      for (const std::string& in : values_read(n)) uses += in == v;
    return uses == 1 && !std::any_of(g_.outputs.begin(), g_.outputs.end(), [&](const ValueInfo& o) { return o.name == v; });
  }

  // [N, C, H, W] -> [N, C*H*W]: channel c owns positions c*H*W .. (c+1)*H*W - 1.
  void visit_flatten(const Node& n, const Ids& in) {
    const std::string& x = n.inputs[0];
    const auto* is = shape(x);
    const auto* os = shape(n.outputs[0]);
    const bool flattens = is && os && axis_of(x) == 1 && os->size() == 2 && (*os)[0] == (*is)[0] &&
                          (n.op_type == "Reshape" || n.attr_int("axis", 1) == 1);
    if (!flattens) return pin_inputs(n, n.label() + " reshapes the channels");
    const int64_t inner = std::accumulate(is->begin() + 2, is->end(), int64_t{1}, std::multiplies<>());
    Ids out;
    out.reserve(in.size() * inner);
    for (int64_t c : in) out.insert(out.end(), inner, c);
    if (n.op_type == "Reshape") {
      if (!is_const(n.inputs[1])) return pin_inputs(n, n.label() + " has a runtime shape");
      at::Tensor target = g_.initializers.at(n.inputs[1]);
      if (target.numel() != 2) return pin_inputs(n, n.label() + " reshapes the channels");
      if (target[1].item<int64_t>() > 0) {
        if (shared_.count(n.inputs[1])) return pin_inputs(n, n.label() + " shares its shape constant");
        shape_fixes_.push_back({n.inputs[1], 1, n.outputs[0], 1});
      }
    }
    track(n.outputs[0], std::move(out), 1);
  }

  // Units are the union-find classes; groups connect the sources that share a unit.
  ChannelGroups finish() {
    const auto total = static_cast<int64_t>(parent_.size());
    std::vector<int> source_group(sources_.size(), -1);
    std::map<int, int> group_index;   // root source -> group
    {
      std::vector<int> sp(sources_.size());
      std::iota(sp.begin(), sp.end(), 0);
      std::function<int(int)> sfind = [&](int x) { return sp[x] == x ? x : sp[x] = sfind(sp[x]); };
      std::map<int64_t, int> class_source;
      for (int64_t c = 0; c < total; ++c) {
        auto [it, inserted] = class_source.emplace(find(c), owner_[c]);
        if (!inserted) sp[sfind(owner_[c])] = sfind(it->second);
      }
      for (size_t s = 0; s < sources_.size(); ++s) {
        auto [it, inserted] = group_index.emplace(sfind(static_cast<int>(s)), static_cast<int>(group_index.size()));
        source_group[s] = it->second;
      }
    }
    ChannelGroups out;
    out.groups.resize(group_index.size());
    std::map<int64_t, std::string> pinned_class;   // class root -> why
    for (const auto& [c, why] : pinned_) pinned_class.emplace(find(c), why);
    std::map<int64_t, int64_t> unit_of_class;
    std::map<int64_t, int64_t> class_size;
    for (int64_t c = 0; c < total; ++c) ++class_size[find(c)];
    std::vector<ChannelRef> ref(static_cast<size_t>(total));
    for (int64_t c = 0; c < total; ++c) {
      const int g = source_group[owner_[c]];
      const int64_t root = find(c);
      ChannelGroup& grp = out.groups[g];
      auto pin = pinned_class.find(root);
      if (pin != pinned_class.end()) {
        if (grp.blocked.empty()) grp.blocked = pin->second;
        ref[c] = {-1, 0};
        continue;
      }
      auto [it, inserted] = unit_of_class.emplace(root, grp.channels);
      if (inserted) {
        ++grp.channels;
        grp.unit_size = std::max(grp.unit_size, class_size[root]);
      }
      ref[c] = {g, it->second};
    }
    for (ChannelGroup& grp : out.groups)
      if (grp.channels > 0) grp.blocked.clear();   // some units are pinned, the others are free
    for (size_t s = 0; s < sources_.size(); ++s) {
      ChannelGroup& grp = out.groups[source_group[s]];
      grp.sources.push_back(sources_[s].name);
      ChannelGroup::Filter f{sources_[s].tensor, sources_[s].dim, {}};
      const Source& src = sources_[s];
      auto unit = [&](int64_t c) { return ref[src.offset + c].group < 0 ? int64_t{-1} : ref[src.offset + c].index; };
      if (src.rows.empty())
        for (int64_t c = 0; c < src.channels; ++c) f.units.push_back(unit(c));
      else
        for (int64_t c : src.rows) f.units.push_back(unit(c));
      grp.filters.push_back(std::move(f));
    }
    auto to_map = [&](const Ids& ids) {
      ChannelMap map(ids.size());
      for (size_t p = 0; p < ids.size(); ++p) map[p] = ids[p] < 0 ? ChannelRef{} : ref[ids[p]];
      return map;
    };
    // Two slices of one tensor dimension must agree.
    std::map<std::pair<std::string, int64_t>, size_t> seen;
    for (const Slice& s : slices_) {
      ParamSlice ps{s.tensor, s.dim, to_map(s.ids)};
      auto [it, inserted] = seen.emplace(std::make_pair(s.tensor, s.dim), out.slices.size());
      if (inserted) {
        out.slices.push_back(std::move(ps));
      } else if (!(out.slices[it->second].channels == ps.channels)) {
        throw Error(fmt::format("internal: '{}' dim {} is sliced two ways", s.tensor, s.dim));
      }
    }
    for (auto& [value, ids] : channels_) {
      ChannelMap map = to_map(ids);
      std::set<int> in_groups;
      for (const ChannelRef& r : map)
        if (r.group >= 0 && in_groups.insert(r.group).second) out.groups[r.group].values.push_back(value);
      out.value_channels[value] = std::move(map);
    }
    out.value_axis = std::move(axis_);
    out.shape_fixes = shape_fixes_;
    out.attribute_fixes = attribute_fixes_;
    out.zero_states = zero_states_;
    return out;
  }

  const Graph& g_;
  const std::set<std::string>& exclude_;
  std::map<std::string, std::vector<int64_t>> shapes_;
  std::set<std::string> shared_;
  std::vector<Source> sources_;
  std::vector<int64_t> parent_;     // union-find over channel ids
  std::vector<int> owner_;          // channel id -> source
  std::map<int64_t, std::string> pinned_;
  std::set<size_t> consumed_;       // nodes handled as part of a pattern
  std::map<std::string, Ids> channels_;
  std::map<std::string, int64_t> axis_;
  std::map<std::string, std::string> shape_of_;   // Shape output -> the channel-carrying value it reads
  std::vector<Slice> slices_;
  std::vector<ChannelGroups::ShapeFix> shape_fixes_;
  std::vector<ChannelGroups::AttributeFix> attribute_fixes_;
  std::vector<ChannelGroups::ZeroState> zero_states_;
};

}  // namespace

ChannelGroups analyze_channel_groups(const Model& model, const std::set<std::string>& exclude) {
  return Builder(model, exclude).build();
}

}  // namespace edgepack
