// summary.md and summary.html: all targets of a `compress` run side by side (export/report.h),
// from summary.json (edgepack.summary/1). First the summary's own view (one TargetRow per
// target, read tolerantly), then the two pages; the HTML adds per-target charts against each
// target's budgets and RAM, and links each target to its report.
#include <fmt/format.h>

#include <cctype>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/human_format.h"
#include "export/escape.h"
#include "export/html_page.h"
#include "export/markdown_table.h"
#include "export/report.h"
#include "export/report_json.h"
#include "export/svg_chart.h"

namespace edgepack {

using namespace report_detail;

namespace {

struct TargetRow {
  std::string id, name, dir, pipeline;
  std::optional<double> bytes, latency, memory, ram, acc_before, acc_after, sqnr_db, host_ms, host_speedup;
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
    r.sqnr_db = num(e, {"sqnr_db"});
    r.host_ms = num(e, {"host_ms"});
    r.host_speedup = num(e, {"host_speedup"});
    r.passed = flag(e, {"passed"});
    const json* b = get(e, {"budgets"});
    r.budgets = b && b->is_object() ? b : (top_budgets && top_budgets->is_object() ? top_budgets : nullptr);
    out.push_back(r);
  }
  return out;
}

// "0.41 ms (2.10x faster)": the artifact's measured median here, against the input model's.
std::string host_text(const TargetRow& r) {
  if (!r.host_ms) return kDash;
  if (!r.host_speedup || *r.host_speedup <= 0) return human_ms(*r.host_ms);
  const double s = *r.host_speedup;
  return fmt::format("{} ({:.2f}x {})", human_ms(*r.host_ms), s >= 1 ? s : 1 / s, s >= 1 ? "faster" : "slower");
}

bool any_host(const std::vector<TargetRow>& targets) {
  for (const TargetRow& r : targets)
    if (r.host_ms) return true;
  return false;
}

std::string row_title(const TargetRow& r) { return !r.name.empty() && r.name != r.id ? r.name + " (" + r.id + ")" : r.id; }

std::string memory_vs_ram(const TargetRow& r) {
  std::string s = opt(r.memory, human_bytes) + " / " + opt(r.ram, human_bytes);
  if (r.memory && r.ram && *r.ram > 0) s += " (" + of_ram(*r.memory, *r.ram) + ")";
  return s;
}

// Fidelity to the input model, with or without labels (compress/manifest.h FidelityFacts).
std::string sqnr_text(const TargetRow& r) { return r.sqnr_db ? fmt::format("{:.1f} dB", *r.sqnr_db) : std::string(kDash); }

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
  std::string d = rows.size() == 1 ? std::string(passed ? "the target passes" : failed ? "the target fails" : "the target is not judged")
                                  : fmt::format("{} of {} targets pass", passed, rows.size());
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

// Per-target charts of latency, size and memory against each target's own limits (a budget
// given for all targets, or per target, and each target's RAM).
std::string summary_charts(const std::vector<TargetRow>& targets, const std::optional<double>& input_bytes) {
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
    ChartRow lr{label, {r.latency}, {opt(r.latency, human_ms)}, {}};
    if (auto v = budget(r, "max_latency_ms")) lr.markers.push_back({*v, "budget " + human_ms(*v)});
    lat.rows.push_back(lr);
    const auto mib = [](const std::optional<double>& v) { return v ? std::optional<double>(*v / kMiB) : std::nullopt; };
    ChartRow sr{label, {mib(r.bytes)}, {opt(r.bytes, human_bytes)}, {}};
    if (input_bytes) {
      sr.values.push_back(mib(input_bytes));
      sr.value_text.push_back("input " + human_bytes(*input_bytes));
    }
    if (auto v = budget(r, "max_size_mb")) sr.markers.push_back({*v, "budget " + human_bytes(*v * kMiB)});
    size.rows.push_back(sr);
    ChartRow mr{label, {mib(r.memory)}, {opt(r.memory, human_bytes)}, {}};
    if (auto v = budget(r, "max_memory_mb")) mr.markers.push_back({*v, "budget " + human_bytes(*v * kMiB)});
    if (r.ram) mr.markers.push_back({*r.ram / kMiB, "RAM " + human_bytes(*r.ram)});
    mem.rows.push_back(mr);
  }
  return svg_chart(lat) + svg_chart(size) + svg_chart(mem);
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
  // The host column only when compress measured (host_repeat > 0).
  const bool host = any_host(targets);
  std::vector<std::vector<std::string>> rows;
  for (const TargetRow& r : targets) {
    rows.push_back({md(row_title(r)), md_code(r.pipeline), size_text(r, input_bytes), opt(r.latency, human_ms), memory_vs_ram(r),
                    accuracy_change(r), sqnr_text(r), verdict_word(r.passed)});
    if (host) rows.back().insert(rows.back().begin() + 4, host_text(r));
  }
  std::vector<std::string> head = {"target", "pipeline", "size", "est. latency", "memory / RAM", "accuracy before -> after", "SQNR", "result"};
  std::vector<bool> right = {false, false, true, true, true, true, true, false};
  if (host) {
    head.insert(head.begin() + 4, "host (measured)");
    right.insert(right.begin() + 4, true);
  }
  out += md_table_or("No targets recorded.\n", head, rows, right);
  if (host && !rows.empty())
    out += "\nHost: the artifact's median latency measured on this machine in edgepack's executor, against the input "
           "model's in the same run (the executor simulates INT8 and FP16 in float).\n";
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

  const bool host = any_host(targets);
  std::vector<std::vector<Cell>> rows;
  for (const TargetRow& r : targets) {
    Cell name = t(row_title(r));
    if (auto d = safe_dir(r.dir)) name.html = "<a href=\"" + h(*d) + "/report.html\">" + name.html + "</a>";
    rows.push_back({name, code(r.pipeline), t(size_text(r, input_bytes), true), t(opt(r.latency, human_ms), true),
                    t(memory_vs_ram(r), true), t(accuracy_change(r), true), t(sqnr_text(r), true), {badge(r.passed)}});
    if (host) rows.back().insert(rows.back().begin() + 4, t(host_text(r), true));
  }
  if (rows.empty()) {
    b += "<p class=\"note\">No targets recorded.</p>\n";
  } else {
    std::vector<Cell> head = {t("target"), t("pipeline"), t("size", true), t("est. latency", true), t("memory / RAM", true),
                              t("accuracy before → after", true), t("SQNR vs input", true), t("result")};
    if (host) head.insert(head.begin() + 4, t("host (measured)", true));
    b += html_table(head, rows);
    b += "<h2>Targets against their envelopes</h2>\n";
    b += summary_charts(targets, input_bytes);
    b += "<p class=\"note\">Latency is the cost model's lower bound; memory is weights plus peak live activations.";
    if (host)
      b += " Host is measured: the artifact's median latency on this machine in edgepack's executor, and how it compares "
           "with the input model's in the same run (the executor simulates INT8 and FP16 in float).";
    b += "</p>\n";
  }
  b += fmt::format("<footer>Rendered by edgepack from summary.json ({}).</footer>\n", h(or_dash(text(s, {"schema"}))));
  return html_page("edgepack summary", b);
}

}  // namespace edgepack
