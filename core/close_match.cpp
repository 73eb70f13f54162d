#include "core/close_match.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace edgepack {

std::string to_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::vector<std::string> close_matches(const std::string& word, const std::vector<std::string>& known, size_t limit) {
  const std::string w = to_lower(word);
  const size_t within = std::max<size_t>(2, w.size() / 3);
  std::vector<std::pair<size_t, std::string>> scored;
  for (const std::string& k : known) {
    const std::string l = to_lower(k);
    size_t d = edit_distance(w, l);
    if (!w.empty() && (l.find(w) != std::string::npos || w.find(l) != std::string::npos)) d = std::min<size_t>(d, 1);
    if (d <= within) scored.emplace_back(d, k);
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (const auto& [d, k] : scored) {
    if (out.size() == limit) break;
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  }
  return out;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& known) {
  const std::vector<std::string> m = close_matches(word, known);
  if (m.empty()) return "";
  std::string list;
  for (size_t i = 0; i < m.size(); ++i) list += (i == 0 ? "" : i + 1 == m.size() ? " or " : ", ") + fmt::format("'{}'", m[i]);
  return fmt::format(" (did you mean {}?)", list);
}

}  // namespace edgepack
