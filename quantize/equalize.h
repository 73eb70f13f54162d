// Cross-layer equalization (Nagel et al., "Data-Free Quantization", 2019). For Conv1 -> Relu ->
// Conv2 where Conv1's output feeds only the Relu and the Relu's output only Conv2 (group 1):
// relu(s x) = s relu(x) for s > 0, so output channel i of Conv1 can be divided by s_i and input
// channel i of Conv2 multiplied by s_i without changing the function. Choosing
// s_i = sqrt(r1_i / r2_i) (r1_i = max|W1[i]|, r2_i = max|W2[:, i]|) gives both layers the same
// per-channel range, which per-tensor weight quantization needs most.
#pragma once
#include "core/ir.h"

namespace edgepack {

// Returns how many Conv pairs were equalized. Weights and biases must be initializers.
int equalize_cross_layer(Model& model, int iterations = 4);

}  // namespace edgepack
