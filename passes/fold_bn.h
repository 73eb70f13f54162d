// fold-bn: folds an inference BatchNormalization into the Conv (or ConvTranspose) that feeds it.
//   before: X -> Conv(W, b) -> BatchNormalization(gamma, beta, mean, var, eps) -> Y
//   after:  X -> Conv(W', b') -> Y
// with s = gamma / sqrt(var + eps) per output channel c:
//   W'[c] = W[c] * s[c],   b'[c] = (b[c] - mean[c]) * s[c] + beta[c]   (b = 0 when absent).
// ConvTranspose's weight is [C_in, C_out/group, k...]: output channel c = q * (C_out/group) + j
// of group q scales W[q*C_in/group : (q+1)*C_in/group, j] (a decoder's upsampling + BN).
// Preconditions: W, b and the BN parameters are initializers, the Conv output feeds only the
// BN, and W is not shared with another node. Quantization needs it: per-channel weight scales
// must see the folded weights, and runtimes expect no BN between Conv and its requantization.
#pragma once
#include "passes/pass.h"

namespace edgepack {

struct FoldBnStats {
  int folded_batchnorms = 0;
  int removed_initializers = 0;
};
FoldBnStats fold_batchnorms(Model& model);

PassInfo fold_bn_info();

}  // namespace edgepack
