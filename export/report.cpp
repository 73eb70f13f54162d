// Markdown and HTML reports from manifest.json / summary.json (see report.h).
//
// Structure: tolerant accessors over the JSON (a report of a half-filled manifest is still
// useful, so nothing here throws on a missing or odd field), number formatting shared by both
// outputs, a small SVG bar-chart renderer, then the four pages.
#include "export/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/human_format.h"

namespace edgepack {

namespace {

using json = nlohmann::json;

constexpr double kMiB = 1024.0 * 1024.0;
const char* const kDash = "-";

// ---------------------------------------------------------------------------------------------
// Tolerant access: every getter answers "unknown" (nullptr / nullopt) instead of throwing, and
// never uses operator[] on a const json (undefined behaviour for a missing key).

const json* get(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::optional<double> num(const json& j, std::initializer_list<const char*> path) {
  const json* v = get(j, path);
  if (!v || !v->is_number()) return std::nullopt;
  const double d = v->get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

std::optional<bool> flag(const json& j, std::initializer_list<const char*> path) {
  const json* v = get(j, path);
  if (!v || !v->is_boolean()) return std::nullopt;
  return v->get<bool>();
}

// Strings as they are; numbers and booleans in their JSON spelling (a version written as 1.0
// still shows); anything else is unknown. `replace` keeps a dump of bad UTF-8 from throwing.
std::optional<std::string> text(const json& j, std::initializer_list<const char*> path) {
  const json* v = get(j, path);
  if (!v) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number() || v->is_boolean()) return v->dump(-1, ' ', false, json::error_handler_t::replace);
  return std::nullopt;
}

const json& array_at(const json& j, std::initializer_list<const char*> path) {
  static const json empty = json::array();
  const json* v = get(j, path);
  return v && v->is_array() ? *v : empty;
}

std::string or_dash(const std::optional<std::string>& s) { return s && !s->empty() ? *s : kDash; }

// The schema check: the one refusal the renderers make.
void check_schema(const json& doc, const char* expected, const char* what) {
  std::optional<std::string> schema = text(doc, {"schema"});
  if (!schema)
    throw InputError(fmt::format("{} has no schema (expected {})", what, expected));
  if (*schema != expected) {
    std::string shown = schema->size() > 80 ? schema->substr(0, 80) + "..." : *schema;
    throw InputError(fmt::format("{} has schema '{}', expected {}", what, shown, expected));
  }
}

// ---------------------------------------------------------------------------------------------
// Numbers: core/human_format.h, the same spellings as `edgepack inspect`.

std::string percent(double fraction) { return fmt::format("{:.2f}%", 100 * fraction); }
std::string points(double p) { return fmt::format("{:+.2f} points", p); }

using Fmt = std::string (*)(double);
std::string opt(const std::optional<double>& v, Fmt f) { return v ? f(*v) : kDash; }

// after/before as "0.26x"; "-" when either is unknown or before is zero.
std::string ratio(const std::optional<double>& after, const std::optional<double>& before) {
  if (!after || !before || *before == 0) return kDash;
  const double r = *after / *before;
  return std::abs(r) >= 0.1 ? fmt::format("{:.2f}x", r) : fmt::format("{:.2g}x", r);
}

// A share of RAM: "0.012%", "45%", and "<0.01%" rather than a string of zeros.
std::string of_ram(double used, double ram) {
  const double p = 100 * used / ram;
  if (p > 0 && p < 0.01) return "<0.01%";
  return p >= 10 ? fmt::format("{:.0f}%", p) : fmt::format("{:.2g}%", p);
}

// Gate limits and values are in the unit the gate's name says (docs/compress.md budgets).
std::string gate_amount(const std::string& gate, const std::optional<double>& v) {
  if (!v) return kDash;
  if (gate == "max-latency-ms") return human_ms(*v);
  if (gate == "max-size-mb" || gate == "max-memory-mb") return human_bytes(*v * kMiB);
  // fits-ram holds memory against RAM in bytes, like any gate named in bytes.
  if (gate == "fits-ram" || (gate.size() > 6 && gate.compare(gate.size() - 6, 6, "-bytes") == 0)) return human_bytes(*v);
  if (gate == "max-accuracy-drop") return fmt::format("{:.2f} points", *v);
  return fmt::format("{:.4g}", *v);
}

// The RAM the memory estimate is held against: the estimate's own figure, else the target's.
std::optional<double> ram_bytes(const json& m) {
  if (auto r = num(m, {"after", "ram_bytes"})) return r;
  if (auto r = num(m, {"target", "ram_mb"})) return *r * kMiB;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Escaping.

// Cuts `s` to at most `max_bytes` without splitting a UTF-8 sequence, marking the cut.
std::string shorten(const std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "\u2026";
}

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7F; }

// A string as an inline code span: long enough backtick fences for backticks inside, and `|`
// escaped where the span sits in a GFM table (which splits cells before parsing spans).
std::string md_code(const std::string& s, bool in_table = true) {
  if (s.empty() || s == kDash) return kDash;
  std::string body;
  size_t run = 0, longest = 0;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    run = ch == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
    if (is_control(c)) body += ' ';
    else if (ch == '|' && in_table) body += "\\|";
    else body += ch;
  }
  const std::string fence(longest + 1, '`');
  const bool pad = body.front() == '`' || body.back() == '`' || body.front() == ' ';
  return pad ? fence + " " + body + " " + fence : fence + body + fence;
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += is_control(c) && ch != '\n' && ch != '\t' ? ' ' : ch;
    }
  }
  return out;
}

// Backslash-escapes what Markdown would read as markup. `<` only before what could open an
// HTML tag and `&` only before what could spell an entity: a reason like "0.9 ms <= 33 ms"
// stays readable in a CI log. Line breaks become spaces (they would end a table row).
std::string markdown_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    const auto c = static_cast<unsigned char>(ch);
    const char next = i + 1 < s.size() ? s[i + 1] : '\0';
    const bool alpha_next = std::isalpha(static_cast<unsigned char>(next)) != 0;
    if (is_control(c)) {
      out += ' ';
    } else if (std::string_view("\\`*_[]|~").find(ch) != std::string_view::npos ||
               (ch == '<' && (alpha_next || next == '/' || next == '!' || next == '?')) ||
               (ch == '&' && (alpha_next || next == '#'))) {
      out += '\\';
      out += ch;
    } else {
      out += ch;
    }
  }
  return out;
}

