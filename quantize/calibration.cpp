#include "quantize/calibration.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace edgepack {

CalibMethod parse_calib_method(const std::string& name) {
  if (name == "minmax") return CalibMethod::MinMax;
  if (name == "percentile") return CalibMethod::Percentile;
  if (name == "entropy") return CalibMethod::Entropy;
  if (name == "mse") return CalibMethod::Mse;
  throw InputError(fmt::format("unknown calibration method '{}' (minmax, percentile, entropy, mse)", name));
}

void RangeObserver::observe(const at::Tensor& x, const std::string& name, bool minmax_only) {
  if (x.numel() == 0) return;
  at::Tensor f = x.to(at::kFloat);
  // One pass over the values for min, max and finiteness: aminmax propagates NaN, and an Inf is
  // the min or the max. (A separate isfinite pass and a masked copy of the non-zeros each cost
  // more than the histogram itself: ConvNeXt-T's mse calibration went 86 s -> 55 s without them.)
  const auto [lo_t, hi_t] = at::aminmax(f);
  float lo = lo_t.item<float>(), hi = hi_t.item<float>();
  if (!std::isfinite(lo) || !std::isfinite(hi))
    throw InputError(fmt::format("value '{}' holds NaN or Inf during calibration; check the model and the data", name));
  min_ = count_ ? std::min(min_, lo) : lo;
  max_ = count_ ? std::max(max_, hi) : hi;
  ++count_;
  if (minmax_only) return;
  const float top = std::max(std::abs(lo), std::abs(hi));
  if (top <= 0) return;
  if (hist_.empty()) {
    hist_.assign(kBins, 0.0);
    span_ = top;
  }
  while (span_ < top) {   // double the span: bin i now holds what bins 2i and 2i+1 held
    for (int i = 0; i < kBins / 2; ++i) hist_[i] = hist_[2 * i] + hist_[2 * i + 1];
    std::fill(hist_.begin() + kBins / 2, hist_.end(), 0.0);
    span_ *= 2;
  }
  // Exact zeros (half of every post-Relu tensor) are represented exactly by any range; left in,
  // their spike in bin 0 dominates KL and drags the threshold down (ncnn skips them too). A
  // lower edge of FLT_MIN leaves them out without copying the non-zeros.
  const at::Tensor a = lo >= 0 ? f.reshape({-1}) : f.abs().reshape({-1});
  at::Tensor h = at::histc(a, kBins, std::numeric_limits<float>::min(), span_).to(at::kDouble).contiguous();
  const double* p = h.data_ptr<double>();
  for (int i = 0; i < kBins; ++i) hist_[i] += p[i];
}

namespace {

// Point masses: values that occur exactly and often, such as a channel's bias wherever its
// input patch is blank (most of an MNIST digit). Each is a spike in one bin, far above its
// neighbours. Spreading a spike evenly over its level's bins costs KL ~ mass * log(bins per
// level), however small the real rounding error (at most half a step), so KL prefers ever
// narrower levels and clips the tail: the MNIST teacher's first conv went 10.4 -> 3.4, -0.8
// points. Returns each bin's excess over kFactor x the median of its non-empty neighbours.
// A lone non-empty bin among empty ones (discrete data, e.g. 8-bit pixels) is not a spike:
// Q spreads a level only over non-empty bins and already keeps it in place.
std::vector<double> point_mass_excess(const std::vector<double>& hist) {
  constexpr int kRadius = 8;
  constexpr double kFactor = 4;
  const int n = static_cast<int>(hist.size());
  std::vector<double> excess(n, 0.0), near;
  for (int k = 0; k < n; ++k) {
    if (hist[k] <= 0) continue;
    near.clear();
    for (int j = std::max(0, k - kRadius); j <= std::min(n - 1, k + kRadius); ++j)
      if (j != k && hist[j] > 0) near.push_back(hist[j]);
    if (near.empty()) continue;
    std::nth_element(near.begin(), near.begin() + near.size() / 2, near.end());
    excess[k] = std::max(0.0, hist[k] - kFactor * near[near.size() / 2]);
  }
  return excess;
}

// KL divergence of the clipped reference P (first `i` bins, outliers folded into the last)
// against its re-binning into `levels` buckets, each spread evenly over its non-empty bins.
// Rounding moves a point mass whole, as it does the exact zeros left out of the histogram, so
// Q re-bins only the smooth part and keeps the spikes' excess where it is; a clipped spike
// still lands in P's last bin and costs what clipping costs.
double kl_for_threshold(const std::vector<double>& hist, const std::vector<double>& excess, int i, int levels) {
  std::vector<double> p(hist.begin(), hist.begin() + i);
  for (size_t k = i; k < hist.size(); ++k) p[i - 1] += hist[k];
  std::vector<double> q(excess.begin(), excess.begin() + i);
  const double per = static_cast<double>(i) / levels;
  for (int l = 0; l < levels; ++l) {
    int start = static_cast<int>(std::floor(l * per)), end = std::max(start + 1, static_cast<int>(std::floor((l + 1) * per)));
    end = std::min(end, i);
    double sum = 0;
    int nonzero = 0;
    for (int k = start; k < end; ++k) {
      sum += hist[k] - excess[k];
      nonzero += hist[k] > 0;
    }
    for (int k = start; k < end; ++k)
      if (hist[k] > 0) q[k] += sum / nonzero;
  }
  double ps = 0, qs = 0;
  for (int k = 0; k < i; ++k) { ps += p[k]; qs += q[k]; }
  if (ps <= 0 || qs <= 0) return std::numeric_limits<double>::infinity();
  double kl = 0;
  for (int k = 0; k < i; ++k) {
    if (p[k] <= 0) continue;
    const double pk = p[k] / ps, qk = q[k] / qs;
    kl += qk > 0 ? pk * std::log(pk / qk) : pk * 50.0;  // P mass that Q cannot express
  }
  return kl;
}

}  // namespace

