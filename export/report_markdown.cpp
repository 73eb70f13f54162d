// report.md: one target's report as Markdown (export/report.h), built from the manifest view
// (manifest_view.h). Strings from the JSON are Markdown-escaped or put in code spans.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
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
  for (const PassRow& p : pass_rows(m)) rows.push_back({md(p.pass), md_code(p.canonical), p.time, md(p.stats)});
  if (rows.empty()) out += "No passes recorded.\n";
  else out += md_table({"pass", "canonical form", "time", "statistics"}, rows, {false, false, true, false});

  out += "\n## Provenance\n\n";
  rows.clear();
  for (const ProvRow& p : provenance(m))
    rows.push_back({p.what, md(p.detail), p.digest.empty() ? "" : md_code(p.digest)});
  out += md_table({"", "what", "digest"}, rows, {false, false, false});
  return out;
}

}  // namespace edgepack