namespace {

std::string h(const std::string& s) { return html_escape(s); }
std::string md(const std::string& s) { return markdown_escape(s); }

// ---------------------------------------------------------------------------------------------
// Markdown tables.

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

// ---------------------------------------------------------------------------------------------
// SVG bar charts. One chart = rows (a label on the left, one thin bar per series, the values
// printed in a right-hand column) over a shared axis, with optional limit markers per row
// (budgets, RAM) drawn as red dashed lines. When values span more than ~2 decades (memory of a
// few hundred KiB against 2 GiB of RAM) the axis turns logarithmic and says so: a linear axis
// would show a bar too thin to see.

struct Series {
  std::string name;
  std::string color;
};

struct Marker {
  double value;
  std::string label;
};

struct Row {
  std::string label;                          // raw text; escaped when drawn
  std::vector<std::optional<double>> values;  // one per series
  std::vector<std::string> value_text;        // one per series, raw text
  std::vector<Marker> markers;
};

struct Chart {
  std::string title;                  // aria label and caption
  std::string axis_title;             // under the axis
  std::vector<Series> series;
  std::vector<Row> rows;
  bool shared_scale = true;           // false: each series scaled to its own largest value, no axis
  std::function<std::string(double)> tick_text = [](double v) { return fmt::format("{:g}", v); };
  std::optional<std::pair<double, double>> domain;  // fixed linear domain (accuracy: 0..1)
};

struct Scale {
  double lo = 0, hi = 1;
  bool log = false;
  double frac(double v) const {
    double f;
    if (log) f = v <= lo ? 0 : (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    else f = (v - lo) / (hi - lo);
    return std::clamp(f, 0.0, 1.0);
  }
  std::vector<double> ticks() const {
    std::vector<double> t;
    if (log) {
      for (double v = lo; v <= hi * 1.0001; v *= 10) t.push_back(v);
      return t;
    }
    const double step = nice_step(hi - lo);
    for (int i = 0; lo + i * step <= hi * (1 + 1e-9) && i < 50; ++i) t.push_back(lo + i * step);
    return t;
  }
  static double nice_step(double span) {
    const double raw = span / 5;
    const double mag = std::pow(10, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
      if (m * mag >= raw * (1 - 1e-9)) return m * mag;
    return 10 * mag;
  }
};

Scale make_scale(const std::vector<double>& values, bool allow_log) {
  double max = 0, min_pos = 0;
  for (double v : values) {
    if (!(v > 0) || !std::isfinite(v)) continue;
    max = std::max(max, v);
    min_pos = min_pos == 0 ? v : std::min(min_pos, v);
  }
  Scale s;
  if (max <= 0) return s;
  if (allow_log && max / min_pos > 200) {
    s.log = true;
    s.lo = std::pow(10, std::floor(std::log10(min_pos)));
    s.hi = std::pow(10, std::ceil(std::log10(max)));
    if (s.hi <= s.lo) s.hi = s.lo * 10;
    return s;
  }
  const double step = Scale::nice_step(max);
  s.hi = std::ceil(max / step * (1 - 1e-9)) * step;
  if (s.hi < max) s.hi += step;
  return s;
}

std::string num_attr(double v) { return fmt::format("{:.1f}", v); }

std::string svg_chart(const Chart& c) {
  constexpr double width = 760, label_w = 200, value_w = 170;
  constexpr double x0 = label_w + 8, x1 = width - value_w - 8;
  constexpr double bar_h = 12, bar_gap = 3, row_gap = 12, marker_room = 14, legend_h = 22, axis_h = 36;
  const size_t ns = c.series.size();

  // Scales: one shared (with the markers inside the domain), or one per series.
  std::vector<Scale> scales;
  if (c.shared_scale) {
    Scale s;
    if (c.domain) {
      s.lo = c.domain->first;
      s.hi = c.domain->second;
    } else {
      std::vector<double> all;
      for (const Row& r : c.rows) {
        for (const auto& v : r.values)
          if (v) all.push_back(*v);
        for (const Marker& m : r.markers) all.push_back(m.value);
      }
      s = make_scale(all, true);
    }
    scales.assign(std::max<size_t>(ns, 1), s);
  } else {
    for (size_t k = 0; k < ns; ++k) {
      std::vector<double> col;
      for (const Row& r : c.rows)
        if (k < r.values.size() && r.values[k]) col.push_back(*r.values[k]);
      double max = 0;
      for (double v : col) max = std::max(max, v);
      Scale s;
      s.hi = max > 0 ? max : 1;
      scales.push_back(s);
    }
    if (scales.empty()) scales.emplace_back();
  }
  const auto xpos = [&](size_t k, double v) { return x0 + scales[k].frac(v) * (x1 - x0); };

  bool any_marker = false;
  for (const Row& r : c.rows) any_marker = any_marker || !r.markers.empty();

  std::string body;
  double y = legend_h + 6;
  // Legend: series swatches, then the marker's meaning.
  {
    double lx = x0;
    for (const Series& s : c.series) {
      body += fmt::format(R"(<rect x="{}" y="6" width="10" height="10" rx="2" fill="{}"/>)", num_attr(lx), s.color);
      body += fmt::format(R"(<text x="{}" y="15" class="legend">{}</text>)", num_attr(lx + 14), h(s.name));
      lx += 24 + 7.0 * static_cast<double>(s.name.size());
    }
    if (any_marker) {
      body += fmt::format(R"(<line x1="{0}" x2="{0}" y1="4" y2="18" class="limit"/>)", num_attr(lx + 4));
      body += fmt::format(R"(<text x="{}" y="15" class="legend">limit</text>)", num_attr(lx + 12));
    }
    if (!c.shared_scale)
      body += fmt::format(R"(<text x="{}" y="15" class="legend" text-anchor="end">each series scaled to its largest row</text>)",
                          num_attr(width - 4));
  }

  const double plot_top = y;
  std::string rows_svg, grid;
  for (const Row& r : c.rows) {
    if (!r.markers.empty()) y += marker_room;
    const double row_top = y;
    const double row_h = static_cast<double>(ns) * bar_h + static_cast<double>(ns > 0 ? ns - 1 : 0) * bar_gap;
    // Label, vertically centred on the bars; the full text in a tooltip when shortened.
    const std::string shown = shorten(r.label, 28);
    rows_svg += fmt::format(R"(<text x="{}" y="{}" class="label" text-anchor="end">{}{}</text>)", num_attr(label_w),
                            num_attr(row_top + row_h / 2 + 4), h(shown),
                            shown != r.label ? "<title>" + h(r.label) + "</title>" : "");
    for (size_t k = 0; k < ns; ++k) {
      const double by = row_top + static_cast<double>(k) * (bar_h + bar_gap);
      // A plain flag and value: GCC -O3 sees a copied std::optional as maybe uninitialized.
      const bool known = k < r.values.size() && r.values[k].has_value();
      const double v = known ? r.values[k].value() : 0.0;
      const std::string vt = k < r.value_text.size() ? r.value_text[k] : (known ? fmt::format("{:g}", v) : kDash);
      if (known) {
        // A non-zero value always gets a sliver, so "tiny" never reads as "missing".
        double w = xpos(k, v) - x0;
        if (v > 0 && w < 1.5) w = 1.5;
        rows_svg += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" rx="2" fill="{}"><title>{}: {}</title></rect>)",
                                num_attr(x0), num_attr(by), num_attr(std::max(0.0, w)), num_attr(bar_h),
                                c.series[k].color, h(c.series[k].name), h(vt));
      }
      rows_svg += fmt::format(R"(<text x="{}" y="{}" class="value">{}</text>)", num_attr(x1 + 10), num_attr(by + bar_h - 2),
                              h(vt));
    }
    // Limit markers: a dashed line over the row, its label above; two close labels are pushed
    // apart by anchoring them on opposite sides of their lines.
    std::vector<double> xs;
    for (const Marker& m : r.markers) xs.push_back(xpos(0, m.value));
    for (size_t i = 0; i < r.markers.size(); ++i) {
      const double mx = xs[i];
      bool close_left = false, close_right = false;
      for (size_t j = 0; j < xs.size(); ++j) {
        if (j == i || std::abs(xs[j] - mx) > 90) continue;
        (xs[j] < mx || (xs[j] == mx && j < i) ? close_left : close_right) = true;
      }
      std::string anchor = "middle";
      double tx = mx;
      if (close_right || mx > x1 - 60) {
        anchor = "end";
        tx = mx - 3;
      } else if (close_left || mx < x0 + 60) {
        anchor = "start";
        tx = mx + 3;
      }
      rows_svg += fmt::format(R"(<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" class="limit"><title>{3}</title></line>)",
                              num_attr(mx), num_attr(row_top - 4), num_attr(row_top + row_h + 4), h(r.markers[i].label));
      rows_svg += fmt::format(R"(<text x="{}" y="{}" class="mlabel" text-anchor="{}">{}</text>)", num_attr(tx),
                              num_attr(row_top - 5), anchor, h(r.markers[i].label));
    }
    y += row_h + row_gap;
  }
  const double plot_bottom = y - row_gap / 2;

