// Kernel families. Each file core/ops/<family>.cpp registers its ops in one function; the one
// list that calls them is core/ops/registry.cpp.
#pragma once
#include <map>
#include <string>

#include "core/executor.h"

namespace edgepack::ops {

using KernelTable = std::map<std::string, Kernel>;

void register_elementwise(KernelTable& table);   // unary/binary math, activations, Cast, Where
void register_nn(KernelTable& table);            // Conv, pooling, normalization, Gemm/MatMul, Softmax
void register_shape(KernelTable& table);         // Reshape, Transpose, Concat, Slice, Gather, ...
void register_reduce(KernelTable& table);        // ReduceMean/Sum/Max/..., ArgMax
void register_recurrent(KernelTable& table);      // RNN, GRU, LSTM
// Losses (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss); Trilu, CumSum, OneHot, EyeLike,
// DepthToSpace, SpaceToDepth, Scatter(Elements), ScatterND, GatherND, Compress, Unique, MaxUnpool;
// Det, Asinh, Acosh, Atanh, IsInf, Shrink, BitShift, MeanVarianceNormalization;
// DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv; GridSample,
// RoiAlign, NonMaxSuppression
void register_extra(KernelTable& table);
void register_contrib(KernelTable& table);       // com.microsoft ops we write (MatMulNBits)

// Op types of the com.microsoft domain that register_contrib provides.
bool is_contrib_op(const std::string& op_type);

}  // namespace edgepack::ops
