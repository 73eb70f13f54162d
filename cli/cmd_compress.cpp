// edgepack compress MODEL --target ID[,ID...] --data DATA [--eval-data DATA] --out DIR: one
// artifact folder per target, each sized to the target by the planner (compress/planner.h) or by
// an explicit --pipeline, with manifest.json, report.md and report.html, plus summary.json and
// summary.md (docs/compress.md). Budgets that are not met exit 3 with everything still written.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "core/cost_model.h"
#include "core/dataset.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/file_util.h"
#include "core/onnx_import.h"
#include "core/output_lock.h"
#include "core/sha256.h"
#include "core/targets.h"
#include "core/onnx_export.h"
#include "export/report.h"
#include "passes/pipeline.h"
#include "compress/planner.h"

namespace edgepack::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct CompressArgs {
  std::string model, data, eval_data, out, pipeline, recipe, target_file;
  std::vector<std::string> targets, input_shapes;
  std::optional<double> max_latency_ms, max_size_mb, max_memory_mb, max_accuracy_drop;
  int64_t calib_samples = 256;
  int64_t epochs = 3;
  bool force = false;
  bool json = false;
};

// A recipe fills what the command line left empty (the command line wins).
void apply_recipe(CompressArgs& a) {
  YAML::Node r;
  try {
    r = YAML::LoadFile(a.recipe);
  } catch (const std::exception& e) {
    throw InputError(fmt::format("recipe '{}': {}", a.recipe, e.what()));
  }
  if (!r.IsMap()) throw InputError(fmt::format("recipe '{}' must be a mapping (pipeline, data, targets, budgets ...)", a.recipe));
  static const std::set<std::string> known = {"pipeline", "data", "eval_data", "targets", "out", "budgets", "calib_samples", "epochs",
                                              "target_file"};
  for (const auto& kv : r)
    if (!known.count(kv.first.as<std::string>()))
      throw InputError(fmt::format("recipe '{}': unknown key '{}' (known: {})", a.recipe, kv.first.as<std::string>(),
                                   fmt::join(known, ", ")));
  try {
    auto fill = [&](std::string& field, const char* key) {
      if (field.empty() && r[key]) field = r[key].as<std::string>();
    };
    fill(a.pipeline, "pipeline");
    fill(a.data, "data");
    fill(a.eval_data, "eval_data");
    fill(a.out, "out");
    fill(a.target_file, "target_file");
    if (a.targets.empty() && r["targets"]) {
      if (r["targets"].IsSequence())
        for (const auto& t : r["targets"]) a.targets.push_back(t.as<std::string>());
      else
        a.targets.push_back(r["targets"].as<std::string>());
    }
    if (r["calib_samples"]) a.calib_samples = r["calib_samples"].as<int64_t>();
    if (r["epochs"]) a.epochs = r["epochs"].as<int64_t>();
    if (const YAML::Node b = r["budgets"]) {
      auto budget = [&](std::optional<double>& field, const char* key) {
        if (!field && b[key]) field = b[key].as<double>();
      };
      budget(a.max_latency_ms, "max_latency_ms");
      budget(a.max_size_mb, "max_size_mb");
      budget(a.max_memory_mb, "max_memory_mb");
      budget(a.max_accuracy_drop, "max_accuracy_drop");
    }
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("recipe '{}': {}", a.recipe, e.what()));
  }
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", tm);
}

json nullable(const std::optional<double>& v) { return v ? json(*v) : json(); }

// Models after each pipeline prefix, so targets that share work (the same passes in the same
// order) compute it once.
class Builder {
 public:
  Builder(const Model& original, PassContext& ctx) : ctx_(ctx) {
    cache_[""] = {original, {}};
    ctx_.original = &cache_.at("").first;   // the teacher of a recovery fine-tune
  }

  // `pipeline` is canonical (compress canonicalizes it): each step runs as written.
  const std::pair<Model, std::vector<StepReport>>& build(const Pipeline& pipeline) {
    std::string key, done;
    size_t from = 0;
    for (size_t i = 0; i < pipeline.size(); ++i) {
      key += (i ? "," : "") + print_pipeline({pipeline[i]});
      if (cache_.count(key)) done = key, from = i + 1;
    }
    auto state = cache_.at(done);
    for (size_t i = from; i < pipeline.size(); ++i) {
      state.second.push_back(run_step(state.first, pipeline[i], ctx_));
      done += (i ? "," : "") + print_pipeline({pipeline[i]});
      cache_[done] = state;
    }
    return cache_.at(done);
  }

 private:
  PassContext& ctx_;
  std::map<std::string, std::pair<Model, std::vector<StepReport>>> cache_;
};