  // Axis and grid behind the bars (shared scale only: per-series scales have no common axis).
  if (c.shared_scale && ns > 0) {
    for (double t : scales[0].ticks()) {
      const double tx = xpos(0, t);
      grid += fmt::format(R"(<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" class="grid"/>)", num_attr(tx), num_attr(plot_top),
                          num_attr(plot_bottom));
      grid += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="middle">{}</text>)", num_attr(tx),
                          num_attr(plot_bottom + 14), h(c.tick_text(t)));
    }
    std::string axis = c.axis_title + (scales[0].log ? " (log scale)" : "");
    grid += fmt::format(R"(<text x="{}" y="{}" class="axis" text-anchor="middle">{}</text>)", num_attr((x0 + x1) / 2),
                        num_attr(plot_bottom + 30), h(axis));
    y = plot_bottom + axis_h;
  } else {
    y = plot_bottom + 6;
  }
  grid += fmt::format(R"(<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" class="base"/>)", num_attr(x0), num_attr(plot_top - 2),
                      num_attr(plot_bottom));

  // No xmlns: inline SVG in HTML5 needs none, and the page carries no URL at all.
  return fmt::format(R"(<figure class="chart"><figcaption>{}</figcaption>)"
                     R"(<svg viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">{}{}{}</svg></figure>)",
                     h(c.title), width, num_attr(y), h(c.title), grid, rows_svg, body);
}

const char* const kBefore = "#9aa5b1";
const char* const kAfter = "#2f6fdf";
const char* const kBytes = "#e8830c";

// ---------------------------------------------------------------------------------------------
// Manifest pieces shared by the Markdown and the HTML report.

struct GateRow {
  std::string name;
  std::string limit, value;
  std::optional<bool> passed;
};

std::vector<GateRow> gate_rows(const json& m) {
  std::vector<GateRow> out;
  for (const json& g : array_at(m, {"gates"})) {
    GateRow r;
    r.name = or_dash(text(g, {"name"}));
    r.limit = gate_amount(r.name, num(g, {"limit"}));
    r.value = gate_amount(r.name, num(g, {"value"}));
    r.passed = flag(g, {"passed"});
    out.push_back(r);
  }
  return out;
}

// PASS when the manifest says so and no gate failed; FAIL when either says otherwise;
// unknown when neither says.
std::optional<bool> verdict(const std::optional<bool>& passed, const std::vector<GateRow>& gates) {
  bool any_failed = false;
  for (const GateRow& g : gates) any_failed = any_failed || g.passed == false;
  if (any_failed || passed == false) return false;
  return passed;
}

std::string verdict_word(const std::optional<bool>& v) { return v ? (*v ? "PASS" : "FAIL") : kDash; }

// "1 of 2 gates not met: max-latency-ms 41.2 ms > 33 ms" / "all 2 gates met" / "no gates set".
std::string verdict_detail(const std::optional<bool>& v, const std::vector<GateRow>& gates) {
  std::vector<std::string> failed;
  for (const GateRow& g : gates)
    if (g.passed == false) failed.push_back(fmt::format("{} {} > {}", g.name, g.value, g.limit));
  if (!failed.empty())
    return fmt::format("{} of {} gates not met: {}", failed.size(), gates.size(), fmt::join(failed, "; "));
  if (v == false) return "the run is marked failing";
  if (gates.empty()) return "no gates set";
  return fmt::format("all {} gates met", gates.size());
}

std::string target_title(const json& m) {
  std::optional<std::string> name = text(m, {"target", "name"}), id = text(m, {"target", "id"});
  if (name && id && *name != *id) return *name + " (" + *id + ")";
  return name ? *name : or_dash(id);
}

// Target figures: the known ones in a fixed order with units, then any other scalar figure
// (a newer planner may add some) as it stands.
std::vector<std::pair<std::string, std::string>> target_figures(const json& m) {
  std::vector<std::pair<std::string, std::string>> rows;
  const json* t = get(m, {"target"});
  if (!t || !t->is_object()) return rows;
  const auto with_conf = [&](const std::string& v, const char* conf_key) {
    std::optional<std::string> conf = text(*t, {conf_key});
    return conf ? v + " (" + *conf + ")" : v;
  };
  rows.push_back({"id", or_dash(text(*t, {"id"}))});
  rows.push_back({"name", or_dash(text(*t, {"name"}))});
  auto tops = num(*t, {"int8_tops"});
  rows.push_back({"INT8 compute", with_conf(tops ? fmt::format("{:g} TOPS", *tops) : kDash, "int8_tops_confidence")});
  auto bw = num(*t, {"bandwidth_gbps"});
  rows.push_back({"memory bandwidth", with_conf(bw ? fmt::format("{:g} GB/s", *bw) : kDash, "bandwidth_gbps_confidence")});
  auto ram = num(*t, {"ram_mb"});
  rows.push_back({"RAM", with_conf(ram ? human_bytes(*ram * kMiB) : kDash, "ram_mb_confidence")});
  std::vector<std::string> precisions;
  for (const json& p : array_at(*t, {"precisions"}))
    if (p.is_string()) precisions.push_back(p.get<std::string>());
  rows.push_back({"precisions", precisions.empty() ? kDash : fmt::format("{}", fmt::join(precisions, ", "))});
  static const std::vector<std::string> known = {"id", "name", "int8_tops", "int8_tops_confidence", "bandwidth_gbps",
                                                 "bandwidth_gbps_confidence", "ram_mb", "ram_mb_confidence", "precisions"};
  for (auto it = t->begin(); it != t->end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
    if (it->is_string() || it->is_number() || it->is_boolean())
      rows.push_back({it.key(), it->is_string() ? it->get<std::string>() : it->dump()});
  }
  return rows;
}

std::vector<std::pair<std::string, std::string>> budget_rows(const json& m) {
  const auto mb = [&](const char* key) {
    auto v = num(m, {"budgets", key});
    return v ? human_bytes(*v * kMiB) : kDash;
  };
  auto lat = num(m, {"budgets", "max_latency_ms"});
  auto drop = num(m, {"budgets", "max_accuracy_drop"});
  return {{"max latency", lat ? human_ms(*lat) : kDash},
          {"max size", mb("max_size_mb")},
          {"max memory", mb("max_memory_mb")},
          {"max accuracy drop", drop ? fmt::format("{:.2f} points", *drop) : kDash}};
}

struct Candidate {
  std::string pipeline, macs, weights, latency, memory, fits, why;
  bool chosen = false;
};

std::vector<Candidate> candidates(const json& m) {
  std::optional<std::string> chosen = text(m, {"plan", "chosen"});
  std::vector<Candidate> out;
  for (const json& c : array_at(m, {"plan", "candidates"})) {
    Candidate r;
    std::optional<std::string> p = text(c, {"pipeline"});
    r.pipeline = p.value_or("");
    r.chosen = p && chosen && *p == *chosen;
    r.macs = opt(num(c, {"macs"}), human_count);
    r.weights = opt(num(c, {"weight_bytes"}), human_bytes);
    r.latency = opt(num(c, {"latency_ms"}), human_ms);
    r.memory = opt(num(c, {"memory_bytes"}), human_bytes);
    auto fits = flag(c, {"fits"});
    r.fits = fits ? (*fits ? "yes" : "no") : kDash;
    r.why = or_dash(text(c, {"why"}));
    out.push_back(r);
  }
  return out;
}

