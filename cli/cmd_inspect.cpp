// edgepack inspect MODEL [--input-shape NAME:DIMS ...] [--json] [--all] [--target ID [--precision int8|fp16|fp32] [--efficiency E]]
//                  [--target-file FILE]
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "core/input_shapes.h"
#include "core/human_format.h"
#include "core/cost_model.h"
#include "core/onnx_import.h"
#include "core/targets.h"

namespace edgepack::cli {


namespace {

struct InspectArgs {
  std::string model;
  std::vector<std::string> input_shapes;
  bool json = false;
  bool all = false;
  std::string target;
  std::string target_file;
  std::string precision = "int8";
  double efficiency = EstimateOptions{}.efficiency;
};

std::string shapes(const NodeCost& n) {
  std::vector<std::string> parts;
  for (const auto& s : n.output_shapes) parts.push_back(s.empty() ? "scalar" : fmt::format("{}", fmt::join(s, "x")));
  return fmt::format("{}", fmt::join(parts, ", "));
}

// QDQ layers are float ops on dequantized weights in the file; the column says what they run as.
std::string op_label(const NodeCost& n) {
  if (n.constant) return n.op + " (const)";
  const bool qdq = n.op == "Conv" || n.op == "ConvTranspose" || n.op == "Gemm" || n.op == "MatMul";
  return n.integer && qdq ? n.op + " (int8)" : n.op;
}

void print_human(const std::string& path, const ModelCost& cost, const std::optional<CostEstimate>& estimate,
                 const TargetProfile* target, bool all) {
  std::vector<std::vector<std::string>> rows = {{"node", "op", "params", "MACs", "FP32 bytes", "output"}};
  for (const NodeCost& n : cost.nodes) {
    if (n.constant && !all) continue;
    rows.push_back({n.name, op_label(n), n.params ? human_count(n.params) : "-",
                    n.macs ? human_count(n.macs) : "-", n.fp32_bytes ? human_bytes(n.fp32_bytes) : "-", shapes(n)});
  }
  fmt::print("{}\n", path);
  fmt::print("{}", format_table(rows, {false, false, true, true, true, false}));

  const CostTotals& t = cost.totals;
  std::vector<std::pair<std::string, int>> ops(t.op_histogram.begin(), t.op_histogram.end());
  std::stable_sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> histogram;
  for (const auto& [op, count] : ops) histogram.push_back(fmt::format("{} {}", op, count));
  std::string constants;
  if (t.constant_nodes)
    constants = fmt::format(", {} constant (folded on export{})", t.constant_nodes, all ? "" : "; --all lists them");
  fmt::print("\ntotals\n");
  fmt::print("  nodes             {} run{}\n", t.runtime_nodes, constants);
  fmt::print("  params            {} ({})\n", human_count(t.params), grouped(t.params));
  fmt::print("  MACs              {} ({})\n", human_count(t.macs), grouped(t.macs));
  fmt::print("  FP32 weights      {}\n", human_bytes(t.fp32_bytes));
  fmt::print("  INT8 weights      {} (estimate)\n", human_bytes(t.int8_bytes));
  fmt::print("  stored weights    {} (as the file holds them)\n", human_bytes(t.stored_weight_bytes));
  if (t.weighted_layers)
    fmt::print("  weighted layers   {}: {} integer, {} float\n", t.weighted_layers, t.integer_layers,
               t.weighted_layers - t.integer_layers);
  fmt::print("  peak activations  {}\n", human_bytes(t.peak_activation_bytes));
  fmt::print("  ops               {}\n", fmt::join(histogram, ", "));
  if (!estimate) return;

  const CostEstimate& e = *estimate;
  fmt::print("\nestimate on {} ({}), {}\n", target->id, target->name, to_string(e.precision));
  fmt::print("  latency           >= {}, {}-bound (compute alone {}, memory alone {})\n", human_ms(e.latency_ms),
             e.bound, human_ms(e.compute_ms), human_ms(e.memory_ms));
  fmt::print("  compute           {:g} TOPS ({}, {}) x {:g} efficiency\n", e.tops, e.tops_figure, e.tops_confidence,
             e.efficiency);
  fmt::print("  bandwidth         {:g} GB/s ({})\n", e.bandwidth_gbps, e.bandwidth_confidence);
  if (e.weight_bytes > 0)
    fmt::print("  weight streaming  at most {} inferences/s\n", human_count(e.max_inferences_per_s));
  fmt::print("  memory            {} (weights {} + activations {}) of {} RAM: {}\n", human_bytes(e.memory_bytes),
             human_bytes(e.weight_bytes), human_bytes(e.peak_activation_bytes), human_bytes(e.ram_bytes),
             e.fits ? "fits" : "DOES NOT FIT");
}

int inspect(const InspectArgs& args, const Globals& globals) {
  // Options first: a bad target or precision should not wait for the model to run.
  std::vector<TargetProfile> targets = load_targets(args.target_file);
  const TargetProfile* target = args.target.empty() ? nullptr : &find_target(targets, args.target);
  EstimateOptions options{parse_precision(args.precision), args.efficiency};

  Model model = load_cli_model(args.model, args.input_shapes, globals);
  ModelCost cost = analyze_model(model);
  for (const std::string& a : cost.assumptions) warn(globals, a);
  std::optional<CostEstimate> estimate;
  if (target) estimate = estimate_cost(cost, *target, options);

  if (args.json) {
    nlohmann::json out = {
        {"model", args.model},   {"input_shapes", input_shapes(model)}, {"nodes", cost.nodes},
        {"totals", cost.totals}, {"assumptions", cost.assumptions}};
    if (estimate) out["estimate"] = *estimate;
    fmt::print("{}\n", out.dump(2));
  } else {
    for (const auto& [name, shape] : input_shapes(model)) fmt::print("input {}: {}\n", name, shape);
    print_human(args.model, cost, estimate, target, args.all);
  }
  return 0;
}

}  // namespace

void add_inspect(CLI::App& app, Action& action, const Globals& globals) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Per-node parameters, MACs, weight bytes and shapes; with --target a latency and memory estimate");
  cmd->add_option("model", args->model, "ONNX model or TorchScript archive (.pt, with --input-shape)")->required();
  add_input_shape_option(cmd, args->input_shapes);
  cmd->add_flag("--json", args->json, "Print one JSON object: nodes, totals, estimate");
  cmd->add_flag("--all", args->all, "Also list constant nodes (folded on export)");
  cmd->add_option("-t,--target", args->target, "Target profile id for a cost estimate (see `edgepack targets`)");
  cmd->add_option("--target-file", args->target_file, "JSON or YAML file adding or overriding profiles");
  cmd->add_option("--precision", args->precision, "Precision of the estimate")
      ->check(one_of({"int8", "fp16", "fp32"}))
      ->capture_default_str();
  cmd->add_option("--efficiency", args->efficiency, "Fraction of peak compute the estimate assumes")
      ->check(CLI::Range(1e-3, 1.0))
      ->capture_default_str();
  cmd->callback([&action, &globals, args] { action = [args, &globals] { return inspect(*args, globals); }; });
}

}  // namespace edgepack::cli
