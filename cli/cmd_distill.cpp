// edgepack distill TEACHER -o STUDENT.onnx --data TRAIN [--eval-data TEST] [--stages N] ...:
// step-by-step knowledge distillation. The options of the distill pass come from its own
// declaration (see `edgepack passes`); this file adds data, checkpoints and data parallelism.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "cli/commands.h"
#include "core/human_format.h"
#include "core/dataset.h"
#include "core/error.h"
#include "core/executor.h"
#include "core/file_util.h"
#include "core/onnx_import.h"
#include "core/output_lock.h"
#include "distill/data_parallel.h"
#include "core/onnx_export.h"
#include "passes/pipeline.h"

namespace edgepack::cli {
namespace fs = std::filesystem;

namespace {

struct DistillArgs {
  std::string model, output, data, eval_data, work_dir, resume;
  std::vector<std::string> input_shapes;
  int nproc = 1;
  int64_t limit = 0, eval_limit = 0;
  bool json = false;
  std::map<std::string, std::string> options;
};

// This process's own command line, to start the same command as N ranks.
std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  if (!args.empty()) args[0] = "/proc/self/exe";
  return args;
}

int distill_model(const DistillArgs& a, const Globals& globals) {
  resolve_output_path(a.output);   // a FIFO, device or folder is refused before any work
  if (fs::exists(a.output) && same_file(a.model, a.output))
    throw InputError(fmt::format("refusing to write over the input model '{}'", a.model));
  if (!a.work_dir.empty() && !a.resume.empty() && a.work_dir != a.resume)
    throw InputError("give either --work-dir or --resume (the folder to continue from), not both");
  std::optional<distill::DistributedOptions> dist = distill::distributed_from_env();
  if (a.nproc > 1 && !dist) {   // the launcher: the ranks run this same command line
    distill::launch_local_ranks(a.nproc, own_command_line());
    return 0;
  }
  std::unique_ptr<distill::Communicator> comm = dist ? distill::Communicator::connect(*dist) : nullptr;
  // Ranks on one machine share its cores: by default each takes its share, not all of them.
  if (dist && globals.threads == 0) {
    const char* local = std::getenv("LOCAL_WORLD_SIZE");   // torchrun's; launch_local_ranks starts them all here
    const int here = local ? std::max(1, std::atoi(local)) : dist->world_size;
    set_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / here));
  }
  const bool leader = !comm || comm->rank() == 0;
  const bool quiet = globals.quiet || !leader;
  auto log = [quiet](const std::string& line) {
    if (!quiet) fmt::print(stderr, "edgepack: {}\n", line);
  };
  std::optional<OutputLock> lock;
  if (leader) lock.emplace(output_folder(a.output), lock_wait_seconds(), log);

  Model teacher = load_cli_model(a.model, a.input_shapes, globals);
  const Dataset train = load_dataset(a.data, teacher, DatasetOptions{a.limit});
  bind_shapes_from_data(teacher, train, globals);
  std::optional<Dataset> eval;
  if (!a.eval_data.empty()) eval = load_dataset(a.eval_data, teacher, DatasetOptions{a.eval_limit});
  PassContext ctx;
  ctx.train = &train;
  ctx.eval = eval ? &*eval : nullptr;
  ctx.work_dir = a.resume.empty() ? a.work_dir : a.resume;
  ctx.resume = !a.resume.empty();
  if (ctx.resume && !fs::is_directory(a.resume)) throw InputError(fmt::format("--resume: no such folder '{}'", a.resume));
  ctx.quiet = quiet;
  ctx.comm = comm.get();
  if (!quiet) ctx.log = log;
  if (!quiet) ctx.progress = progress_bars(globals, a.json);

  Pipeline pipeline = parse_pipeline(print_pipeline({PipelineStep{"distill", a.options}}));
  Model student = teacher;
  auto reports = run_pipeline(student, pipeline, ctx);
  if (!leader) return 0;
  save_onnx(student, a.output);

  const auto& stats = reports.at(0).result.stats;
  const auto stages = static_cast<int>(stats.at("stages"));
  auto stat = [&](const std::string& key) { return stats.count(key) ? nlohmann::json(stats.at(key)) : nlohmann::json(); };
  nlohmann::json rows = nlohmann::json::array();
  for (int k = 0; k <= stages; ++k) {
    const std::string p = k == 0 ? "teacher." : fmt::format("stage{}.", k);
    rows.push_back({{"stage", k == 0 ? "teacher" : fmt::format("stage {}", k)}, {"params", stat(p + "params")},
                    {"macs", stat(p + "macs")}, {"accuracy", stat(p + "accuracy")},
                    {"perplexity", stat(p + "perplexity")}});
  }
  if (a.json) {
    nlohmann::json j = {{"input", a.model}, {"output", a.output}, {"pipeline", print_pipeline(pipeline)},
                        {"stages", rows}, {"data_digest", train.digest()}, {"seconds", reports.at(0).seconds},
                        {"ranks", comm ? comm->world_size() : 1}};
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  const bool lm = stats.count("teacher.perplexity") != 0;  // a language model: per-token top-1 and perplexity
  std::vector<std::vector<std::string>> table = {{"model", "params", "MACs", lm ? "token top-1" : "top-1"}};
  if (lm) table[0].push_back("perplexity");
  const double teacher_params = stats.at("teacher.params");
  for (const auto& r : rows)
    table.push_back({r["stage"].get<std::string>(),
                     fmt::format("{} ({:.1f}%)", grouped(r["params"].get<double>()), 100 * r["params"].get<double>() / teacher_params),
                     human_count(r["macs"].get<double>()),
                     r["accuracy"].is_null() ? "-" : fmt::format("{:.2f}%", 100 * r["accuracy"].get<double>())});
  if (lm)
    for (size_t i = 0; i < rows.size(); ++i)
      table[i + 1].push_back(rows[i]["perplexity"].is_null() ? "-" : fmt::format("{:.3f}", rows[i]["perplexity"].get<double>()));
  fmt::print("distilled {} -> {} in {:.0f} s\n  pipeline  {}\n{}", a.model, a.output, reports.at(0).seconds,
             print_pipeline(pipeline), format_table(table, {false, true, true, true, true}));
  return 0;
}

}  // namespace

