// edgepack targets [--json] [--target-file FILE]
// edgepack targets --measure-host [--json] [--save FILE]
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/human_format.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/host_profile.h"
#include "core/targets.h"

namespace edgepack::cli {


namespace {

struct TargetsArgs {
  bool json = false;
  std::string target_file;
  bool measure_host = false;
  std::string save;
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

// Block-style YAML of a JSON document. Strings are double-quoted so that none reads back as a
// number or a boolean (the target-file reader keeps quoted scalars as text).
void emit_yaml(YAML::Emitter& out, const nlohmann::json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, value] : j.items()) {
      out << YAML::Key << key << YAML::Value;
      emit_yaml(out, value);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& value : j) emit_yaml(out, value);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << YAML::DoubleQuoted << j.get<std::string>();
  } else if (j.is_boolean()) {
    out << j.get<bool>();
  } else if (j.is_number_integer()) {
    out << j.get<int64_t>();
  } else if (j.is_number()) {
    // Shortest text that reads back as the same double.
    out << fmt::format("{}", j.get<double>());
  } else {
    out << YAML::Null;
  }
}

int measure(const TargetsArgs& args, const Globals& globals) {
  // The file type first: a bad name should not cost a measurement.
  const std::string ext = std::filesystem::path(args.save).extension().string();
  if (!args.save.empty() && ext != ".json" && ext != ".yaml" && ext != ".yml")
    throw InputError(fmt::format("--save {}: unknown target file type '{}' (use .json, .yaml or .yml)", args.save, ext));
  if (!globals.quiet) fmt::print(stderr, "edgepack: measuring this machine (a few seconds)...\n");
  const TargetProfile host = measure_host(globals.threads);
  const nlohmann::json doc = {{"targets", {host}}};
  if (!args.save.empty()) {
    std::string text = doc.dump(2) + "\n";
    if (ext != ".json") {
      YAML::Emitter out;
      emit_yaml(out, doc);
      text = std::string("# edgepack targets --measure-host; load with --target-file, use as --target host\n") +
             out.c_str() + "\n";
    }
    write_file_atomic(args.save, text);
  }
  if (args.json) {
    fmt::print("{}\n", doc.dump(2));
  } else {
    fmt::print("host: {}\n", host.name);
    std::vector<std::vector<std::string>> rows = {{"figure", "value", "confidence", "source"}};
    auto row = [&rows](const char* name, const Figure& f, const char* unit) {
      rows.push_back({name, fmt::format("{} {}", grouped(f.value), unit), f.confidence, f.source});
    };
    row("fp32", *host.fp32_tops, "TOPS");
    row("int8", host.int8_tops, "TOPS");
    row("bandwidth", host.bandwidth_gbps, "GB/s");
    row("ram", host.ram_mb, "MiB");
    row("node overhead", *host.node_overhead_us, "us");
    row("power", host.power_w, "W");
    fmt::print("{}", format_table(rows, {false, true, false, false}));
  }
  if (!args.save.empty() && !globals.quiet)
    fmt::print(stderr, "edgepack: saved to {}; use it with --target host --target-file {}\n", args.save, args.save);
  return 0;
}

}  // namespace

void add_targets(CLI::App& app, Action& action, const Globals& globals) {
  auto args = std::make_shared<TargetsArgs>();
  CLI::App* cmd = app.add_subcommand("targets", "List the target device profiles, or measure this machine");
  cmd->add_flag("--json", args->json, "Print JSON: every figure with its source and confidence");
  cmd->add_option("--target-file", args->target_file, "JSON or YAML file adding or overriding profiles");
  auto* measure_flag = cmd->add_flag(
      "--measure-host", args->measure_host,
      "Measure this machine (FP32/INT8 compute, memory bandwidth, RAM, node overhead; a few seconds, "
      "with --threads) and print it as the `host` profile");
  cmd->add_option("--save", args->save, "With --measure-host: write the host profile as a target file (.json, .yaml)")
      ->needs(measure_flag);
  cmd->callback([&action, &globals, args] {
    action = [&globals, args] { return args->measure_host ? measure(*args, globals) : list_targets(*args); };
  });
}

}  // namespace edgepack::cli
