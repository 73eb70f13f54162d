// GFM tables for the Markdown pages (see markdown_table.h).
#include "export/markdown_table.h"

#include <cstddef>

#include "export/report_json.h"

namespace edgepack::report_detail {

std::string md_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                     const std::vector<bool>& right) {
  std::string out = "|";
  for (const auto& cell : header) out += " " + cell + " |";
  out += "\n|";
  for (size_t i = 0; i < header.size(); ++i) out += i < right.size() && right[i] ? "---:|" : "---|";
  out += "\n";
  for (const auto& row : rows) {
    out += "|";
    for (size_t i = 0; i < header.size(); ++i) out += " " + (i < row.size() && !row[i].empty() ? row[i] : kDash) + " |";
    out += "\n";
  }
  return out;
}

std::string md_table_or(const std::string& none, const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right) {
  return rows.empty() ? none : md_table(header, rows, right);
}

}  // namespace edgepack::report_detail