json target_json(const TargetProfile& t) {
  std::string confidence;
  const double tops = t.dense_int8_tops(&confidence);
  return {{"id", t.id}, {"name", t.name}, {"int8_tops", tops}, {"int8_tops_confidence", confidence},
          {"bandwidth_gbps", t.bandwidth_gbps.value}, {"ram_mb", t.ram_mb.value}, {"precisions", t.precisions}};
}

json candidate_json(const PlanCandidate& c) {
  return {{"pipeline", c.pipeline}, {"macs", c.macs}, {"weight_bytes", c.size_bytes}, {"latency_ms", c.latency_ms},
          {"memory_bytes", c.memory_bytes}, {"fits", c.fits}, {"why", c.why}};
}

// Under the output lock, what an earlier run left beside `out` is stale: a staging folder is
// removed, and a previous result moved aside by a run killed between its two renames is put back.
void sweep_stale(const fs::path& out) {
  const std::string partial = out.filename().string() + ".partial-", old = out.filename().string() + ".old-";
  for (const auto& e : fs::directory_iterator(out.parent_path())) {
    const std::string name = e.path().filename().string();
    if (name.rfind(partial, 0) == 0) {
      fs::remove_all(e.path());
    } else if (name.rfind(old, 0) == 0) {
      if (fs::exists(out)) fs::remove_all(e.path());
      else fs::rename(e.path(), out);
    }
  }
}

// Replaces `out` with `staged` whole: the old folder (with --force) is moved aside first and
// removed only after the new one is in place.
void publish(const fs::path& staged, const fs::path& out) {
  fs::path old;
  if (fs::exists(out)) {
    old = out.string() + fmt::format(".old-{}", ::getpid());
    fs::rename(out, old);
  }
  fs::rename(staged, out);
  if (!old.empty()) fs::remove_all(old);
}

