// GFM tables for the Markdown pages (report.md, summary.md). Internal to export/.
#pragma once
#include <string>
#include <vector>

namespace edgepack::report_detail {

// A header row, an alignment row (`right[i]`: column i right-aligned, for numbers) and the
// rows. Cells arrive already escaped (escape.h); a missing or empty cell shows as "-".
std::string md_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                     const std::vector<bool>& right);

// The table, or `none` (a sentence with its line break) when there are no rows.
std::string md_table_or(const std::string& none, const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right);

}  // namespace edgepack::report_detail
