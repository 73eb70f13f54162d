// Activation range calibration, in one pass over the data: an observer records min/max and a
// histogram of the non-zero |x|, and derives the clipping range:
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

// The histogram is built as the batches arrive, without a second pass to learn max|x| first:
// its 4096 bins span [0, H], H the first nonzero max|x| doubled as often as a later batch
// needs. Doubling merges bins pairwise, exactly, so the histogram is always that of every value
// seen over the current span, and H < 2 max|x|: at least 2048 bins cover [0, max|x|], the
// resolution a separate histogram pass over [0, max|x|] at 2048 bins had. Entropy folds pairs
// back to at most 2048 bins over the range (its search is quadratic in them); mse and
// percentile use them all.
class RangeObserver {
 public:
  static constexpr int kBins = 4096;
  // Every batch: min/max and, unless `minmax_only`, the histogram. InputError on NaN/Inf.
  void observe(const at::Tensor& x, const std::string& name, bool minmax_only = false);
  // The range to quantize [lo, hi], always containing 0. `levels`: quantization steps
  // available for the magnitude (255 for non-negative uint8, 127 for symmetric int8).
  std::pair<float, float> range(CalibMethod method, double percentile, int levels) const;
  bool seen() const { return count_ > 0; }
  bool non_negative() const { return min_ >= 0; }

 private:
  float threshold(CalibMethod method, double percentile, int levels) const;
  float min_ = 0, max_ = 0;
  int64_t count_ = 0;
  std::vector<double> hist_;   // kBins over [0, span_]; empty until a nonzero value is seen
  float span_ = 0;
};

// Symmetric per-channel (or per-tensor when axis < 0) int8 scales: max|w| / 127 along `axis`.
at::Tensor symmetric_weight_scales(const at::Tensor& w, int64_t axis);

}  // namespace edgepack
