#include "core/human_format.h"

#include <fmt/format.h>

#include <cmath>
#include <iterator>

namespace edgepack {

std::string human_count(double v) {
  static const char* const units[] = {"", " K", " M", " G", " T", " P"};
  size_t u = 0;
  while (std::abs(v) >= 999.5 && u + 1 < std::size(units)) {
    v /= 1000;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f}", v) : fmt::format("{:.3g}{}", v, units[u]);
}

std::string human_bytes(double v) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  size_t u = 0;
  while (std::abs(v) >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", v) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string human_ms(double ms) {
  if (std::abs(ms) >= 1000) return fmt::format("{:.3g} s", ms / 1000);
  if (std::abs(ms) >= 0.1 || ms == 0) return fmt::format("{:.3g} ms", ms);
  return fmt::format("{:.3g} us", ms * 1000);
}

std::string grouped(double v) {
  if (std::abs(v) >= 1e18 || !std::isfinite(v)) return fmt::format("{:.3g}", v);
  if (v != std::floor(v)) {
    if (std::abs(v) < 999.5) return fmt::format("{:.3g}", v);
    v = std::round(v);   // 24110.5 reads as 24,111, not 2.41e+04
  }
  const auto i = static_cast<long long>(v);
  std::string digits = std::to_string(i < 0 ? -i : i);
  for (int k = static_cast<int>(digits.size()) - 3; k > 0; k -= 3) digits.insert(static_cast<size_t>(k), ",");
  return i < 0 ? "-" + digits : digits;
}

std::string size_change(double before, double after) {
  if (before <= 0 || after <= 0) return "size not comparable";
  const double ratio = before / after;
  if (fmt::format("{:.2f}", ratio) == "1.00") return "same size";
  return ratio > 1 ? fmt::format("{:.2f}x smaller", ratio) : fmt::format("{:.2f}x larger", 1 / ratio);
}

std::string counted(double n, const std::string& noun) { return grouped(n) + " " + noun + (n == 1 ? "" : "s"); }

}  // namespace edgepack
