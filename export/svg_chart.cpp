// SVG bar charts (see svg_chart.h): the scales (linear with "nice" ticks, or logarithmic),
// then the drawing of legend, rows, limit markers and axis.
#include "export/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "export/escape.h"
#include "export/report_json.h"

namespace edgepack::report_detail {

namespace {

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

// Cuts `s` to at most `max_bytes` without splitting a UTF-8 sequence, marking the cut.
std::string shorten(const std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "\u2026";
}

// Layout, in SVG user units: labels left of x0, bars from x0 to x1, printed values right of x1.
constexpr double kWidth = 760, kLabelW = 200, kValueW = 170;
constexpr double kX0 = kLabelW + 8, kX1 = kWidth - kValueW - 8;
constexpr double kBarH = 12, kBarGap = 3, kRowGap = 12, kMarkerRoom = 14, kLegendH = 22, kAxisH = 36;

double xpos(const Scale& s, double v) { return kX0 + s.frac(v) * (kX1 - kX0); }

// One scale per series: all the same (the markers inside the domain) on a shared scale, else
// each series' own, from zero to its largest value.
std::vector<Scale> chart_scales(const Chart& c) {
  const size_t ns = c.series.size();
  std::vector<Scale> scales;
  if (c.shared_scale) {
    Scale s;
    if (c.domain) {
      s.lo = c.domain->first;
      s.hi = c.domain->second;
    } else {
      std::vector<double> all;
      for (const ChartRow& r : c.rows) {
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
      for (const ChartRow& r : c.rows)
        if (k < r.values.size() && r.values[k]) col.push_back(*r.values[k]);
      double max = 0;
      for (double v : col) max = std::max(max, v);
      Scale s;
      s.hi = max > 0 ? max : 1;
      scales.push_back(s);
    }
    if (scales.empty()) scales.emplace_back();
  }
  return scales;
}

// Legend: series swatches, then the marker's meaning.
std::string legend(const Chart& c) {
  bool any_marker = false;
  for (const ChartRow& r : c.rows) any_marker = any_marker || !r.markers.empty();
  std::string out;
  double lx = kX0;
  for (const Series& s : c.series) {
    out += fmt::format(R"(<rect x="{}" y="6" width="10" height="10" rx="2" fill="{}"/>)", num_attr(lx), s.color);
    out += fmt::format(R"(<text x="{}" y="15" class="legend">{}</text>)", num_attr(lx + 14), h(s.name));
    lx += 24 + 7.0 * static_cast<double>(s.name.size());
  }
  if (any_marker) {
    out += fmt::format(R"(<line x1="{0}" x2="{0}" y1="4" y2="18" class="limit"/>)", num_attr(lx + 4));
    out += fmt::format(R"(<text x="{}" y="15" class="legend">limit</text>)", num_attr(lx + 12));
  }
  if (!c.shared_scale)
    out += fmt::format(R"(<text x="{}" y="15" class="legend" text-anchor="end">each series scaled to its largest row</text>)",
                       num_attr(kWidth - 4));
  return out;
}

// One row's label (vertically centred on its bars), bars and printed values, one bar per
// series from row_top down.
std::string row_bars(const Chart& c, const ChartRow& r, const std::vector<Scale>& scales, double row_top, double row_h) {
  std::string out;
  // The full text in a tooltip when shortened.
  const std::string shown = shorten(r.label, 28);
  out += fmt::format(R"(<text x="{}" y="{}" class="label" text-anchor="end">{}{}</text>)", num_attr(kLabelW),
                     num_attr(row_top + row_h / 2 + 4), h(shown), shown != r.label ? "<title>" + h(r.label) + "</title>" : "");
  for (size_t k = 0; k < c.series.size(); ++k) {
    const double by = row_top + static_cast<double>(k) * (kBarH + kBarGap);
    // A plain flag and value: GCC -O3 sees a copied std::optional as maybe uninitialized.
    const bool known = k < r.values.size() && r.values[k].has_value();
    const double v = known ? r.values[k].value() : 0.0;
    const std::string vt = k < r.value_text.size() ? r.value_text[k] : (known ? fmt::format("{:g}", v) : kDash);
    if (known) {
      // A non-zero value always gets a sliver, so "tiny" never reads as "missing".
      double w = xpos(scales[k], v) - kX0;
      if (v > 0 && w < 1.5) w = 1.5;
      out += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" rx="2" fill="{}"><title>{}: {}</title></rect>)",
                         num_attr(kX0), num_attr(by), num_attr(std::max(0.0, w)), num_attr(kBarH), c.series[k].color,
                         h(c.series[k].name), h(vt));
    }
    out += fmt::format(R"(<text x="{}" y="{}" class="value">{}</text>)", num_attr(kX1 + 10), num_attr(by + kBarH - 2), h(vt));
  }
  return out;
}

// Limit markers: a dashed line over the row, its label above; two close labels are pushed
// apart by anchoring them on opposite sides of their lines.
std::string row_markers(const ChartRow& r, const Scale& s, double row_top, double row_h) {
  std::string out;
  std::vector<double> xs;
  for (const Marker& m : r.markers) xs.push_back(xpos(s, m.value));
  for (size_t i = 0; i < r.markers.size(); ++i) {
    const double mx = xs[i];
    bool close_left = false, close_right = false;
    for (size_t j = 0; j < xs.size(); ++j) {
      if (j == i || std::abs(xs[j] - mx) > 90) continue;
      (xs[j] < mx || (xs[j] == mx && j < i) ? close_left : close_right) = true;
    }
    std::string anchor = "middle";
    double tx = mx;
    if (close_right || mx > kX1 - 60) {
      anchor = "end";
      tx = mx - 3;
    } else if (close_left || mx < kX0 + 60) {
      anchor = "start";
      tx = mx + 3;
    }
    out += fmt::format(R"(<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" class="limit"><title>{3}</title></line>)", num_attr(mx),
                       num_attr(row_top - 4), num_attr(row_top + row_h + 4), h(r.markers[i].label));
    out += fmt::format(R"(<text x="{}" y="{}" class="mlabel" text-anchor="{}">{}</text>)", num_attr(tx), num_attr(row_top - 5),
                       anchor, h(r.markers[i].label));
  }
  return out;
}

// Grid lines, tick labels and axis title behind the bars (`with_axis`: a shared scale only, as
// per-series scales have no common axis), then the base line the bars start from.
std::string grid(const Chart& c, const Scale& s, bool with_axis, double plot_top, double plot_bottom) {
  std::string out;
  if (with_axis) {
    for (double t : s.ticks()) {
      const double tx = xpos(s, t);
      out += fmt::format(R"(<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" class="grid"/>)", num_attr(tx), num_attr(plot_top),
                         num_attr(plot_bottom));
      out += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="middle">{}</text>)", num_attr(tx),
                         num_attr(plot_bottom + 14), h(c.tick_text(t)));
    }
    std::string axis = c.axis_title + (s.log ? " (log scale)" : "");
    out += fmt::format(R"(<text x="{}" y="{}" class="axis" text-anchor="middle">{}</text>)", num_attr((kX0 + kX1) / 2),
                       num_attr(plot_bottom + 30), h(axis));
  }
  out += fmt::format(R"(<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" class="base"/>)", num_attr(kX0), num_attr(plot_top - 2),
                     num_attr(plot_bottom));
  return out;
}

}  // namespace