int compress(CompressArgs a, const Globals& globals) {
  if (!a.recipe.empty()) apply_recipe(a);
  if (a.targets.empty()) throw InputError("compress needs --target ID[,ID...] (see `edgepack targets`)");
  if (a.data.empty()) throw InputError("compress needs --data (calibration and training data)");
  if (a.out.empty()) throw InputError("compress needs --out DIR");
  std::optional<Pipeline> user_pipeline;   // checked before anything is loaded
  if (!a.pipeline.empty()) user_pipeline = parse_pipeline(a.pipeline);
  const fs::path out = fs::absolute(a.out).lexically_normal();
  refuse_overwriting_input(a.out, a.model, "model");
  const std::vector<TargetProfile> profiles = load_targets(a.target_file);
  std::vector<TargetProfile> targets;
  for (const std::string& id : a.targets) targets.push_back(find_target(profiles, id));
  auto log = [&](const std::string& line) {
    if (!globals.quiet) fmt::print(stderr, "edgepack: {}\n", line);
  };
  fs::create_directories(out.parent_path());
  OutputLock lock(out.parent_path().string(), lock_wait_seconds(), log);
  sweep_stale(out);
  if (fs::exists(out) && !a.force)
    throw InputError(fmt::format("'{}' already exists; pass --force to replace it whole", a.out));

  const Model original = load_cli_model(a.model, a.input_shapes);
  const Dataset data = load_dataset(a.data, original);
  if (data.samples == 0) throw InputError(fmt::format("'{}' holds no samples", a.data));
  std::optional<Dataset> eval;
  if (!a.eval_data.empty()) eval = load_dataset(a.eval_data, original);
  if (a.max_accuracy_drop && !(eval && eval->has_labels()))
    throw InputError("--max-accuracy-drop needs --eval-data with labels");
  const Dataset calib = load_dataset(a.data, original, DatasetOptions{a.calib_samples});
  PassContext ctx;
  ctx.calibration = feed_batches(calib, original, 32);
  ctx.train = &data;
  ctx.eval = eval ? &*eval : nullptr;
  ctx.quiet = globals.quiet;
  ctx.log = log;

  const Budgets budgets{a.max_latency_ms, a.max_size_mb, a.max_memory_mb, a.max_accuracy_drop};
  PlanOptions plan_options;
  plan_options.can_train = data.has_labels();
  plan_options.epochs = a.epochs;

  const json input = {{"path", a.model}, {"sha256", file_sha256(a.model)}, {"bytes", fs::file_size(a.model)}};
  const ModelCost before_cost = analyze_model(original);
  std::optional<double> before_acc;
  if (eval && eval->has_labels()) before_acc = evaluate(original, *eval).accuracy;

  const fs::path staged = out.string() + fmt::format(".partial-{}", ::getpid());
  fs::remove_all(staged);
  fs::create_directories(staged);
  Builder builder(original, ctx);
  json summary = {{"schema", "edgepack.summary/1"}, {"tool", {{"name", "edgepack"}, {"version", EDGEPACK_VERSION}}},
                  {"input", input}, {"targets", json::array()}};
  const json budgets_json = {{"max_latency_ms", nullable(a.max_latency_ms)}, {"max_size_mb", nullable(a.max_size_mb)},
                             {"max_memory_mb", nullable(a.max_memory_mb)}, {"max_accuracy_drop", nullable(a.max_accuracy_drop)}};
  summary["budgets"] = budgets_json;   // the summary chart draws them against every target
  bool all_passed = true;
  try {
    for (const TargetProfile& target : targets) {
      Plan plan;
      if (user_pipeline) {
        plan.pipeline = print_pipeline(*user_pipeline);
        plan.reason = "given with --pipeline";
      } else {
        plan = plan_compression(original, target, budgets, plan_options);
      }
      plan.pipeline = print_pipeline(canonicalize(parse_pipeline(plan.pipeline)));
      log(fmt::format("{}: {}", target.id, plan.reason));
      ctx.target = &target;
      const auto& [artifact, steps] = builder.build(parse_pipeline(plan.pipeline));
      const fs::path dir = staged / target.id;
      fs::create_directories(dir);
      save_onnx(artifact, (dir / "model.onnx").string());

      const ModelCost cost = analyze_model(artifact);
      const bool int8 = plan.pipeline.find("quantize") != std::string::npos;
      const CostEstimate est = estimate_cost(cost, target, EstimateOptions{int8 ? Precision::Int8 : Precision::Fp32});
      const CostEstimate before_est = estimate_cost(before_cost, target, EstimateOptions{Precision::Fp32});
      const auto bytes = fs::file_size(dir / "model.onnx");
      std::optional<double> after_acc;
      if (eval && eval->has_labels()) after_acc = evaluate(artifact, *eval).accuracy;

      json gates = json::array();
      auto gate = [&](const char* name, const std::optional<double>& limit, double value) {
        if (limit) gates.push_back({{"name", name}, {"limit", *limit}, {"value", value}, {"passed", value <= *limit}});
      };
      gate("max-latency-ms", a.max_latency_ms, est.latency_ms);
      gate("max-size-mb", a.max_size_mb, bytes / (1024.0 * 1024.0));
      gate("max-memory-mb", a.max_memory_mb, est.memory_bytes / (1024.0 * 1024.0));
      if (before_acc && after_acc) gate("max-accuracy-drop", a.max_accuracy_drop, 100 * (*before_acc - *after_acc));
      gates.push_back({{"name", "fits-ram"}, {"limit", est.ram_bytes}, {"value", est.memory_bytes}, {"passed", est.fits}});
      bool passed = true;
      for (const auto& g : gates) passed = passed && g["passed"].get<bool>();
      all_passed = all_passed && passed;

      const json passes = steps_json(steps);
      json candidates = json::array();
      for (const auto& c : plan.candidates) candidates.push_back(candidate_json(c));
      json layers = json::array();
      for (const NodeCost& n : cost.nodes)
        if (!n.constant) layers.push_back({{"name", n.name}, {"op", n.op}, {"macs", n.macs}, {"bytes", int8 ? n.int8_bytes : n.fp32_bytes}});
      json manifest = {
          {"schema", "edgepack.manifest/1"},
          {"tool", {{"name", "edgepack"}, {"version", EDGEPACK_VERSION}}},
          {"created", now_utc()},
          {"target", target_json(target)},
          {"input", input},
          {"output", {{"file", "model.onnx"}, {"sha256", file_sha256((dir / "model.onnx").string())}, {"bytes", bytes}}},
          {"pipeline", plan.pipeline},
          {"passes", passes},
          {"budgets", budgets_json},
          {"plan", {{"chosen", plan.pipeline}, {"reason", plan.reason}, {"candidates", candidates}}},
          {"before", {{"params", before_cost.totals.params}, {"macs", before_cost.totals.macs}, {"bytes", input["bytes"]},
                      {"latency_ms", before_est.latency_ms}, {"memory_bytes", before_est.memory_bytes}, {"accuracy", nullable(before_acc)}}},
          {"after", {{"params", cost.totals.params}, {"macs", cost.totals.macs}, {"bytes", bytes}, {"latency_ms", est.latency_ms},
                     {"compute_ms", est.compute_ms}, {"memory_ms", est.memory_ms}, {"bound", est.bound},
                     {"memory_bytes", est.memory_bytes}, {"ram_bytes", est.ram_bytes}, {"fits_ram", est.fits},
                     {"accuracy", nullable(after_acc)}}},
          {"accuracy", {{"metric", "top-1"}, {"before", nullable(before_acc)}, {"after", nullable(after_acc)},
                        {"drop_points", before_acc && after_acc ? json(100 * (*before_acc - *after_acc)) : json()},
                        {"eval_samples", eval ? json(eval->samples) : json()}, {"eval_digest", eval ? json(eval->digest()) : json()}}},
          {"calibration", {{"samples", calib.samples}, {"digest", calib.digest()}}},
          {"gates", gates},
          {"passed", passed},
          {"layers", layers}};
      write_file_atomic((dir / "manifest.json").string(), manifest.dump(2) + "\n");
      write_file_atomic((dir / "report.md").string(), render_report_markdown(manifest));
      write_file_atomic((dir / "report.html").string(), render_report_html(manifest));
      summary["targets"].push_back({{"id", target.id}, {"name", target.name}, {"pipeline", plan.pipeline}, {"bytes", bytes},
                                    {"latency_ms", est.latency_ms}, {"memory_bytes", est.memory_bytes}, {"ram_bytes", est.ram_bytes},
                                    {"accuracy_before", nullable(before_acc)}, {"accuracy_after", nullable(after_acc)},
                                    {"passed", passed}, {"dir", target.id}});
    }
    summary["passed"] = all_passed;
    write_file_atomic((staged / "summary.json").string(), summary.dump(2) + "\n");
    write_file_atomic((staged / "summary.md").string(), render_summary_markdown(summary));
    write_file_atomic((staged / "summary.html").string(), render_summary_html(summary));
    publish(staged, out);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staged, ec);
    throw;
  }

  if (a.json) {
    fmt::print("{}\n", summary.dump(2));
  } else {
    fmt::print("{}", render_summary_markdown(summary));
    fmt::print("\nwrote {} ({} target{}){}\n", a.out, targets.size(), targets.size() == 1 ? "" : "s",
               all_passed ? "" : "; some budgets were NOT met (exit 3)");
  }
  return all_passed ? 0 : 3;
}

}  // namespace

