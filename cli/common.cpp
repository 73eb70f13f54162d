#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <cstdio>
#include <vector>

#include "cli/commands.h"
#include "core/progress.h"
#include "core/close_match.h"
#include "core/input_shapes.h"
#include "core/dataset.h"
#include "core/error.h"
#include "passes/pass.h"

namespace edgepack::cli {

CLI::Validator at_least(int64_t min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        try {
          size_t used = 0;
          const long long v = std::stoll(text, &used);
          if (used == text.size() && v >= min) return "";
        } catch (const std::exception&) {
        }
        return fmt::format("needs an integer >= {}, got '{}'", min, text);
      },
      fmt::format("INT>={}", min));
}

void bind_shapes_from_data(Model& model, const Dataset& data, const Globals& globals) {
  for (const std::string& line : bind_input_shapes(model, data))
    if (!globals.quiet) fmt::print(stderr, "edgepack: input shape {}\n", line);
}

void warn(const Globals& globals, const std::string& message) {
  if (!globals.quiet) fmt::print(stderr, "edgepack: warning: {}\n", message);
}

ProgressFn progress_bars(const Globals& globals, bool json) {
  if (globals.quiet) return {};
  if (json) {
    using Clock = std::chrono::steady_clock;
    struct Task {
      Clock::time_point start, last;
    };
    auto tasks = std::make_shared<std::map<std::string, Task>>();
    return [tasks](const std::string& task, int64_t done, int64_t total, const std::string& status) {
      const Clock::time_point now = Clock::now();
      auto it = tasks->find(task);
      const bool first = it == tasks->end();
      if (first) it = tasks->emplace(task, Task{now, now}).first;
      const bool last = done >= total;
      if (!first && !last && now - it->second.last < std::chrono::seconds(1)) return;
      it->second.last = now;
      const double elapsed = std::chrono::duration<double>(now - it->second.start).count();
      const nlohmann::ordered_json event = {{"event", "progress"}, {"task", task},     {"done", done},
                                            {"total", total},      {"status", status}, {"elapsed_s", std::round(elapsed * 1000) / 1000}};
      fmt::print(stderr, "{}\n", event.dump());
      std::fflush(stderr);
      if (last) tasks->erase(it);
    };
  }
  auto bars = std::make_shared<std::map<std::string, std::unique_ptr<Progress>>>();
  return [bars](const std::string& task, int64_t done, int64_t total, const std::string& status) {
    auto it = bars->find(task);
    if (it == bars->end()) it = bars->emplace(task, std::make_unique<Progress>(task, total, false)).first;
    if (done < total) {
      it->second->update(done, status);
    } else {
      it->second->finish(status);
      bars->erase(it);
    }
  };
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

CLI::Validator one_of(std::vector<std::string> choices) {
  const std::string name = fmt::format("{}", fmt::join(choices, "|"));
  return CLI::Validator(
      [choices = std::move(choices), name](std::string& text) -> std::string {
        if (std::find(choices.begin(), choices.end(), text) != choices.end()) return "";
        return fmt::format("needs one of {}, got '{}'{}", name, text, did_you_mean(text, choices));
      },
      name);
}

void add_pass_options(CLI::App* cmd, const std::string& pass, std::map<std::string, std::string>& values,
                      const std::set<std::string>& skip, const std::map<std::string, std::string>& aliases) {
  for (const OptionSpec& o : find_pass(pass).options) {
    if (skip.count(o.name)) continue;
    std::string help = o.help;
    if (o.type == OptionSpec::Type::Choice) help += fmt::format(" ({})", fmt::join(o.choices, "|"));
    if (!o.range.empty()) help += fmt::format(" {}", o.range.text());
    if (!o.default_value.empty()) help += fmt::format(" [default: {}]", o.default_value);
    std::string names = "--" + o.name;
    if (aliases.count(o.name)) names += "," + aliases.at(o.name);
    // The value is checked against the pass's declaration here, so the error names the flag.
    CLI::callback_t store = [&values, spec = o](const CLI::results_t& r) {
      const std::string v = r.empty() || r[0].empty() ? "true" : r[0];   // a bare bool flag means true
      const std::string why = option_value_error(spec, v);
      if (!why.empty()) throw CLI::ValidationError("--" + spec.name, why);
      values[spec.name] = v;
      return true;
    };
    CLI::Option* opt = cmd->add_option(names, store, help);
    if (o.type == OptionSpec::Type::Bool) opt->expected(0, 1);
    else opt->type_name(o.type == OptionSpec::Type::Choice ? "CHOICE" : o.type == OptionSpec::Type::Int ? "INT"
                        : o.type == OptionSpec::Type::Float ? "FLOAT" : "TEXT");
  }
}

void add_input_shape_option(CLI::App* cmd, std::vector<std::string>& input_shapes) {
  cmd->add_option("--input-shape", input_shapes,
                  "Shape of an input, NAME:1x3x224x224 or NAME:1x16:int64 (repeatable; DIMS alone for a single input): "
                  "binds an ONNX model's dynamic dims (else they come from the data), and is required for TorchScript");
}

LoadOptions cli_load_options(const std::vector<std::string>& input_shapes, const Globals& globals) {
  LoadOptions options;
  // Globals live as long as the program (cli/main.cpp), so the loader may keep a reference.
  options.onnx.warn = [&globals](const std::string& message) { warn(globals, message); };
  for (const std::string& text : input_shapes) {
    auto [name, spec] = parse_input_spec(text);
    if (!options.input_shapes.emplace(name, spec).second)
      throw InputError(fmt::format("--input-shape given twice for {}", name.empty() ? "the input" : "'" + name + "'"));
  }
  return options;
}

Model load_cli_model(const std::string& path, const std::vector<std::string>& input_shapes, const Globals& globals) {
  return load_model(path, cli_load_options(input_shapes, globals));
}

}  // namespace edgepack::cli
