#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "cli/commands.h"
#include "core/dataset.h"
#include "core/error.h"
#include "passes/pass.h"

namespace edgepack::cli {

void warn(const Globals& globals, const std::string& message) {
  if (!globals.quiet) fmt::print(stderr, "edgepack: warning: {}\n", message);
}

// Aligned columns, two spaces apart; the first row is the header.
std::string format_table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right_aligned) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      bool right = c < right_aligned.size() && right_aligned[c];
      line += right ? fmt::format("{:>{}}", row[c], width[c]) : fmt::format("{:<{}}", row[c], width[c]);
      if (c + 1 < row.size()) line += "  ";
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + "\n";
  }
  return out;
}

void add_pass_options(CLI::App* cmd, const std::string& pass, std::map<std::string, std::string>& values) {
  for (const OptionSpec& o : find_pass(pass).options) {
    std::string help = o.help;
    if (o.type == OptionSpec::Type::Choice) help += fmt::format(" ({})", fmt::join(o.choices, "|"));
    if (!o.default_value.empty()) help += fmt::format(" [default: {}]", o.default_value);
    cmd->add_option_function<std::string>("--" + o.name, [&values, name = o.name](const std::string& v) { values[name] = v; }, help);
  }
}

void add_input_shape_option(CLI::App* cmd, std::vector<std::string>& input_shapes) {
  cmd->add_option("--input-shape", input_shapes,
                  "TorchScript models: shape of an input, NAME:1x3x224x224 or NAME:1x16:int64 (repeatable; DIMS alone "
                  "for a single input)");
}

Model load_cli_model(const std::string& path, const std::vector<std::string>& input_shapes) {
  LoadOptions options;
  for (const std::string& text : input_shapes) {
    auto [name, spec] = parse_input_spec(text);
    if (!options.input_shapes.emplace(name, spec).second)
      throw InputError(fmt::format("--input-shape given twice for {}", name.empty() ? "the input" : "'" + name + "'"));
  }
  return load_model(path, options);
}

}  // namespace edgepack::cli
