// report.html: one target's report as a self-contained HTML page (export/report.h), built from
// the manifest view (manifest_view.h) with the report's charts: latency, size and memory
// against the budgets and the RAM, accuracy before/after against its gate, the top layers by
// MACs with their weight bytes. Strings from the JSON are HTML-escaped.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/human_format.h"
#include "export/escape.h"
#include "export/html_page.h"
#include "export/manifest_view.h"
#include "export/report.h"
#include "export/report_json.h"
#include "export/svg_chart.h"

namespace edgepack {

using namespace report_detail;

namespace {

// ---------------------------------------------------------------------------------------------
// The report's charts.

Chart chart_budget(const json& m, const char* title, const char* label, const char* key, const char* axis, double unit,
                   std::string (*value_fmt)(double), std::vector<Marker> markers) {
  Chart c;
  c.title = title;
  c.axis_title = axis;
  c.series = {{"before", kBefore}, {"after", kAfter}};
  auto b = num(m, {"before", key}), a = num(m, {"after", key});
  ChartRow r;
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
  const auto [ab, aa] = accuracy_before_after(m);
  Chart c;
  c.title = "Accuracy (" + or_dash(text(m, {"accuracy", "metric"})) + ")";
  c.axis_title = "percent";
  c.series = {{"before", kBefore}, {"after", kAfter}};
  c.domain = std::make_pair(0.0, 100.0);
  ChartRow r;
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
    ChartRow r;
    r.label = l->name;
    r.values = {l->macs, l->bytes};
    r.value_text = {opt(l->macs, human_count) + " MACs", opt(l->bytes, human_bytes)};
    c.rows.push_back(r);
  }
  return svg_chart(c);
}

// ---------------------------------------------------------------------------------------------
// The page's sections, top to bottom.

// Title, the model line, and the verdict first: a failing gate is the one thing nobody may miss.
std::string section_heading(const json& m, const std::string& title, const std::optional<bool>& ok,
                            const std::vector<GateRow>& gates) {
  std::string b;
  b += fmt::format("<h1>{} {}</h1>\n", h(title), badge(ok));
  b += fmt::format(R"(<p class="sub">{} &rarr; {} &middot; pipeline {} &middot; {} {} &middot; {}</p>)",
                   code(or_dash(text(m, {"input", "path"}))).html, code(or_dash(text(m, {"output", "file"}))).html,
                   code(or_dash(text(m, {"pipeline"}))).html, h(or_dash(text(m, {"tool", "name"}))),
                   h(or_dash(text(m, {"tool", "version"}))), h(or_dash(text(m, {"created"}))));
  b += "\n";
  std::string verdict_text = verdict_detail(ok, gates);
  if (flag(m, {"after", "fits_ram"}) == false) verdict_text += "; the model does not fit the target's RAM";
  b += fmt::format(R"(<div class="verdict {}"><strong>{}</strong> &mdash; {}</div>)", verdict_class(ok), verdict_word(ok),
                   h(verdict_text));
  b += "\n";
  return b;
}

// Headline cards: size, latency, memory, accuracy, each with what it was.
std::string section_cards(const json& m) {
  auto bb = num(m, {"before", "bytes"}), ab = num(m, {"after", "bytes"});
  auto bl = num(m, {"before", "latency_ms"}), al = num(m, {"after", "latency_ms"});
  auto am = num(m, {"after", "memory_bytes"});
  auto ram = ram_bytes(m);
  auto xb = num(m, {"accuracy", "before"}), xa = num(m, {"accuracy", "after"});
  std::string b = R"(<div class="cards">)";
  b += card("model size", opt(ab, human_bytes), "was " + opt(bb, human_bytes) + " (" + ratio(ab, bb) + ")");
  b += card("est. latency", opt(al, human_ms), "was " + opt(bl, human_ms) + "; budget " +
                                                opt(num(m, {"budgets", "max_latency_ms"}), human_ms));
  if (auto ha = num(m, {"host", "median_ms"})) {
    auto hb = num(m, {"host", "input_median_ms"});
    b += card("host latency", human_ms(*ha), "measured here; the input model " + opt(hb, human_ms) + " (" + ratio(ha, hb) + ")");
  }
  b += card("memory", opt(am, human_bytes),
            "of " + opt(ram, human_bytes) + " RAM" +
                (am && ram && *ram > 0 ? " (" + of_ram(*am, *ram) + ")" : std::string()));
  b += card("accuracy", opt(xa, percent), "was " + opt(xb, percent) + (xa && xb ? " (" + points(100 * (*xa - *xb)) + ")" : ""));
  b += "</div>\n";
  return b;
}

std::string section_estimates(const json& m) {
  std::string b = "<h2>Estimates against the budgets and the target</h2>\n";
  b += report_charts_envelope(m);
  if (std::string note = estimate_note(m); !note.empty()) b += "<p class=\"note\">" + h(note) + "</p>\n";
  return b;
}

std::string section_gates(const std::vector<GateRow>& gates) {
  std::string b = "<h2>Gates</h2>\n";
  if (gates.empty()) {
    b += "<p class=\"note\">No gates set (no budget given).</p>\n";
  } else {
    std::vector<std::vector<Cell>> rows;
    for (const GateRow& g : gates) rows.push_back({code(g.name), t(g.limit, true), t(g.value, true), {badge(g.passed)}});
    b += html_table({t("gate"), t("limit", true), t("value", true), t("result")}, rows);
  }
  return b;
}

// Target figures and budgets, side by side.
std::string section_target(const json& m) {
  std::string b = "<div class=\"two\"><div>\n<h2>Target</h2>\n";
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
  return b;
}

std::string section_plan(const json& m) {
  std::string b = "<h2>Plan</h2>\n";
  b += fmt::format("<p>Chosen: {}</p>\n<p>{}</p>\n", code(or_dash(text(m, {"plan", "chosen"}))).html,
                   h(or_dash(text(m, {"plan", "reason"}))));
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
  return b;
}

std::string section_before_after(const json& m) {
  std::string b = "<h2>Before and after</h2>\n";
  std::vector<std::vector<Cell>> rows;
  for (const auto& r : before_after(m)) rows.push_back({t(r[0]), t(r[1], true), t(r[2], true), t(r[3], true)});
  b += html_table({t(""), t("before", true), t("after", true), t("change", true)}, rows);
  b += "<h3>Accuracy</h3>\n" + report_chart_accuracy(m);
  return b;
}

// The layer chart, then the top ten by MACs and by weight bytes side by side.
std::string section_layers(const json& m) {
  const std::vector<Layer> layers = all_layers(m);
  const double total_macs = layer_total(layers, &Layer::macs), total_bytes = layer_total(layers, &Layer::bytes);
  std::string b = "<h2>Layers</h2>\n";
  if (layers.empty()) return b + "<p class=\"note\">No layers recorded.</p>\n";
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
  return b;
}

std::string section_passes(const json& m) {
  std::string b = "<h2>Passes</h2>\n";
  std::vector<std::vector<Cell>> rows;
  for (const PassRow& p : pass_rows(m)) rows.push_back({t(p.pass), code(p.canonical), t(p.time, true), t(p.stats)});
  if (rows.empty()) b += "<p class=\"note\">No passes recorded.</p>\n";
  else b += html_table({t("pass"), t("canonical form"), t("time", true), t("statistics")}, rows);
  return b;
}

std::string section_provenance(const json& m) {
  std::string b = "<h2>Provenance</h2>\n";
  std::vector<std::vector<Cell>> rows;
  for (const ProvRow& p : provenance(m)) rows.push_back({t(p.what), t(p.detail), p.digest.empty() ? t("") : code(p.digest)});
  b += html_table({t(""), t("what"), t("digest")}, rows);
  return b;
}

}  // namespace

std::string render_report_html(const json& m) {
  check_schema(m, kManifestSchema, "manifest");
  const std::vector<GateRow> gates = gate_rows(m);
  const std::optional<bool> ok = verdict(flag(m, {"passed"}), gates);
  const std::string title = target_title(m);
  std::string b = section_heading(m, title, ok, gates);
  b += section_cards(m);
  b += section_estimates(m);
  b += section_gates(gates);
  b += section_target(m);
  b += section_plan(m);
  b += section_before_after(m);
  b += section_layers(m);
  b += section_passes(m);
  b += section_provenance(m);
  b += fmt::format("<footer>Rendered by edgepack from manifest.json ({}). Estimates come from the cost model: "
                   "latency is a lower bound, memory is weights plus peak live activations.</footer>\n",
                   h(or_dash(text(m, {"schema"}))));
  return html_page("edgepack report: " + title, b);
}

}  // namespace edgepack
