// HTML building blocks of report.html and summary.html: the page frame with its inline CSS and
// a Content-Security-Policy that forbids scripts and any fetch (so even a missed escape could
// not run code or call out), tables of cells, PASS/FAIL badges and the headline cards.
//
// Internal to export/. Raw strings given here are escaped; Cell::html is markup already.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace edgepack::report_detail {

// A complete, self-contained page: doctype, head with CSP and style, `body` inside <main>.
std::string html_page(const std::string& title, const std::string& body);

struct Cell {
  std::string html;  // markup, already escaped
  bool num = false;  // right-aligned number
};

std::string html_table(const std::vector<Cell>& header, const std::vector<std::vector<Cell>>& rows,
                       const std::vector<std::string>& row_classes = {});

// A text cell (raw text, escaped here).
Cell t(const std::string& raw, bool num = false);
// A <code> cell; "-" for an empty or unknown string.
Cell code(const std::string& raw);

// A PASS / FAIL / "-" badge.
std::string badge(const std::optional<bool>& v);
// The CSS class of a verdict: "pass", "fail" or "unknown".
std::string verdict_class(const std::optional<bool>& v);

// A headline card: key, large value, detail line (all raw text).
std::string card(const std::string& key, const std::string& value, const std::string& detail);

}  // namespace edgepack::report_detail
