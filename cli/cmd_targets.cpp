// edgepack targets [--json] [--target-file FILE]
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/targets.h"

namespace edgepack::cli {


namespace {

struct TargetsArgs {
  bool json = false;
  std::string target_file;
};

int list_targets(const TargetsArgs& args) {
  std::vector<TargetProfile> targets = load_targets(args.target_file);
  if (args.json) {
    // The same schema a --target-file reads, so the output is a starting point for one.
    fmt::print("{}\n", nlohmann::json{{"targets", targets}}.dump(2));
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"id", "name", "class", "INT8 TOPS", "kind", "BW GB/s", "RAM MB", "power W", "confidence"}};
  for (const TargetProfile& p : targets)
    rows.push_back({p.id, p.name, to_string(p.device_class), fmt::format("{:g}", p.int8_tops.value),
                    to_string(p.int8_kind), fmt::format("{:g}", p.bandwidth_gbps.value),
                    fmt::format("{:g}", p.ram_mb.value), fmt::format("{:g}", p.power_w.value),
                    p.confidence_summary()});
  fmt::print("{}", format_table(rows, {false, false, false, true, false, true, true, true, false}));
  fmt::print("\nINT8 TOPS is the headline figure of its kind; estimates use a dense rate (sparse / 2).\n"
             "confidence: of INT8 TOPS, bandwidth, RAM and power, repeats left out;\n"
             "--json gives each figure's value, source and confidence.\n");
  return 0;
}

}  // namespace

void add_targets(CLI::App& app, Action& action, const Globals&) {
  auto args = std::make_shared<TargetsArgs>();
  CLI::App* cmd = app.add_subcommand("targets", "List the target device profiles");
  cmd->add_flag("--json", args->json, "Print JSON: every figure with its source and confidence");
  cmd->add_option("--target-file", args->target_file, "JSON or YAML file adding or overriding profiles");
  cmd->callback([&action, args] { action = [args] { return list_targets(*args); }; });
}

}  // namespace edgepack::cli