std::string plain_tick_text(double v) { return fmt::format("{:g}", v); }

std::string svg_chart(const Chart& c) {
  const size_t ns = c.series.size();
  const std::vector<Scale> scales = chart_scales(c);
  const std::string legend_svg = legend(c);

  // The rows, top to bottom; a row with markers gets room above for their labels.
  const double plot_top = kLegendH + 6;
  double y = plot_top;
  std::string rows_svg;
  for (const ChartRow& r : c.rows) {
    if (!r.markers.empty()) y += kMarkerRoom;
    const double row_h = static_cast<double>(ns) * kBarH + static_cast<double>(ns > 0 ? ns - 1 : 0) * kBarGap;
    rows_svg += row_bars(c, r, scales, y, row_h);
    rows_svg += row_markers(r, scales[0], y, row_h);
    y += row_h + kRowGap;
  }
  const double plot_bottom = y - kRowGap / 2;

  const bool with_axis = c.shared_scale && ns > 0;
  const std::string grid_svg = grid(c, scales[0], with_axis, plot_top, plot_bottom);
  const double height = plot_bottom + (with_axis ? kAxisH : 6);

  // No xmlns: inline SVG in HTML5 needs none, and the page carries no URL at all.
  return fmt::format(R"(<figure class="chart"><figcaption>{}</figcaption>)"
                     R"(<svg viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">{}{}{}</svg></figure>)",
                     h(c.title), kWidth, num_attr(height), h(c.title), grid_svg, rows_svg, legend_svg);
}

}  // namespace edgepack::report_detail
