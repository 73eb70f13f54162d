// The one list of passes: one line per pass, in the order `edgepack passes` shows them.
#include "distill/distill_pass.h"
#include "passes/fold_bn.h"
#include "passes/fold_constants.h"
#include "passes/prune.h"
#include "quantize/quantize_pass.h"
#include "quantize/quantize_weights.h"

namespace edgepack {

const std::vector<PassInfo>& pass_registry() {
  static const std::vector<PassInfo> passes = {
      fold_constants_info(),
      fold_bn_info(),
      prune_info(),
      distill::distill_info(),
      quantize_info(),
      quantize_weights_info(),
  };
  return passes;
}

}  // namespace edgepack
