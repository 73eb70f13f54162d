// Numbers for people, spelled the same in `edgepack inspect` and the reports: counts with 3
// significant digits and a decimal suffix (61.1 M), bytes in binary units (1.5 MiB), times in
// s/ms/us, and integers with thousands separators (1,218,048).
#pragma once
#include <string>

namespace edgepack {

std::string human_count(double v);
std::string human_bytes(double v);
std::string human_ms(double ms);
// Non-integers below 1000 keep 3 significant digits; larger ones are rounded to an integer.
std::string grouped(double v);
// "1 sample", "2,048 samples": a count with its noun, plural unless one (regular nouns only).
std::string counted(double n, const std::string& noun);
// "3.98x smaller", "1.01x larger" or "same size": how `after` compares with `before`.
std::string size_change(double before, double after);

}  // namespace edgepack
