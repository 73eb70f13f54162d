// Each subcommand lives in cli/cmd_<name>.cpp and registers itself on the app: it declares its
// options and sets `action` (run after parsing) to a function returning the exit code.
// Subcommands parse and print; the work is done by the library.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/model_loader.h"

namespace edgepack { struct Dataset; }

namespace edgepack::cli {

struct Globals {
  int threads = 0;          // 0 = all cores
  bool quiet = false;
};

using Action = std::function<int()>;

void add_inspect(CLI::App& app, Action& action, const Globals& globals);
void add_run(CLI::App& app, Action& action, const Globals& globals);
void add_targets(CLI::App& app, Action& action, const Globals& globals);
void add_passes(CLI::App& app, Action& action, const Globals& globals);
void add_eval(CLI::App& app, Action& action, const Globals& globals);
void add_quantize(CLI::App& app, Action& action, const Globals& globals);
void add_prune(CLI::App& app, Action& action, const Globals& globals);
void add_distill(CLI::App& app, Action& action, const Globals& globals);
void add_compress(CLI::App& app, Action& action, const Globals& globals);
void add_report(CLI::App& app, Action& action, const Globals& globals);
void add_bench(CLI::App& app, Action& action, const Globals& globals);

// Aligned columns, two spaces apart; the first row is the header.
std::string format_table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right_aligned);

// Adds `--<option> VALUE` for each option a pass declares (help, range and default from the
// declaration; a bool option may be given bare, meaning true), except those in `skip`; `aliases`
// adds other spellings (option name -> "--other"). Given values are checked against the
// declaration (an error names the flag) and land in `values`, to build the pipeline step.
void add_pass_options(CLI::App* cmd, const std::string& pass, std::map<std::string, std::string>& values,
                      const std::set<std::string>& skip = {}, const std::map<std::string, std::string>& aliases = {});

// Adds `--input-shape NAME:1x3x224x224[:TYPE]` (repeatable; DIMS alone for a single input),
// the shapes a TorchScript model is converted for.
void add_input_shape_option(CLI::App* cmd, std::vector<std::string>& input_shapes);
// The parsed --input-shape values (InputError for a malformed or repeated one); the import's
// warnings (a failed opset lift) go to stderr unless quiet.
LoadOptions cli_load_options(const std::vector<std::string>& input_shapes, const Globals& globals);
// load_model with those options.
Model load_cli_model(const std::string& path, const std::vector<std::string>& input_shapes, const Globals& globals);

// A count option's check: an integer >= `min` (0 where 0 has a documented meaning, "all").
CLI::Validator at_least(int64_t min);
// One of `choices`, or "needs one of a|b, got 'x' (did you mean 'a'?)".
CLI::Validator one_of(std::vector<std::string> choices);

// Binds the model's free input dims from the data's per-sample shapes (core/input_shapes.h),
// saying which on stderr unless quiet.
void bind_shapes_from_data(Model& model, const Dataset& data, const Globals& globals);

// Prints `edgepack: warning: ...` on stderr unless quiet.
void warn(const Globals& globals, const std::string& message);

// PassContext::progress for a person: one bar per task on stderr (core/progress.h: redrawn on a
// terminal, a line every few seconds in a log); empty when quiet. With `json` (the command's
// --json), one JSON object per line on stderr instead, for a program reading it:
//   {"event":"progress","task":"calibration","done":3,"total":10,"status":"...","elapsed_s":1.2}
// at most one a second per task, and always the last (done == total).
using ProgressFn = std::function<void(const std::string& task, int64_t done, int64_t total, const std::string& status)>;
ProgressFn progress_bars(const Globals& globals, bool json = false);

}  // namespace edgepack::cli