void add_compress(CLI::App& app, Action& action, const Globals& globals) {
  auto a = std::make_shared<CompressArgs>();
  CLI::App* cmd = app.add_subcommand("compress", "One model in, one artifact per target device out, each sized to its envelope, with reports");
  cmd->add_option("model", a->model, "ONNX model (FP32) or TorchScript archive (.pt, with --input-shape)")->required();
  add_input_shape_option(cmd, a->input_shapes);
  cmd->add_option("--target", a->targets, "Target ids, comma-separated (see `edgepack targets`)")->delimiter(',');
  cmd->add_option("--target-file", a->target_file, "JSON/YAML file adding or overriding target profiles (docs/targets.md)");
  cmd->add_option("--data", a->data, "Calibration/training data: .npz (arrays by input name, optional int64 labels), .npy or .pb folder");
  cmd->add_option("--eval-data", a->eval_data, "Data to measure accuracy before and after on (labels needed for accuracy)");
  cmd->add_option("--out", a->out, "Output folder: one subfolder per target, summary.json, summary.md");
  cmd->add_option("--pipeline", a->pipeline, "Use this pipeline for every target instead of planning one (see `edgepack passes`)");
  cmd->add_option("--recipe", a->recipe, "YAML recipe: pipeline, data, eval_data, targets, out, budgets (the command line wins)");
  cmd->add_option("--max-latency-ms", a->max_latency_ms, "Budget: estimated latency per inference on the target");
  cmd->add_option("--max-size-mb", a->max_size_mb, "Budget: artifact file size (MiB)");
  cmd->add_option("--max-memory-mb", a->max_memory_mb, "Budget: weights + peak activations (MiB)");
  cmd->add_option("--max-accuracy-drop", a->max_accuracy_drop, "Gate: top-1 points lost on --eval-data");
  cmd->add_option("--calib-samples", a->calib_samples, "Calibration samples taken from --data")->capture_default_str();
  cmd->add_option("--epochs", a->epochs, "Distillation epochs when the plan shrinks the model")->capture_default_str();
  cmd->add_flag("--force", a->force, "Replace an existing output folder (whole)");
  cmd->add_flag("--json", a->json, "Print summary.json on stdout");
  cmd->footer("Exit codes: 0 every budget met; 2 bad input; 3 a budget or gate not met (artifacts and reports still written).\n"
              "Example: edgepack compress teacher.onnx --target qcs2290,qcs6490,jetson-agx-orin --data train.npz "
              "--eval-data test.npz --out artifacts --max-accuracy-drop 0.5");
  cmd->callback([&action, &globals, a] { action = [a, &globals] { return compress(*a, globals); }; });
}

}  // namespace edgepack::cli
