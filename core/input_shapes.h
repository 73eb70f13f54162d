// Sizes for a model's dynamic input dims. An exported detector declares image [N,3,H,W]: its cost,
// plan and gates depend on H and W, which the file does not say. They are bound, in this order of
// precedence, by the user (`--input-shape image:1x3x320x320`, ONNX as for TorchScript) or by the
// data (the per-sample shape of the calibration or evaluation arrays). Binding sets the size of
// the IR's Dim and keeps its symbol (param: the export writes the symbol, so the artifact stays
// dynamic); an anonymous dynamic dim gets the symbol "<input>_dim<k>". A bound dim is a fixed size
// for the executor and the data checks within this run.
//
// The batch dim (0) is not bound from data (calibration feeds keep their batch size); analysis
// takes a free batch dim as 1. Any other dim left free is an InputError where a cost is needed
// (require_bound_dims): never a silent 1.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/ir.h"
#include "core/torchscript_import.h"   // InputSpec

namespace edgepack {

struct Dataset;

// Binds `specs` (input name, "" for the only input) onto the runtime inputs of an ONNX model:
// ranks must agree and declared sizes must match; InputError naming the input (with close
// matches for a wrong name) otherwise.
void bind_input_shapes(Model& model, const std::map<std::string, InputSpec>& specs);

// Binds each still-free dim after the first from the per-sample shape of `data`'s array for the
// input. Returns one line per input it bound ("image: 1x3x320x320 from calib.npz"); empty if none.
std::vector<std::string> bind_input_shapes(Model& model, const Dataset& data);

// "?x3x320x320" per runtime input ('?' for a free dim), in input order.
std::map<std::string, std::string> input_shapes(const Model& model);

// InputError naming every free dim other than dim 0 of the runtime inputs, and how to bind them.
void require_bound_dims(const Model& model);

}  // namespace edgepack