float RangeObserver::threshold(CalibMethod method, double percentile, int levels) const {
  const float top = std::max(std::abs(min_), std::abs(max_));
  if (method == CalibMethod::MinMax || hist_.empty() || top <= 0) return top;
  // The bins that cover [0, top]; entropy's search is quadratic in them, so it folds pairs
  // (exactly) down to at most 2048.
  std::vector<double> hist = hist_;
  double width = static_cast<double>(span_) / kBins;
  int used = std::min<int>(kBins, static_cast<int>(std::ceil(top / width - 1e-9)));
  while (method == CalibMethod::Entropy && used > kBins / 2) {
    for (size_t i = 0; i < hist.size() / 2; ++i) hist[i] = hist[2 * i] + hist[2 * i + 1];
    hist.resize(hist.size() / 2);
    width *= 2;
    used = (used + 1) / 2;
  }
  hist.resize(std::max(used, 1));
  const int n = static_cast<int>(hist.size());
  double total = 0;
  for (double h : hist) total += h;
  if (total <= 0) return top;
  if (method == CalibMethod::Percentile) {
    double acc = 0;
    for (int i = 0; i < n; ++i) {
      acc += hist[i];
      if (acc >= total * percentile / 100.0) return std::min(top, static_cast<float>((i + 1) * width));
    }
    return top;
  }
  // Squared error of quantizing the histogram with threshold bin i: clipping error beyond the
  // threshold + uniform rounding noise below it. Suffix sums of h, h*c and h*c^2 (c the bin
  // centres) give each threshold's score in O(1):
  //   sum_{c>t} h (c - t)^2 = S2 - 2 t S1 + t^2 S0 over the bins above t.
  std::vector<double> s0(n + 1, 0.0), s1(n + 1, 0.0), s2(n + 1, 0.0);
  for (int k = n - 1; k >= 0; --k) {
    const double c = (k + 0.5) * width;
    s0[k] = s0[k + 1] + hist[k];
    s1[k] = s1[k + 1] + hist[k] * c;
    s2[k] = s2[k + 1] + hist[k] * c * c;
  }
  auto mse_score = [&](int i) {   // bins k >= i have centres above t = i * width
    const double t = i * width, step = t / levels;
    const double clipped = s2[i] - 2 * t * s1[i] + t * t * s0[i];
    return std::max(0.0, clipped) + (total - s0[i]) * step * step / 12.0;
  };
  const std::vector<double> excess = method == CalibMethod::Entropy ? point_mass_excess(hist) : std::vector<double>();
  int best = n;
  double best_score = std::numeric_limits<double>::infinity();
  for (int i = std::min(levels, n); i <= n; ++i) {
    const double score = method == CalibMethod::Entropy ? kl_for_threshold(hist, excess, i, levels) : mse_score(i);
    if (score < best_score) {
      best_score = score;
      best = i;
    }
  }
  // KL matches distributions, not values: on heavy tails it can clip so much that the tensor's
  // squared error exceeds that of not clipping at all (MobileNetV3-small: 1.8 dB against
  // minmax's 7.1). The threshold then moves up to the first one whose squared error is no worse
  // than the full range's: entropy still clips, never at a higher cost than minmax.
  if (method == CalibMethod::Entropy) {
    const double full = mse_score(n);
    while (best < n && mse_score(best) > full) ++best;
  }
  return std::min(top, static_cast<float>(best * width));
}

std::pair<float, float> RangeObserver::range(CalibMethod method, double percentile, int levels) const {
  const float t = threshold(method, percentile, levels);
  float lo = std::max(std::min(min_, 0.0f), -t), hi = std::min(std::max(max_, 0.0f), t);
  // A constant (or all-zero) tensor has no range; any positive scale represents it exactly.
  if (hi - lo < 1e-12f) hi = lo + 1e-6f;
  return {lo, hi};
}

at::Tensor symmetric_weight_scales(const at::Tensor& w, int64_t axis) {
  at::Tensor absmax;
  if (axis < 0) {
    absmax = w.abs().max().reshape({1});
  } else {
    at::Tensor moved = w.movedim(axis, 0).reshape({w.size(axis), -1});
    absmax = std::get<0>(moved.abs().max(1));
  }
  // An all-zero channel still needs a positive scale.
  return (absmax / 127.0).clamp_min(1e-12).to(at::kFloat);
}

}  // namespace edgepack