// Before/after rows: label, before, after, change.
std::vector<std::vector<std::string>> before_after(const json& m) {
  std::vector<std::vector<std::string>> rows;
  const auto row = [&](const std::string& label, const char* key, Fmt f) {
    auto b = num(m, {"before", key}), a = num(m, {"after", key});
    rows.push_back({label, opt(b, f), opt(a, f), ratio(a, b)});
  };
  row("parameters", "params", grouped);
  row("MACs", "macs", grouped);
  row("file size", "bytes", human_bytes);
  row("est. latency (lower bound)", "latency_ms", human_ms);
  row("memory (weights + peak activations)", "memory_bytes", human_bytes);
  auto ab = num(m, {"accuracy", "before"}), aa = num(m, {"accuracy", "after"});
  if (!ab) ab = num(m, {"before", "accuracy"});
  if (!aa) aa = num(m, {"after", "accuracy"});
  std::string metric = or_dash(text(m, {"accuracy", "metric"}));
  rows.push_back({"accuracy (" + metric + ")", opt(ab, percent), opt(aa, percent),
                  ab && aa ? points(100 * (*aa - *ab)) : kDash});
  return rows;
}

// One sentence on the latency bound and RAM fit, or "" when the manifest says nothing.
std::string estimate_note(const json& m) {
  std::vector<std::string> parts;
  auto compute = num(m, {"after", "compute_ms"}), memory = num(m, {"after", "memory_ms"});
  std::optional<std::string> bound = text(m, {"after", "bound"});
  if (bound || compute || memory)
    parts.push_back(fmt::format("The latency estimate is a lower bound, {}-bound (compute alone {}, weight and "
                                "activation traffic alone {}).",
                                or_dash(bound), opt(compute, human_ms), opt(memory, human_ms)));
  auto mem = num(m, {"after", "memory_bytes"});
  auto ram = ram_bytes(m);
  auto fits = flag(m, {"after", "fits_ram"});
  if (mem && ram && *ram > 0)
    parts.push_back(fmt::format("Memory {} of {} RAM ({}){}.", human_bytes(*mem), human_bytes(*ram), of_ram(*mem, *ram),
                                fits ? (*fits ? ": fits" : ": does NOT fit") : ""));
  else if (fits)
    parts.push_back(*fits ? "The model fits the target's RAM." : "The model does NOT fit the target's RAM.");
  return fmt::format("{}", fmt::join(parts, " "));
}

struct Layer {
  std::string name, op;
  std::optional<double> macs, bytes, latency;
};

std::vector<Layer> all_layers(const json& m) {
  std::vector<Layer> out;
  for (const json& l : array_at(m, {"layers"}))
    out.push_back({or_dash(text(l, {"name"})), or_dash(text(l, {"op"})), num(l, {"macs"}), num(l, {"bytes"}),
                   num(l, {"latency_ms"})});
  return out;
}

// The k largest layers by `key` (graph order among equals). A partial
// sort: a manifest may list hundreds of thousands of nodes.
std::vector<const Layer*> top_layers(const std::vector<Layer>& layers, std::optional<double> Layer::*key, size_t k) {
  // Layers with nothing to rank by (Relu, QuantizeLinear: no MACs, no weights) would only pad
  // the tables and the chart.
  std::vector<const Layer*> ptrs;
  for (const Layer& l : layers)
    if ((l.*key).value_or(0) > 0) ptrs.push_back(&l);
  k = std::min(k, ptrs.size());
  std::partial_sort(ptrs.begin(), ptrs.begin() + static_cast<std::ptrdiff_t>(k), ptrs.end(),
                    [key](const Layer* a, const Layer* b) {
                      const double va = (a->*key).value_or(0), vb = (b->*key).value_or(0);
                      return va != vb ? va > vb : a < b;
                    });
  ptrs.resize(k);
  return ptrs;
}

double layer_total(const std::vector<Layer>& layers, std::optional<double> Layer::*key) {
  double total = 0;
  for (const Layer& l : layers) total += (l.*key).value_or(0);
  return total;
}

std::string share(const std::optional<double>& v, double total) {
  return v && total > 0 ? fmt::format("{:.1f}%", 100 * *v / total) : kDash;
}

// Pass statistics as "key=value, ...", strings unquoted.
std::string stats_text(const json& p) {
  const json* s = get(p, {"stats"});
  if (!s || !s->is_object() || s->empty()) return kDash;
  std::vector<std::string> parts;
  for (auto it = s->begin(); it != s->end(); ++it)
    parts.push_back(it.key() + "=" +
                    (it->is_string() ? it->get<std::string>() : it->dump(-1, ' ', false, json::error_handler_t::replace)));
  return fmt::format("{}", fmt::join(parts, ", "));
}

struct ProvRow {
  std::string what, detail, digest;
};

