// report.md: one target's report as Markdown (export/report.h), built from the manifest view
// (manifest_view.h). Strings from the JSON are Markdown-escaped or put in code spans.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/human_format.h"
#include "export/escape.h"
#include "export/manifest_view.h"
#include "export/markdown_table.h"
#include "export/report.h"
#include "export/report_json.h"

namespace edgepack {

using namespace report_detail;

namespace {

// The page's sections, top to bottom.

// Title, verdict first, then the model line.
std::string section_heading(const json& m, const std::optional<bool>& ok, const std::vector<GateRow>& gates) {
  std::string out;
  out += fmt::format("# edgepack report: {}\n\n", md(target_title(m)));
  out += fmt::format("**Result: {}** ({}).\n\n", verdict_word(ok), md(verdict_detail(ok, gates)));
  if (flag(m, {"after", "fits_ram"}) == false) out += "**The model does not fit the target's RAM.**\n\n";
  out += fmt::format("Model {} -> {}, pipeline {}; {} {}, {}.\n", md_code(or_dash(text(m, {"input", "path"})), false),
                     md_code(or_dash(text(m, {"output", "file"})), false), md_code(or_dash(text(m, {"pipeline"})), false),
                     md(or_dash(text(m, {"tool", "name"}))), md(or_dash(text(m, {"tool", "version"}))),
                     md(or_dash(text(m, {"created"}))));
  return out;
}

// Target figures and budgets in one table.
std::string section_target(const json& m) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [k, v] : target_figures(m)) rows.push_back({md(k), k == "id" ? md_code(v) : md(v)});
  for (const auto& [k, v] : budget_rows(m)) rows.push_back({"budget: " + k, md(v)});
  return "\n## Target\n\n" + md_table({"figure", "value"}, rows, {false, true});
}

std::string section_plan(const json& m) {
  std::string out = "\n## Plan\n\n";
  out += fmt::format("Chosen: {}\n\n", md_code(or_dash(text(m, {"plan", "chosen"})), false));
  out += fmt::format("Why: {}\n\n", md(or_dash(text(m, {"plan", "reason"}))));
  std::vector<std::vector<std::string>> rows;
  for (const Candidate& c : candidates(m))
    rows.push_back({md_code(c.pipeline) + (c.chosen ? " **(chosen)**" : ""), c.macs, c.weights, c.latency, c.memory,
                    c.fits, md(c.why)});
  out += md_table_or("No candidates recorded.\n",
                     {"candidate pipeline", "MACs", "weights", "est. latency", "memory", "fits", "why"}, rows,
                     {false, true, true, true, true, false, false});
  return out;
}

std::string section_before_after(const json& m) {
  std::string out = "\n## Before and after\n\n";
  out += md_table({"", "before", "after", "change"}, before_after(m), {false, true, true, true});
  if (std::string note = estimate_note(m); !note.empty()) out += "\n" + md(note) + "\n";
  return out;
}

std::string section_gates(const std::vector<GateRow>& gates) {
  std::string out = "\n## Gates\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const GateRow& g : gates) rows.push_back({md_code(g.name), g.limit, g.value, verdict_word(g.passed)});
  out += md_table_or("No gates set (no budget given).\n", {"gate", "limit", "value", "result"}, rows,
                     {false, true, true, false});
  return out;
}

// The top ten layers by MACs and by weight bytes, then the totals.
std::string section_layers(const json& m) {
  const std::vector<Layer> layers = all_layers(m);
  const double total_macs = layer_total(layers, &Layer::macs), total_bytes = layer_total(layers, &Layer::bytes);
  std::string out = "\n## Top layers by MACs\n\n";
  std::vector<std::vector<std::string>> rows;
  int rank = 0;
  for (const Layer* l : top_layers(layers, &Layer::macs, 10))
    rows.push_back({std::to_string(++rank), md_code(l->name), md(l->op), opt(l->macs, human_count), share(l->macs, total_macs),
                    opt(l->bytes, human_bytes), opt(l->latency, human_ms)});
  out += md_table_or("No layers recorded.\n", {"#", "layer", "op", "MACs", "share", "weight bytes", "est. latency"}, rows,
                     {true, false, false, true, true, true, true});
  out += "\n## Top layers by weight bytes\n\n";
  rows.clear();
  rank = 0;
  for (const Layer* l : top_layers(layers, &Layer::bytes, 10))
    rows.push_back({std::to_string(++rank), md_code(l->name), md(l->op), opt(l->bytes, human_bytes),
                    share(l->bytes, total_bytes), opt(l->macs, human_count)});
  out += md_table_or("No layers recorded.\n", {"#", "layer", "op", "weight bytes", "share", "MACs"}, rows,
                     {true, false, false, true, true, true});
  if (!layers.empty())
    out += fmt::format("\n{} layers in all: {} MACs, {} of weights.\n", layers.size(), human_count(total_macs),
                       human_bytes(total_bytes));
  return out;
}

std::string section_passes(const json& m) {
  std::string out = "\n## Passes\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const PassRow& p : pass_rows(m)) rows.push_back({md(p.pass), md_code(p.canonical), p.time, md(p.stats)});
  out += md_table_or("No passes recorded.\n", {"pass", "canonical form", "time", "statistics"}, rows,
                     {false, false, true, false});
  return out;
}

std::string section_provenance(const json& m) {
  std::vector<std::vector<std::string>> rows;
  for (const ProvRow& p : provenance(m))
    rows.push_back({p.what, md(p.detail), p.digest.empty() ? "" : md_code(p.digest)});
  return "\n## Provenance\n\n" + md_table({"", "what", "digest"}, rows, {false, false, false});
}

}  // namespace

std::string render_report_markdown(const json& m) {
  check_schema(m, kManifestSchema, "manifest");
  const std::vector<GateRow> gates = gate_rows(m);
  const std::optional<bool> ok = verdict(flag(m, {"passed"}), gates);
  return section_heading(m, ok, gates) + section_target(m) + section_plan(m) + section_before_after(m) +
         section_gates(gates) + section_layers(m) + section_passes(m) + section_provenance(m);
}

}  // namespace edgepack