void add_distill(CLI::App& app, Action& action, const Globals& globals) {
  auto a = std::make_shared<DistillArgs>();
  CLI::App* cmd = app.add_subcommand("distill", "Step-by-step knowledge distillation: teacher -> assistants -> smaller student");
  cmd->add_option("model", a->model, "Teacher: ONNX model or TorchScript archive (.pt, with --input-shape)")->required();
  add_input_shape_option(cmd, a->input_shapes);
  cmd->add_option("-o,--output", a->output, "Student ONNX model to write")->required();
  cmd->add_option("--data", a->data, "Training data: .npz (arrays by input name, int64 labels), .npy, or a .pb folder")->required();
  cmd->add_option("--eval-data", a->eval_data, "Data to report each stage's accuracy (and perplexity) on");
  cmd->add_option("--limit", a->limit, "Train on the first N samples of --data only (0 = all)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--eval-limit", a->eval_limit, "Evaluate on the first N samples of --eval-data only (0 = all)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--work-dir", a->work_dir, "Folder for checkpoints (each epoch) and finished stages");
  cmd->add_option("--resume", a->resume, "Continue an interrupted run from its --work-dir folder");
  cmd->add_option("--nproc", a->nproc, "Data-parallel ranks on this machine (c10d Gloo over loopback); "
                                       "RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT join a multi-machine job instead")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the result as JSON");
  add_pass_options(cmd, "distill", a->options);
  cmd->footer("Examples:\n  edgepack distill teacher.onnx -o student.onnx --data train.npz --eval-data test.npz --stages 3 "
              "--target-params 0.1\n  edgepack distill teacher.onnx -o student.onnx --data train.npz --student my_small.onnx\n"
              "  edgepack distill teacher.onnx -o student.onnx --data train.npz --work-dir ckpt --nproc 2");
  cmd->callback([&action, &globals, a] { action = [a, &globals] { return distill_model(*a, globals); }; });
}

}  // namespace edgepack::cli