std::vector<ProvRow> provenance(const json& m) {
  const auto bytes = [&](const char* obj) {
    auto b = num(m, {obj, "bytes"});
    return b ? fmt::format("{} B ({})", grouped(*b), human_bytes(*b)) : std::string(kDash);
  };
  std::vector<ProvRow> rows;
  rows.push_back({"input model", or_dash(text(m, {"input", "path"})) + ", " + bytes("input"), or_dash(text(m, {"input", "sha256"}))});
  rows.push_back({"output model", or_dash(text(m, {"output", "file"})) + ", " + bytes("output"),
                  or_dash(text(m, {"output", "sha256"}))});
  auto cal = num(m, {"calibration", "samples"});
  rows.push_back({"calibration data", cal ? grouped(*cal) + " samples" : kDash, or_dash(text(m, {"calibration", "digest"}))});
  auto ev = num(m, {"accuracy", "eval_samples"});
  rows.push_back({"evaluation data", (ev ? grouped(*ev) + " samples" : std::string(kDash)) + ", metric " +
                                         or_dash(text(m, {"accuracy", "metric"})),
                  or_dash(text(m, {"accuracy", "eval_digest"}))});
  rows.push_back({"tool", or_dash(text(m, {"tool", "name"})) + " " + or_dash(text(m, {"tool", "version"})), ""});
  rows.push_back({"created", or_dash(text(m, {"created"})), ""});
  rows.push_back({"schema", or_dash(text(m, {"schema"})), ""});
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Charts of the report.

Chart chart_budget(const json& m, const char* title, const char* label, const char* key, const char* axis, double unit,
                   std::string (*value_fmt)(double), std::vector<Marker> markers) {
  Chart c;
  c.title = title;
  c.axis_title = axis;
  c.series = {{"before", kBefore}, {"after", kAfter}};
  auto b = num(m, {"before", key}), a = num(m, {"after", key});
  Row r;
  r.label = label;
  r.values = {b ? std::optional<double>(*b / unit) : std::nullopt, a ? std::optional<double>(*a / unit) : std::nullopt};
  r.value_text = {"before " + opt(b, value_fmt), "after " + opt(a, value_fmt)};
  r.markers = std::move(markers);
  c.rows.push_back(r);
  return c;
}

std::string report_charts_envelope(const json& m) {
  std::string out;
  {
    std::vector<Marker> mk;
    if (auto v = num(m, {"budgets", "max_latency_ms"})) mk.push_back({*v, "budget " + human_ms(*v)});
    out += svg_chart(chart_budget(m, "Estimated latency against the budget", "est. latency", "latency_ms", "milliseconds", 1, human_ms, mk));
  }
  {
    std::vector<Marker> mk;
    if (auto v = num(m, {"budgets", "max_size_mb"})) mk.push_back({*v, "budget " + human_bytes(*v * kMiB)});
    out += svg_chart(chart_budget(m, "Model file size against the budget", "file size", "bytes", "MiB", kMiB, human_bytes, mk));
  }
  {
    std::vector<Marker> mk;
    if (auto v = num(m, {"budgets", "max_memory_mb"})) mk.push_back({*v, "budget " + human_bytes(*v * kMiB)});
    if (auto r = ram_bytes(m)) mk.push_back({*r / kMiB, "RAM " + human_bytes(*r)});
    out += svg_chart(chart_budget(m, "Memory (weights + peak activations) against the budget and the RAM", "memory", "memory_bytes", "MiB", kMiB, human_bytes, mk));
  }
  return out;
}

std::string report_chart_accuracy(const json& m) {
  auto ab = num(m, {"accuracy", "before"}), aa = num(m, {"accuracy", "after"});
  if (!ab) ab = num(m, {"before", "accuracy"});
  if (!aa) aa = num(m, {"after", "accuracy"});
  Chart c;
  c.title = "Accuracy (" + or_dash(text(m, {"accuracy", "metric"})) + ")";
  c.axis_title = "percent";
  c.series = {{"before", kBefore}, {"after", kAfter}};
  c.domain = std::make_pair(0.0, 100.0);
  Row r;
  r.label = or_dash(text(m, {"accuracy", "metric"}));
  r.values = {ab ? std::optional<double>(100 * *ab) : std::nullopt, aa ? std::optional<double>(100 * *aa) : std::nullopt};
  r.value_text = {"before " + opt(ab, percent), "after " + opt(aa, percent)};
  // The accuracy gate as the lowest accuracy it lets through.
  if (auto drop = num(m, {"budgets", "max_accuracy_drop"}); drop && ab)
    r.markers.push_back({100 * *ab - *drop, fmt::format("gate: at least {:.2f}%", 100 * *ab - *drop)});
  c.rows.push_back(r);
  c.tick_text = [](double v) { return fmt::format("{:g}%", v); };
  return svg_chart(c);
}

std::string report_chart_layers(const std::vector<Layer>& layers) {
  Chart c;
  c.title = "Top layers by MACs, with their weight bytes";
  c.series = {{"MACs", kAfter}, {"weight bytes", kBytes}};
  c.shared_scale = false;
  for (const Layer* l : top_layers(layers, &Layer::macs, 20)) {
    Row r;
    r.label = l->name;
    r.values = {l->macs, l->bytes};
    r.value_text = {opt(l->macs, human_count) + " MACs", opt(l->bytes, human_bytes)};
    c.rows.push_back(r);
  }
  return svg_chart(c);
}

// ---------------------------------------------------------------------------------------------
// Page frame for the HTML: a restrained style, readable printed too. A CSP forbids scripts
// and any fetch, so even a missed escape could not run code or call out.

const char* const kCss = R"(
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--pass:#1a7f37;--fail:#cf222e;--accent:#2f6fdf}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:#fff;font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:1000px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:17px;margin:32px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:18px 0 8px}
p{margin:8px 0}
.sub{color:var(--muted);margin:0 0 16px}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--soft);padding:1px 5px;border-radius:4px;word-break:break-all}
table{border-collapse:collapse;width:100%;margin:8px 0 4px;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);font-weight:600;font-size:13px}
td.num,th.num{text-align:right;white-space:nowrap}
tr.chosen td{background:#eef4ff}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;letter-spacing:.3px;color:#fff}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}.badge.unknown{background:var(--muted)}
.tag{display:inline-block;margin-left:6px;padding:0 6px;border-radius:8px;font-size:11px;background:var(--accent);color:#fff}
.verdict{padding:12px 16px;border-radius:8px;margin:12px 0 20px;font-size:15px;border:1px solid}
.verdict.pass{background:#e9f6ec;border-color:#9bd3a9;color:#11532a}
.verdict.fail{background:#fdecee;border-color:#f2a7ae;color:#8c1520}
.verdict.unknown{background:var(--soft);border-color:var(--line)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:12px;margin:8px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.4px}
.card .v{font-size:18px;font-weight:600;margin-top:2px}
.card .d{color:var(--muted);font-size:12.5px}
.note{color:var(--muted);font-size:13px}
figure.chart{margin:10px 0 14px}
figure.chart figcaption{font-weight:600;font-size:13px;margin-bottom:2px}
svg text{font-family:inherit;font-size:12px;fill:var(--fg)}
svg text.value{fill:var(--muted);font-variant-numeric:tabular-nums}
svg text.tick,svg text.axis,svg text.legend{fill:var(--muted);font-size:11px}
svg text.mlabel{fill:var(--fail);font-size:11px}
svg line.grid{stroke:#eaeef2}
svg line.base{stroke:#8c959f}
svg line.limit{stroke:var(--fail);stroke-width:2;stroke-dasharray:4 3}
.two{display:grid;grid-template-columns:1fr 1fr;gap:20px}
@media (max-width:800px){.two{grid-template-columns:1fr}}
footer{margin-top:36px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:10px}
@media print{main{max-width:none;padding:0}h2{break-after:avoid}figure,table{break-inside:avoid}}
)";

std::string html_page(const std::string& title, const std::string& body) {
  return fmt::format(R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{}</title>
<style>{}</style>
</head>
<body>
<main>
{}
</main>
</body>
</html>
)",
                     h(title), kCss, body);
}

struct Cell {
  std::string html;
  bool num = false;
};

std::string html_table(const std::vector<Cell>& header, const std::vector<std::vector<Cell>>& rows,
                       const std::vector<std::string>& row_classes = {}) {
  std::string out = "<table><thead><tr>";
  for (const Cell& c : header) out += c.num ? "<th class=\"num\">" + c.html + "</th>" : "<th>" + c.html + "</th>";
  out += "</tr></thead><tbody>\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string cls = i < row_classes.size() && !row_classes[i].empty() ? " class=\"" + row_classes[i] + "\"" : "";
    out += "<tr" + cls + ">";
    for (const Cell& c : rows[i]) out += c.num ? "<td class=\"num\">" + c.html + "</td>" : "<td>" + c.html + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n";
}

Cell t(const std::string& raw, bool num = false) { return {h(raw), num}; }
Cell code(const std::string& raw) { return {raw.empty() || raw == kDash ? kDash : "<code>" + h(raw) + "</code>", false}; }

std::string badge(const std::optional<bool>& v) {
  if (!v) return R"(<span class="badge unknown">-</span>)";
  return *v ? R"(<span class="badge pass">PASS</span>)" : R"(<span class="badge fail">FAIL</span>)";
}

std::string verdict_class(const std::optional<bool>& v) { return v ? (*v ? "pass" : "fail") : "unknown"; }

std::string card(const std::string& key, const std::string& value, const std::string& detail) {
  return fmt::format(R"(<div class="card"><div class="k">{}</div><div class="v">{}</div><div class="d">{}</div></div>)", h(key),
                     h(value), h(detail));
}

}  // namespace

// =============================================================================================
// Report: Markdown.

std::string render_report_markdown(const json& m) {
  check_schema(m, kManifestSchema, "manifest");
  const std::vector<GateRow> gates = gate_rows(m);
  const std::optional<bool> ok = verdict(flag(m, {"passed"}), gates);
  std::string out;
  out += fmt::format("# edgepack report: {}\n\n", md(target_title(m)));
  out += fmt::format("**Result: {}** ({}).\n\n", verdict_word(ok), md(verdict_detail(ok, gates)));
  if (flag(m, {"after", "fits_ram"}) == false) out += "**The model does not fit the target's RAM.**\n\n";
  out += fmt::format("Model {} -> {}, pipeline {}; {} {}, {}.\n", md_code(or_dash(text(m, {"input", "path"})), false),
                     md_code(or_dash(text(m, {"output", "file"})), false), md_code(or_dash(text(m, {"pipeline"})), false),
                     md(or_dash(text(m, {"tool", "name"}))), md(or_dash(text(m, {"tool", "version"}))),
                     md(or_dash(text(m, {"created"}))));

  out += "\n## Target\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& [k, v] : target_figures(m)) rows.push_back({md(k), k == "id" ? md_code(v) : md(v)});
  for (const auto& [k, v] : budget_rows(m)) rows.push_back({"budget: " + k, md(v)});
  out += md_table({"figure", "value"}, rows, {false, true});

  out += "\n## Plan\n\n";
  out += fmt::format("Chosen: {}\n\n", md_code(or_dash(text(m, {"plan", "chosen"})), false));
  out += fmt::format("Why: {}\n\n", md(or_dash(text(m, {"plan", "reason"}))));
  rows.clear();
  for (const Candidate& c : candidates(m))
    rows.push_back({md_code(c.pipeline) + (c.chosen ? " **(chosen)**" : ""), c.macs, c.weights, c.latency, c.memory,
                    c.fits, md(c.why)});
  if (rows.empty()) out += "No candidates recorded.\n";
  else
    out += md_table({"candidate pipeline", "MACs", "weights", "est. latency", "memory", "fits", "why"}, rows,
                    {false, true, true, true, true, false, false});

  out += "\n## Before and after\n\n";
  out += md_table({"", "before", "after", "change"}, before_after(m), {false, true, true, true});
  if (std::string note = estimate_note(m); !note.empty()) out += "\n" + md(note) + "\n";

  out += "\n## Gates\n\n";
  rows.clear();
  for (const GateRow& g : gates) rows.push_back({md_code(g.name), g.limit, g.value, verdict_word(g.passed)});
  if (rows.empty()) out += "No gates set (no budget given).\n";
  else out += md_table({"gate", "limit", "value", "result"}, rows, {false, true, true, false});

  const std::vector<Layer> layers = all_layers(m);
  const double total_macs = layer_total(layers, &Layer::macs), total_bytes = layer_total(layers, &Layer::bytes);
  out += "\n## Top layers by MACs\n\n";
  rows.clear();
  int rank = 0;
  for (const Layer* l : top_layers(layers, &Layer::macs, 10))
    rows.push_back({std::to_string(++rank), md_code(l->name), md(l->op), opt(l->macs, human_count), share(l->macs, total_macs),
                    opt(l->bytes, human_bytes), opt(l->latency, human_ms)});
  if (rows.empty()) out += "No layers recorded.\n";
  else
    out += md_table({"#", "layer", "op", "MACs", "share", "weight bytes", "est. latency"}, rows,
                    {true, false, false, true, true, true, true});
  out += "\n## Top layers by weight bytes\n\n";
  rows.clear();
  rank = 0;
  for (const Layer* l : top_layers(layers, &Layer::bytes, 10))
    rows.push_back({std::to_string(++rank), md_code(l->name), md(l->op), opt(l->bytes, human_bytes),
                    share(l->bytes, total_bytes), opt(l->macs, human_count)});
  if (rows.empty()) out += "No layers recorded.\n";
  else out += md_table({"#", "layer", "op", "weight bytes", "share", "MACs"}, rows, {true, false, false, true, true, true});
  if (!layers.empty())
    out += fmt::format("\n{} layers in all: {} MACs, {} of weights.\n", layers.size(), human_count(total_macs),
                       human_bytes(total_bytes));

  out += "\n## Passes\n\n";
  rows.clear();
  for (const json& p : array_at(m, {"passes"}))
    rows.push_back({md(or_dash(text(p, {"pass"}))), md_code(or_dash(text(p, {"canonical"}))),
                    opt(num(p, {"seconds"}), [](double s) { return fmt::format("{:.2f} s", s); }), md(stats_text(p))});
  if (rows.empty()) out += "No passes recorded.\n";
  else out += md_table({"pass", "canonical form", "time", "statistics"}, rows, {false, false, true, false});

  out += "\n## Provenance\n\n";
  rows.clear();
  for (const ProvRow& p : provenance(m))
    rows.push_back({p.what, md(p.detail), p.digest.empty() ? "" : md_code(p.digest)});
  out += md_table({"", "what", "digest"}, rows, {false, false, false});
  return out;
}

// =============================================================================================
// Report: HTML.

std::string render_report_html(const json& m) {
  check_schema(m, kManifestSchema, "manifest");
  const std::vector<GateRow> gates = gate_rows(m);
  const std::optional<bool> ok = verdict(flag(m, {"passed"}), gates);
  const std::string title = target_title(m);
  std::string b;

  b += fmt::format("<h1>{} {}</h1>\n", h(title), badge(ok));
  b += fmt::format(R"(<p class="sub">{} &rarr; {} &middot; pipeline {} &middot; {} {} &middot; {}</p>)",
                   code(or_dash(text(m, {"input", "path"}))).html, code(or_dash(text(m, {"output", "file"}))).html,
                   code(or_dash(text(m, {"pipeline"}))).html, h(or_dash(text(m, {"tool", "name"}))),
                   h(or_dash(text(m, {"tool", "version"}))), h(or_dash(text(m, {"created"}))));
  b += "\n";
  // The verdict first: a failing gate is the one thing nobody may miss.
  std::string verdict_text = verdict_detail(ok, gates);
  if (flag(m, {"after", "fits_ram"}) == false) verdict_text += "; the model does not fit the target's RAM";
  b += fmt::format(R"(<div class="verdict {}"><strong>{}</strong> &mdash; {}</div>)", verdict_class(ok), verdict_word(ok),
                   h(verdict_text));
  b += "\n";

  // Headline cards.
  {
    auto bb = num(m, {"before", "bytes"}), ab = num(m, {"after", "bytes"});
    auto bl = num(m, {"before", "latency_ms"}), al = num(m, {"after", "latency_ms"});
    auto am = num(m, {"after", "memory_bytes"});
    auto ram = ram_bytes(m);
    auto xb = num(m, {"accuracy", "before"}), xa = num(m, {"accuracy", "after"});
    b += R"(<div class="cards">)";
    b += card("model size", opt(ab, human_bytes), "was " + opt(bb, human_bytes) + " (" + ratio(ab, bb) + ")");
    b += card("est. latency", opt(al, human_ms), "was " + opt(bl, human_ms) + "; budget " +
                                                  opt(num(m, {"budgets", "max_latency_ms"}), human_ms));
    b += card("memory", opt(am, human_bytes),
              "of " + opt(ram, human_bytes) + " RAM" +
                  (am && ram && *ram > 0 ? " (" + of_ram(*am, *ram) + ")" : std::string()));
    b += card("accuracy", opt(xa, percent), "was " + opt(xb, percent) + (xa && xb ? " (" + points(100 * (*xa - *xb)) + ")" : ""));
    b += "</div>\n";
  }

  b += "<h2>Estimates against the budgets and the target</h2>\n";
  b += report_charts_envelope(m);
  if (std::string note = estimate_note(m); !note.empty()) b += "<p class=\"note\">" + h(note) + "</p>\n";

  b += "<h2>Gates</h2>\n";
  if (gates.empty()) {
    b += "<p class=\"note\">No gates set (no budget given).</p>\n";
  } else {
    std::vector<std::vector<Cell>> rows;
    for (const GateRow& g : gates) rows.push_back({code(g.name), t(g.limit, true), t(g.value, true), {badge(g.passed)}});
    b += html_table({t("gate"), t("limit", true), t("value", true), t("result")}, rows);
  }

  b += "<div class=\"two\"><div>\n<h2>Target</h2>\n";
  {
    std::vector<std::vector<Cell>> rows;
    for (const auto& [k, v] : target_figures(m)) rows.push_back({t(k), k == "id" ? code(v) : t(v, true)});
    b += html_table({t("figure"), t("value", true)}, rows);
  }
  b += "</div><div>\n<h2>Budgets</h2>\n";
  {
    std::vector<std::vector<Cell>> rows;
    for (const auto& [k, v] : budget_rows(m)) rows.push_back({t(k), t(v, true)});
    b += html_table({t("budget"), t("limit", true)}, rows);
  }
  b += "</div></div>\n";

  b += "<h2>Plan</h2>\n";
  b += fmt::format("<p>Chosen: {}</p>\n<p>{}</p>\n", code(or_dash(text(m, {"plan", "chosen"}))).html,
                   h(or_dash(text(m, {"plan", "reason"}))));
  {
    std::vector<std::vector<Cell>> rows;
    std::vector<std::string> classes;
    for (const Candidate& c : candidates(m)) {
      rows.push_back({{code(c.pipeline).html + (c.chosen ? R"(<span class="tag">chosen</span>)" : "")}, t(c.macs, true),
                      t(c.weights, true), t(c.latency, true), t(c.memory, true), t(c.fits), t(c.why)});
      classes.push_back(c.chosen ? "chosen" : "");
    }
    if (rows.empty()) b += "<p class=\"note\">No candidates recorded.</p>\n";
    else
      b += html_table({t("candidate pipeline"), t("MACs", true), t("weights", true), t("est. latency", true), t("memory", true),
                       t("fits"), t("why")},
                      rows, classes);
  }

  b += "<h2>Before and after</h2>\n";
  {
    std::vector<std::vector<Cell>> rows;
    for (const auto& r : before_after(m)) rows.push_back({t(r[0]), t(r[1], true), t(r[2], true), t(r[3], true)});
    b += html_table({t(""), t("before", true), t("after", true), t("change", true)}, rows);
  }
  b += "<h3>Accuracy</h3>\n" + report_chart_accuracy(m);

  const std::vector<Layer> layers = all_layers(m);
  const double total_macs = layer_total(layers, &Layer::macs), total_bytes = layer_total(layers, &Layer::bytes);
  b += "<h2>Layers</h2>\n";
  if (layers.empty()) {
    b += "<p class=\"note\">No layers recorded.</p>\n";
  } else {
    b += fmt::format("<p class=\"note\">{} layers: {} MACs, {} of weights. The chart shows the {} with the most MACs.</p>\n",
                     layers.size(), h(human_count(total_macs)), h(human_bytes(total_bytes)),
                     top_layers(layers, &Layer::macs, 20).size());
    b += report_chart_layers(layers);
    std::vector<std::vector<Cell>> rows;
    int rank = 0;
    for (const Layer* l : top_layers(layers, &Layer::macs, 10))
      rows.push_back({t(std::to_string(++rank), true), code(l->name), t(l->op), t(opt(l->macs, human_count), true),
                      t(share(l->macs, total_macs), true), t(opt(l->bytes, human_bytes), true),
                      t(opt(l->latency, human_ms), true)});
    b += "<div class=\"two\"><div>\n<h3>Top layers by MACs</h3>\n";
    b += html_table({t("#", true), t("layer"), t("op"), t("MACs", true), t("share", true), t("bytes", true), t("latency", true)},
                    rows);
    rows.clear();
    rank = 0;
    for (const Layer* l : top_layers(layers, &Layer::bytes, 10))
      rows.push_back({t(std::to_string(++rank), true), code(l->name), t(l->op), t(opt(l->bytes, human_bytes), true),
                      t(share(l->bytes, total_bytes), true), t(opt(l->macs, human_count), true)});
    b += "</div><div>\n<h3>Top layers by weight bytes</h3>\n";
    b += html_table({t("#", true), t("layer"), t("op"), t("bytes", true), t("share", true), t("MACs", true)}, rows);
    b += "</div></div>\n";
  }

  b += "<h2>Passes</h2>\n";
  {
    std::vector<std::vector<Cell>> rows;
    for (const json& p : array_at(m, {"passes"}))
      rows.push_back({t(or_dash(text(p, {"pass"}))), code(or_dash(text(p, {"canonical"}))),
                      t(opt(num(p, {"seconds"}), [](double s) { return fmt::format("{:.2f} s", s); }), true),
                      t(stats_text(p))});
    if (rows.empty()) b += "<p class=\"note\">No passes recorded.</p>\n";
    else b += html_table({t("pass"), t("canonical form"), t("time", true), t("statistics")}, rows);
  }

  b += "<h2>Provenance</h2>\n";
  {
    std::vector<std::vector<Cell>> rows;
    for (const ProvRow& p : provenance(m)) rows.push_back({t(p.what), t(p.detail), p.digest.empty() ? t("") : code(p.digest)});
    b += html_table({t(""), t("what"), t("digest")}, rows);
  }
  b += fmt::format("<footer>Rendered by edgepack from manifest.json ({}). Estimates come from the cost model: "
                   "latency is a lower bound, memory is weights plus peak live activations.</footer>\n",
                   h(or_dash(text(m, {"schema"}))));
  return html_page("edgepack report: " + title, b);
}

// =============================================================================================
// Summary.

namespace {

struct TargetRow {
  std::string id, name, dir, pipeline;
  std::optional<double> bytes, latency, memory, ram, acc_before, acc_after;
  std::optional<bool> passed;
  const json* budgets = nullptr;
};

std::vector<TargetRow> summary_targets(const json& s) {
  std::vector<TargetRow> out;
  const json* top_budgets = get(s, {"budgets"});
  for (const json& e : array_at(s, {"targets"})) {
    TargetRow r;
    r.id = or_dash(text(e, {"id"}));
    r.name = text(e, {"name"}).value_or("");
    r.dir = text(e, {"dir"}).value_or("");
    r.pipeline = or_dash(text(e, {"pipeline"}));
    r.bytes = num(e, {"bytes"});
    r.latency = num(e, {"latency_ms"});
    r.memory = num(e, {"memory_bytes"});
    r.ram = num(e, {"ram_bytes"});
    r.acc_before = num(e, {"accuracy_before"});
    r.acc_after = num(e, {"accuracy_after"});
    r.passed = flag(e, {"passed"});
    const json* b = get(e, {"budgets"});
    r.budgets = b && b->is_object() ? b : (top_budgets && top_budgets->is_object() ? top_budgets : nullptr);
    out.push_back(r);
  }
  return out;
}

std::string row_title(const TargetRow& r) { return !r.name.empty() && r.name != r.id ? r.name + " (" + r.id + ")" : r.id; }

std::string memory_vs_ram(const TargetRow& r) {
  std::string s = opt(r.memory, human_bytes) + " / " + opt(r.ram, human_bytes);
  if (r.memory && r.ram && *r.ram > 0) s += " (" + of_ram(*r.memory, *r.ram) + ")";
  return s;
}

std::string accuracy_change(const TargetRow& r) {
  std::string s = opt(r.acc_before, percent) + " -> " + opt(r.acc_after, percent);
  if (r.acc_before && r.acc_after) s += fmt::format(" ({:+.2f})", 100 * (*r.acc_after - *r.acc_before));
  return s;
}

std::string size_text(const TargetRow& r, const std::optional<double>& input_bytes) {
  std::string s = opt(r.bytes, human_bytes);
  if (r.bytes && input_bytes && *input_bytes > 0) s += " (" + ratio(r.bytes, input_bytes) + ")";
  return s;
}

std::optional<bool> summary_verdict(const json& s, const std::vector<TargetRow>& rows) {
  std::optional<bool> v = flag(s, {"passed"});
  for (const TargetRow& r : rows)
    if (r.passed == false) v = false;
  return v;
}

std::string summary_detail(const std::vector<TargetRow>& rows) {
  size_t passed = 0, failed = 0;
  for (const TargetRow& r : rows) {
    passed += r.passed == true;
    failed += r.passed == false;
  }
  if (rows.empty()) return "no targets";
  std::string d = fmt::format("{} of {} targets pass", passed, rows.size());
  if (failed) {
    std::vector<std::string> ids;
    for (const TargetRow& r : rows)
      if (r.passed == false) ids.push_back(r.id);
    d += fmt::format("; failing: {}", fmt::join(ids, ", "));
  }
  return d;
}

// A target's folder as a relative link, only when it is a plain folder name: the JSON is not
// trusted to choose a scheme (javascript:), an absolute path or a way out of the folder.
std::optional<std::string> safe_dir(const std::string& dir) {
  if (dir.empty() || dir == "." || dir == ".." || dir.size() > 200) return std::nullopt;
  for (char c : dir)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return std::nullopt;
  return dir;
}

}  // namespace

std::string render_summary_markdown(const json& s) {
  check_schema(s, kSummarySchema, "summary");
  const std::vector<TargetRow> targets = summary_targets(s);
  const std::optional<bool> ok = summary_verdict(s, targets);
  const std::optional<double> input_bytes = num(s, {"input", "bytes"});
  std::string out = "# edgepack summary\n\n";
  out += fmt::format("**Result: {}** ({}).\n\n", verdict_word(ok), md(summary_detail(targets)));
  out += fmt::format("Input {} ({}, {}); {} {}.\n\n", md_code(or_dash(text(s, {"input", "path"})), false),
                     opt(input_bytes, human_bytes), md_code(or_dash(text(s, {"input", "sha256"})), false),
                     md(or_dash(text(s, {"tool", "name"}))), md(or_dash(text(s, {"tool", "version"}))));
  std::vector<std::vector<std::string>> rows;
  for (const TargetRow& r : targets)
    rows.push_back({md(row_title(r)), md_code(r.pipeline), size_text(r, input_bytes), opt(r.latency, human_ms), memory_vs_ram(r),
                    accuracy_change(r), verdict_word(r.passed)});
  if (rows.empty()) out += "No targets recorded.\n";
  else
    out += md_table({"target", "pipeline", "size", "est. latency", "memory / RAM", "accuracy before -> after", "result"}, rows,
                    {false, false, true, true, true, true, false});
  return out;
}

std::string render_summary_html(const json& s) {
  check_schema(s, kSummarySchema, "summary");
  const std::vector<TargetRow> targets = summary_targets(s);
  const std::optional<bool> ok = summary_verdict(s, targets);
  const std::optional<double> input_bytes = num(s, {"input", "bytes"});
  std::string b;
  b += fmt::format("<h1>edgepack summary {}</h1>\n", badge(ok));
  b += fmt::format(R"(<p class="sub">input {} &middot; {} &middot; {} &middot; {} {}</p>)",
                   code(or_dash(text(s, {"input", "path"}))).html, h(opt(input_bytes, human_bytes)),
                   code(or_dash(text(s, {"input", "sha256"}))).html, h(or_dash(text(s, {"tool", "name"}))),
                   h(or_dash(text(s, {"tool", "version"}))));
  b += fmt::format("\n<div class=\"verdict {}\"><strong>{}</strong> &mdash; {}</div>\n", verdict_class(ok), verdict_word(ok),
                   h(summary_detail(targets)));

  std::vector<std::vector<Cell>> rows;
  for (const TargetRow& r : targets) {
    Cell name = t(row_title(r));
    if (auto d = safe_dir(r.dir)) name.html = "<a href=\"" + h(*d) + "/report.html\">" + name.html + "</a>";
    rows.push_back({name, code(r.pipeline), t(size_text(r, input_bytes), true), t(opt(r.latency, human_ms), true),
                    t(memory_vs_ram(r), true), t(accuracy_change(r), true), {badge(r.passed)}});
  }
  if (rows.empty()) {
    b += "<p class=\"note\">No targets recorded.</p>\n";
  } else {
    b += html_table({t("target"), t("pipeline"), t("size", true), t("est. latency", true), t("memory / RAM", true),
                     t("accuracy before → after", true), t("result")},
                    rows);
    // Per-target charts against each target's own limits (a budget given for all targets, or
    // per target, and each target's RAM).
    const auto budget = [](const TargetRow& r, const char* key) -> std::optional<double> {
      return r.budgets ? num(*r.budgets, {key}) : std::nullopt;
    };
    Chart lat, size, mem;
    lat.title = "Estimated latency per target";
    lat.axis_title = "milliseconds";
    lat.series = {{"est. latency", kAfter}};
    size.title = "Model size per target";
    size.axis_title = "MiB";
    size.series = {{"model size", kAfter}};
    if (input_bytes) size.series.push_back({"input model", kBefore});
    mem.title = "Memory per target against its RAM";
    mem.axis_title = "MiB";
    mem.series = {{"memory", kAfter}};
    for (const TargetRow& r : targets) {
      const std::string label = r.id;
      Row lr{label, {r.latency}, {opt(r.latency, human_ms)}, {}};
      if (auto v = budget(r, "max_latency_ms")) lr.markers.push_back({*v, "budget " + human_ms(*v)});
      lat.rows.push_back(lr);
      const auto mib = [](const std::optional<double>& v) { return v ? std::optional<double>(*v / kMiB) : std::nullopt; };
      Row sr{label, {mib(r.bytes)}, {opt(r.bytes, human_bytes)}, {}};
      if (input_bytes) {
        sr.values.push_back(mib(input_bytes));
        sr.value_text.push_back("input " + human_bytes(*input_bytes));
      }
      if (auto v = budget(r, "max_size_mb")) sr.markers.push_back({*v, "budget " + human_bytes(*v * kMiB)});
      size.rows.push_back(sr);
      Row mr{label, {mib(r.memory)}, {opt(r.memory, human_bytes)}, {}};
      if (auto v = budget(r, "max_memory_mb")) mr.markers.push_back({*v, "budget " + human_bytes(*v * kMiB)});
      if (r.ram) mr.markers.push_back({*r.ram / kMiB, "RAM " + human_bytes(*r.ram)});
      mem.rows.push_back(mr);
    }
    b += "<h2>Targets against their envelopes</h2>\n";
    b += svg_chart(lat) + svg_chart(size) + svg_chart(mem);
    b += "<p class=\"note\">Latency is the cost model's lower bound; memory is weights plus peak live activations.</p>\n";
  }
  b += fmt::format("<footer>Rendered by edgepack from summary.json ({}).</footer>\n", h(or_dash(text(s, {"schema"}))));
  return html_page("edgepack summary", b);
}

}  // namespace edgepack
