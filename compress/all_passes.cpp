#include "compress/all_passes.h"

#include <mutex>

#include "distill/distill_pass.h"
#include "distill/finetune.h"
#include "passes/convert_fp16.h"
#include "passes/fold_bn.h"
#include "passes/fold_constants.h"
#include "passes/prune.h"
#include "quantize/dequantize.h"
#include "quantize/quantize_pass.h"
#include "quantize/quantize_weights.h"

namespace edgepack {

// One line per pass, in the order `edgepack passes` shows them.
void register_all_passes() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_pass(fold_constants_info());
    register_pass(fold_bn_info());
    register_pass(prune_info());
    register_pass(distill::distill_info());
    register_pass(distill::finetune_info());
    register_pass(quantize_info());
    register_pass(dequantize_info());
    register_pass(quantize_weights_info());
    register_pass(convert_fp16_info());
  });
}

}  // namespace edgepack
