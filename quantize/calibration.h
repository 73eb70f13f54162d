// Activation range calibration. An observer first records min/max, then (for the histogram
// methods) a 2048-bin histogram of the non-zero |x| over [0, max|x|], and derives the clipping range:
//   minmax      the observed range;
//   percentile  clip |x| at the given percentile of its distribution;
//   entropy     TensorRT/ncnn-style: the threshold whose 2048->levels re-binning minimises
//               KL(P || Q) between the clipped reference histogram and its quantized copy;
//               point masses (one-bin spikes, e.g. a bias on blank input) stay whole in Q;
//   mse         the threshold minimising the expected squared error (clipping + rounding),
//               computed from the histogram.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace edgepack {

enum class CalibMethod { MinMax, Percentile, Entropy, Mse };
CalibMethod parse_calib_method(const std::string& name);

class RangeObserver {
 public:
  static constexpr int kBins = 2048;
  // Phase 1: every batch. Throws InputError on NaN/Inf.
  void observe_minmax(const at::Tensor& x, const std::string& name);
  // Phase 2 (histogram methods only), after every phase-1 batch was seen.
  void observe_histogram(const at::Tensor& x);
  // The range to quantize [lo, hi], always containing 0. `levels`: quantization steps
  // available for the magnitude (255 for non-negative uint8, 127 for symmetric int8).
  std::pair<float, float> range(CalibMethod method, double percentile, int levels) const;
  bool seen() const { return count_ > 0; }
  bool non_negative() const { return min_ >= 0; }

 private:
  float threshold(CalibMethod method, double percentile, int levels) const;
  float min_ = 0, max_ = 0;
  int64_t count_ = 0;
  std::vector<double> hist_;
};

// Symmetric per-channel (or per-tensor when axis < 0) int8 scales: max|w| / 127 along `axis`.
at::Tensor symmetric_weight_scales(const at::Tensor& w, int64_t axis);

}  // namespace edgepack
