// Student construction from a teacher graph, for step-by-step distillation:
//  - width: structured pruning (passes/prune.h) keeps the most important channels of every
//    dependency group, so the student starts from the teacher's best filters, not from noise;
//  - depth: residual blocks whose input and output shapes match are removed, the least useful
//    first (Minitron's block importance: the blocks whose output is most similar to their input,
//    by mean cosine similarity over the calibration data, change the least).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/ir.h"

namespace edgepack::distill {

// A residual block: the nodes between `skip` and the Add that joins it back.
struct ResidualBlock {
  std::string skip;                 // the block's input, also the Add's other operand
  size_t add = 0;                   // node index of the Add / Sum
  std::vector<size_t> nodes;        // node indices of the branch
  double similarity = 0;            // mean cosine(input, output) on the calibration data
};

// Blocks that can be dropped (same input and output shape, a branch used by nothing else), with
// their similarity measured on `calibration` (0 when it is empty).
std::vector<ResidualBlock> residual_blocks(const Model& model, const std::vector<std::map<std::string, at::Tensor>>& calibration);

// Removes the `count` most similar blocks (the Add's output becomes the skip); returns how many
// were removed (fewer when the model has fewer).
int drop_residual_blocks(Model& model, int count, const std::vector<std::map<std::string, at::Tensor>>& calibration);

}  // namespace edgepack::distill
