// The manifest as the report pages read it (see manifest_view.h).
#include "export/manifest_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/human_format.h"

namespace edgepack::report_detail {

namespace {

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

std::string stats_text(const json& p) {
  const json* s = get(p, {"stats"});
  if (!s || !s->is_object() || s->empty()) return kDash;
  std::vector<std::string> parts;
  for (auto it = s->begin(); it != s->end(); ++it)
    parts.push_back(it.key() + "=" +
                    (it->is_string()   ? it->get<std::string>()
                     : it->is_number() ? grouped(it->get<double>())   // folded_batchnorms=2, not 2.0
                                       : it->dump(-1, ' ', false, json::error_handler_t::replace)));
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace

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

std::optional<bool> verdict(const std::optional<bool>& passed, const std::vector<GateRow>& gates) {
  bool any_failed = false;
  for (const GateRow& g : gates) any_failed = any_failed || g.passed == false;
  if (any_failed || passed == false) return false;
  return passed;
}

std::string verdict_detail(const std::optional<bool>& v, const std::vector<GateRow>& gates) {
  std::vector<std::string> failed;
  for (const GateRow& g : gates)
    if (g.passed == false) failed.push_back(fmt::format("{} {} > {}", g.name, g.value, g.limit));
  if (!failed.empty())
    return fmt::format("{} of {} gate{} not met: {}", failed.size(), gates.size(), gates.size() == 1 ? "" : "s", fmt::join(failed, "; "));
  if (v == false) return "the run is marked failing";
  if (gates.empty()) return "no gates set";
  return gates.size() == 1 ? "the gate is met" : fmt::format("all {} gates met", gates.size());
}

std::string target_title(const json& m) {
  std::optional<std::string> name = text(m, {"target", "name"}), id = text(m, {"target", "id"});
  if (name && id && *name != *id) return *name + " (" + *id + ")";
  return name ? *name : or_dash(id);
}

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

std::pair<std::optional<double>, std::optional<double>> accuracy_before_after(const json& m) {
  auto ab = num(m, {"accuracy", "before"}), aa = num(m, {"accuracy", "after"});
  if (!ab) ab = num(m, {"before", "accuracy"});
  if (!aa) aa = num(m, {"after", "accuracy"});
  return {ab, aa};
}

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
  if (auto ha = num(m, {"host", "median_ms"})) {   // measured here, in the same run as the input
    auto hb = num(m, {"host", "input_median_ms"});
    rows.push_back({"host latency (measured here, median)", opt(hb, human_ms), opt(ha, human_ms), ratio(ha, hb)});
  }
  row("memory (weights + peak activations)", "memory_bytes", human_bytes);
  const auto [ab, aa] = accuracy_before_after(m);
  std::string metric = or_dash(text(m, {"accuracy", "metric"}));
  rows.push_back({"accuracy (" + metric + ")", opt(ab, percent), opt(aa, percent),
                  ab && aa ? points(100 * (*aa - *ab)) : kDash});
  return rows;
}

std::optional<double> ram_bytes(const json& m) {
  if (auto r = num(m, {"after", "ram_bytes"})) return r;
  if (auto r = num(m, {"target", "ram_mb"})) return *r * kMiB;
  return std::nullopt;
}

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
  if (auto ha = num(m, {"host", "median_ms"})) {
    auto hb = num(m, {"host", "input_median_ms"});
    auto threads = num(m, {"host", "threads"}), repeat = num(m, {"host", "repeat"}), p90 = num(m, {"host", "p90_ms"});
    const std::string speed = hb && *ha > 0 ? fmt::format(": {:.2f}x the input model's speed", *hb / *ha) : "";
    parts.push_back(fmt::format("Host latency is measured on this machine ({}, {} thread{}, batch 1) in edgepack's executor, median of {} "
                                "runs interleaved with the input model (p90 {}){}; `edgepack bench` repeats it.",
                                or_dash(text(m, {"host", "cpu"})), threads ? grouped(*threads) : kDash,
                                threads && *threads == 1 ? "" : "s", repeat ? grouped(*repeat) : kDash, opt(p90, human_ms), speed));
    const std::string pipeline = or_dash(text(m, {"pipeline"}));
    if (pipeline.find("quantize") != std::string::npos)
      parts.push_back("The executor runs QuantizeLinear/DequantizeLinear pairs in float (the INT8 values are simulated), so an INT8 "
                      "artifact is slower here than in an integer runtime; the estimate is the target's.");
    else if (pipeline.find("convert-fp16") != std::string::npos)
      parts.push_back("The executor computes FP16 nodes in float and rounds each result to FP16, so an FP16 artifact is slower here "
                      "than in a runtime with FP16 kernels; the estimate is the target's.");
  }
  return fmt::format("{}", fmt::join(parts, " "));
}

std::vector<Layer> all_layers(const json& m) {
  std::vector<Layer> out;
  for (const json& l : array_at(m, {"layers"}))
    out.push_back({or_dash(text(l, {"name"})), or_dash(text(l, {"op"})), num(l, {"macs"}), num(l, {"bytes"}),
                   num(l, {"latency_ms"})});
  return out;
}

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

std::vector<PassRow> pass_rows(const json& m) {
  std::vector<PassRow> rows;
  for (const json& p : array_at(m, {"passes"}))
    rows.push_back({or_dash(text(p, {"pass"})), or_dash(text(p, {"canonical"})),
                    opt(num(p, {"seconds"}), [](double s) { return fmt::format("{:.2f} s", s); }), stats_text(p)});
  return rows;
}

std::vector<ProvRow> provenance(const json& m) {
  const auto bytes = [&](const char* obj) {
    auto b = num(m, {obj, "bytes"});
    return b ? fmt::format("{} B ({})", grouped(*b), human_bytes(*b)) : std::string(kDash);
  };
  std::vector<ProvRow> rows;
  rows.push_back({"input model", or_dash(text(m, {"input", "path"})) + ", " + bytes("input"), or_dash(text(m, {"input", "sha256"}))});
  rows.push_back({"output model", or_dash(text(m, {"output", "file"})) + ", " + bytes("output"),
                  or_dash(text(m, {"output", "sha256"}))});
  // The shape the figures are for ('?': a free batch dim, costed as 1).
  if (const json* shapes = get(m, {"input_shapes"}); shapes && shapes->is_object() && !shapes->empty()) {
    std::string list;
    for (const auto& [name, shape] : shapes->items())
      list += (list.empty() ? "" : ", ") + name + " " + (shape.is_string() ? shape.get<std::string>() : std::string(kDash));
    rows.push_back({"input shapes", list, ""});
  }
  // Label-free fidelity against the input model (compress/manifest.h FidelityFacts).
  if (auto sqnr = num(m, {"fidelity", "sqnr_db"})) {
    auto cos = num(m, {"fidelity", "mean_cosine"});
    auto n = num(m, {"fidelity", "samples"});
    rows.push_back({"fidelity vs input model",
                    fmt::format("SQNR {:.1f} dB, cosine {}, on {} {} samples", *sqnr, cos ? fmt::format("{:.5f}", *cos) : kDash,
                                n ? grouped(*n) : kDash, or_dash(text(m, {"fidelity", "data"}))),
                    ""});
  }
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

}  // namespace edgepack::report_detail
