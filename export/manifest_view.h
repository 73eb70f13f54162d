// A manifest (edgepack.manifest/1) as the two report pages read it: report.md and report.html
// show the same facts, so both take them from here, already spelled as text ("-" where
// unknown) and leave only the markup to themselves. Raw strings from the JSON (names, reasons,
// digests) are returned unescaped; the page escapes them for its output.
//
// Internal to export/; reads the JSON through report_json.h, so nothing here throws on a
// missing or odd field.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "export/report_json.h"

namespace edgepack::report_detail {

// ---------------------------------------------------------------------------------------------
// Verdict and gates.

struct GateRow {
  std::string name;
  std::string limit, value;  // in the unit the gate's name says
  std::optional<bool> passed;
};

std::vector<GateRow> gate_rows(const json& m);

// PASS when the manifest says so and no gate failed; FAIL when either says otherwise;
// unknown when neither says.
std::optional<bool> verdict(const std::optional<bool>& passed, const std::vector<GateRow>& gates);

// "1 of 2 gates not met: max-latency-ms 41.2 ms > 33 ms" / "all 2 gates met" / "the gate is met" /
// "no gates set".
std::string verdict_detail(const std::optional<bool>& v, const std::vector<GateRow>& gates);

// ---------------------------------------------------------------------------------------------
// Target, budgets, plan.

// "Qualcomm QCS2290 (qcs2290)", or whichever of name and id is known.
std::string target_title(const json& m);

// Target figures: the known ones in a fixed order with units, then any other scalar figure
// (a newer planner may add some) as it stands.
std::vector<std::pair<std::string, std::string>> target_figures(const json& m);

// The four budgets with their limits.
std::vector<std::pair<std::string, std::string>> budget_rows(const json& m);

struct Candidate {
  std::string pipeline, macs, weights, latency, memory, fits, why;
  bool chosen = false;
};

std::vector<Candidate> candidates(const json& m);

// ---------------------------------------------------------------------------------------------
// Before and after.

// Accuracy before and after: the "accuracy" object's, else the before/after figures'.
std::pair<std::optional<double>, std::optional<double>> accuracy_before_after(const json& m);

// Before/after rows: label, before, after, change.
std::vector<std::vector<std::string>> before_after(const json& m);

// The RAM the memory estimate is held against: the estimate's own figure, else the target's.
std::optional<double> ram_bytes(const json& m);

// One sentence on the latency bound and RAM fit, or "" when the manifest says nothing.
std::string estimate_note(const json& m);

// ---------------------------------------------------------------------------------------------
// Layers.

struct Layer {
  std::string name, op;
  std::optional<double> macs, bytes, latency;
};

std::vector<Layer> all_layers(const json& m);

// The k largest layers by `key` (graph order among equals), skipping layers with nothing to
// rank by. A partial sort: a manifest may list hundreds of thousands of nodes.
std::vector<const Layer*> top_layers(const std::vector<Layer>& layers, std::optional<double> Layer::*key, size_t k);

double layer_total(const std::vector<Layer>& layers, std::optional<double> Layer::*key);

// v as a percentage of total ("74.2%"), "-" when unknown.
std::string share(const std::optional<double>& v, double total);

// ---------------------------------------------------------------------------------------------
// Passes and provenance.

struct PassRow {
  std::string pass, canonical, time, stats;  // stats as "key=value, ...", strings unquoted
};

std::vector<PassRow> pass_rows(const json& m);

struct ProvRow {
  std::string what, detail, digest;  // digest "" where there is none to show
};

std::vector<ProvRow> provenance(const json& m);

}  // namespace edgepack::report_detail
