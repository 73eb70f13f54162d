// Lowerings of the linear family: convolutions (conv1d/2d/3d, _convolution, conv_transpose) to
// Conv/ConvTranspose, linear to Gemm or MatMul + Add, matmul/mm/bmm to MatMul, addmm to Gemm.
#include "core/torchscript_lowerings.h"

namespace edgepack::torchscript {
namespace {

void lower_conv(Converter& c, const jit::Node* n) {
  const std::string kind = n->kind().toQualString();
  const jit::Value* weight = n->input(1);
  require_batched(c, n, c.rank(weight));
  const size_t spatial = static_cast<size_t>(c.rank(weight) - 2);
  std::vector<int64_t> stride = repeat_to(c.known_ints(n, n->input(3)), spatial), output_padding;
  std::vector<int64_t> padding, dilation;
  int64_t groups = 1;
  bool transposed = false;
  if (kind == "aten::_convolution") {
    padding = c.known_ints(n, n->input(4));
    dilation = c.known_ints(n, n->input(5));
    transposed = c.known(n, n->input(6)).toBool();
    output_padding = c.known_ints(n, n->input(7));
    groups = c.known_int(n, n->input(8));
  } else if (kind.rfind("aten::conv_transpose", 0) == 0) {
    transposed = true;
    padding = c.known_ints(n, n->input(4));
    output_padding = c.known_ints(n, n->input(5));
    groups = c.known_int(n, n->input(6));
    dilation = c.known_ints(n, n->input(7));
  } else {
    dilation = c.known_ints(n, n->input(5));
    groups = c.known_int(n, n->input(6));
    const c10::IValue& pad = c.known(n, n->input(4));
    if (pad.isString()) {
      // padding='same' (stride 1) or 'valid': explicit pads, the extra one at the end as PyTorch does.
      const at::Tensor& w = c.example_tensor(weight);
      std::vector<int64_t> begin(spatial, 0), end(spatial, 0);
      dilation = repeat_to(dilation, spatial);
      if (pad.toStringRef() == "same")
        for (size_t d = 0; d < spatial; ++d) {
          int64_t total = dilation[d] * (w.size(static_cast<int64_t>(d) + 2) - 1);
          begin[d] = total / 2;
          end[d] = total - begin[d];
        }
      padding = begin;
      padding.insert(padding.end(), end.begin(), end.end());
    } else {
      padding = pad.isInt() ? std::vector<int64_t>{pad.toInt()} : pad.toIntVector();
    }
  }
  padding = repeat_to(padding, spatial);
  if (padding.size() == spatial) padding.insert(padding.end(), padding.begin(), padding.end());
  std::map<std::string, Attribute> attrs = {{"strides", Attribute::of_ints(stride)},
                                            {"pads", Attribute::of_ints(padding)},
                                            {"dilations", Attribute::of_ints(repeat_to(dilation, spatial))},
                                            {"group", Attribute::of_int(groups)}};
  if (transposed && !output_padding.empty()) attrs["output_padding"] = Attribute::of_ints(repeat_to(output_padding, spatial));
  std::vector<std::string> inputs = {c.tensor(n->input(0)), c.tensor(weight)};
  if (!c.is_none(n->input(2))) inputs.push_back(c.tensor(n->input(2)));
  c.lower_to(n, transposed ? "ConvTranspose" : "Conv", inputs, attrs);
}

// linear(x, W, b) = x W^T + b: Gemm(transB) for 2-D x, else MatMul with W^T and Add.
void lower_linear(Converter& c, const jit::Node* n) {
  const jit::Value* weight = n->input(1);
  const std::string x = c.tensor(n->input(0)), hint = n->output()->debugName();
  const bool has_bias = !c.is_none(n->input(2));
  if (c.rank(n->input(0)) == 2) {
    std::vector<std::string> inputs = {x, c.tensor(weight)};
    if (has_bias) inputs.push_back(c.tensor(n->input(2)));
    return c.lower_to(n, "Gemm", inputs, {{"transB", Attribute::of_int(1)}});
  }
  const at::Tensor w_t = c.example_tensor(weight).t();
  std::string wt = c.slot(weight).dynamic ? c.emit("Transpose", {c.tensor(weight)}, {{"perm", Attribute::of_ints({1, 0})}},
                                                   hint + "_wt", ValueType::of(w_t))
                                          : c.constant(w_t, weight->debugName() + "_t");
  if (!has_bias) return c.lower_to(n, "MatMul", {x, wt});
  // The bias is [out]: x W^T already has the output's shape.
  std::string y = c.emit("MatMul", {x, wt}, {}, hint + "_matmul", ValueType::of(c.example_tensor(n->output())));
  c.lower_to(n, "Add", {y, c.tensor(n->input(2))});
}

// addmm(C, A, B, beta, alpha) = beta C + alpha A B.
void lower_addmm(Converter& c, const jit::Node* n) {
  std::map<std::string, Attribute> attrs = {{"beta", Attribute::of_float(static_cast<float>(c.known_double(n, n->input(3))))},
                                            {"alpha", Attribute::of_float(static_cast<float>(c.known_double(n, n->input(4))))}};
  c.lower_to(n, "Gemm", {c.tensor(n->input(1)), c.tensor(n->input(2)), c.tensor(n->input(0))}, attrs);
}

void lower_matmul(Converter& c, const jit::Node* n) {
  c.lower_to(n, "MatMul", {c.tensor(n->input(0)), c.tensor(n->input(1))});
}

}  // namespace

void add_linear_lowerings(LoweringTable& t) {
  for (const char* op : {"aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::_convolution", "aten::conv_transpose1d",
                         "aten::conv_transpose2d", "aten::conv_transpose3d"})
    t[op] = lower_conv;
  t["aten::linear"] = lower_linear;
  for (const char* op : {"aten::matmul", "aten::mm", "aten::bmm"}) t[op] = lower_matmul;
  t["aten::addmm"] = lower_addmm;
}

}  // namespace edgepack::torchscript
