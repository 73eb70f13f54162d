// edgepack passes [--json]: every pass with its options, from the passes' own declarations.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "passes/pass.h"

namespace edgepack::cli {

namespace {

int list_passes(bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const PassInfo& p : pass_registry()) {
      nlohmann::json options = nlohmann::json::array();
      for (const OptionSpec& o : p.options) {
        nlohmann::json opt = {{"name", o.name}, {"type", option_type_name(o.type)}, {"default", o.default_value}, {"help", o.help}};
        if (!o.choices.empty()) opt["choices"] = o.choices;
        if (o.range.min) opt["min"] = *o.range.min, opt["min_exclusive"] = o.range.min_open;
        if (o.range.max) opt["max"] = *o.range.max, opt["max_exclusive"] = o.range.max_open;
        options.push_back(opt);
      }
      out.push_back({{"name", p.name}, {"summary", p.summary}, {"description", p.description}, {"runs_after", p.runs_after},
                     {"options", options}});
    }
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  for (const PassInfo& p : pass_registry()) {
    fmt::print("{}\n  {}\n", p.name, p.summary);
    if (!p.runs_after.empty()) fmt::print("  runs after: {}\n", fmt::join(p.runs_after, ", "));
    for (const OptionSpec& o : p.options) {
      std::string type = o.type == OptionSpec::Type::Choice ? fmt::format("{}", fmt::join(o.choices, "|")) : option_type_name(o.type);
      if (!o.range.empty()) type += " " + o.range.text();
      fmt::print("    {}={} (default {}): {}\n", o.name, type, o.default_value.empty() ? "none" : o.default_value, o.help);
    }
  }
  fmt::print("\nPipelines chain passes with commas and give options in braces, e.g.\n"
             "  prune{{target-macs=0.5 sensitivity=true}},finetune{{epochs=2}},quantize{{calib=entropy max-accuracy-drop=0.5}}\n"
             "A pass's canonicalisation (runs after) is added in front of it when it is not already there.\n"
             "`edgepack passes --json` adds each pass's description.\n");
  return 0;
}

}  // namespace

void add_passes(CLI::App& app, Action& action, const Globals&) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("passes", "List every pass with its options, defaults and help");
  cmd->add_flag("--json", *json, "Machine-readable output");
  cmd->callback([&action, json] { action = [json] { return list_passes(*json); }; });
}

}  // namespace edgepack::cli
