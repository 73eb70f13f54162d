// SVG bar charts for the HTML pages (report.html, summary.html), drawn as inline SVG with no
// script and no URL, styled by the page's CSS classes (html_page.cpp).
//
// One chart = rows (a label on the left, one thin bar per series, the values printed in a
// right-hand column) over a shared axis, with optional limit markers per row (budgets, RAM)
// drawn as red dashed lines. When values span more than ~2 decades (memory of a few hundred
// KiB against 2 GiB of RAM) the axis turns logarithmic and says so: a linear axis would show
// a bar too thin to see. Every text given here is raw and escaped when drawn.
//
// Internal to export/.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace edgepack::report_detail {

// The series colours the report charts share.
inline constexpr const char* kBefore = "#9aa5b1";
inline constexpr const char* kAfter = "#2f6fdf";
inline constexpr const char* kBytes = "#e8830c";

struct Series {
  std::string name;
  std::string color;
};

struct Marker {
  double value;
  std::string label;
};

struct ChartRow {
  std::string label;                          // raw text; escaped when drawn
  std::vector<std::optional<double>> values;  // one per series
  std::vector<std::string> value_text;        // one per series, raw text
  std::vector<Marker> markers;
};

// A tick value as "{:g}".
std::string plain_tick_text(double v);

struct Chart {
  std::string title;                  // aria label and caption
  std::string axis_title;             // under the axis
  std::vector<Series> series;
  std::vector<ChartRow> rows;
  bool shared_scale = true;           // false: each series scaled to its own largest value, no axis
  std::function<std::string(double)> tick_text = plain_tick_text;
  std::optional<std::pair<double, double>> domain;  // fixed linear domain (accuracy: 0..1)
};

// The chart as one <figure> with its caption.
std::string svg_chart(const Chart& c);

}  // namespace edgepack::report_detail
