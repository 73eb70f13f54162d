// TorchScript -> IR. Loads a TorchScript archive (`torch.jit.save` / `Module::save`) with
// LibTorch, puts it in eval mode, freezes it (parameters become constants), inlines calls and
// removes mutation, then converts the graph node by node to standard ONNX ops (opset 17).
//
// The conversion is specialised to the given input shapes: the graph is run once on example
// inputs of those shapes, so every value that does not depend on the input data (sizes, shape
// lists, `x.size(0)` arithmetic, constant subgraphs, `zeros_like`) is known and becomes a
// constant; only tensors computed from the inputs become IR nodes. A value that depends on the
// input data but is needed as a number (`int(x.sum())`, a data-dependent `if`) is refused.
// The converter builds the final IR directly, each value typed from the example run; the
// result is then checked with onnx::checker and strict ONNX shape inference, so a bad
// conversion is an InputError. docs/torchscript.md lists the supported aten ops.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/ir.h"

namespace edgepack {

// Opset of the converted graph: LayerNormalization needs 17.
constexpr int64_t kTorchScriptOpset = 17;

// Shape and element type of one graph input.
struct InputSpec {
  std::vector<int64_t> dims;
  int32_t elem_type = 0;   // onnx::TensorProto_DataType; 0 = float32, or int64 for embedding indices
};

// Parses `NAME:1x3x224x224`, `NAME:1x16:int64` or a bare `1x3x224x224` (name "", for
// single-input models) as given to --input-shape. InputError with the expected form otherwise.
std::pair<std::string, InputSpec> parse_input_spec(const std::string& text);

// `inputs` maps the forward() argument names to their specs; the key "" stands for the only
// input of a single-input module. InputError (one line) for a file that is not a TorchScript
// archive, a missing or unknown input name, an unsupported op (named, with its source line), or
// shapes the module rejects.
Model import_torchscript(const std::string& path, const std::map<std::string, InputSpec>& inputs);

}  // namespace edgepack
