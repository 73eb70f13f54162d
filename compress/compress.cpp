#include "compress/compress.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <ctime>
#include <filesystem>
#include <map>
#include <optional>

#include <ATen/Parallel.h>

#include "core/benchmark.h"
#include "core/cost_model.h"
#include "core/dataset.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/file_util.h"
#include "core/host_profile.h"
#include "core/input_shapes.h"
#include "core/onnx_export.h"
#include "core/output_lock.h"
#include "core/sha256.h"
#include "core/targets.h"
#include "export/artifact_folder.h"
#include "export/report.h"
#include "passes/pipeline.h"

namespace edgepack {

namespace fs = std::filesystem;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", tm);
}

std::string prefix_key(const Pipeline& pipeline, size_t steps) {
  std::string key;
  for (size_t i = 0; i < steps; ++i) key += (i ? "," : "") + print_pipeline({pipeline[i]});
  return key;
}

// Models after each pipeline prefix, so targets that share work (the same passes in the same
// order) compute it once, and what the planner already built is not built again.
class Builder {
 public:
  Builder(const Model& original, PassContext& ctx) : ctx_(ctx) {
    cache_[""] = {original, {}};
    ctx_.original = &cache_.at("").first;   // the teacher of a recovery fine-tune
  }

  // A prefix computed elsewhere (the planner), exactly what running its steps would give.
  void seed(const BuiltPrefix& prefix) {
    cache_.emplace(prefix_key(prefix.steps, prefix.steps.size()), std::make_pair(prefix.model, prefix.reports));
  }

  // `pipeline` is canonical (compress canonicalizes it): each step runs as written.
  const std::pair<Model, std::vector<StepReport>>& build(const Pipeline& pipeline) {
    size_t from = 0;
    for (size_t i = 1; i <= pipeline.size(); ++i)
      if (cache_.count(prefix_key(pipeline, i))) from = i;
    auto state = cache_.at(prefix_key(pipeline, from));
    for (size_t i = from; i < pipeline.size(); ++i) {
      state.second.push_back(run_step(state.first, pipeline[i], ctx_));
      cache_[prefix_key(pipeline, i + 1)] = state;
    }
    return cache_.at(prefix_key(pipeline, pipeline.size()));
  }

 private:
  PassContext& ctx_;
  std::map<std::string, std::pair<Model, std::vector<StepReport>>> cache_;
};

TargetFacts target_facts(const TargetProfile& t) {
  TargetFacts f;
  f.id = t.id;
  f.name = t.name;
  f.int8_tops = t.dense_int8_tops(&f.int8_tops_confidence);
  f.bandwidth_gbps = t.bandwidth_gbps.value;
  f.ram_mb = t.ram_mb.value;
  f.precisions = t.precisions;
  return f;
}

std::vector<StepFacts> step_facts(const std::vector<StepReport>& steps) {
  std::vector<StepFacts> out;
  for (const StepReport& s : steps)
    out.push_back({s.pass, s.canonical, s.seconds, s.result.stats, s.result.details.empty() ? nlohmann::json() : s.result.details});
  return out;
}

std::vector<Gate> gates_of(const Budgets& budgets, const ModelFacts& after, const AccuracyFacts& accuracy,
                           const FidelityFacts& fidelity) {
  std::vector<Gate> gates;
  auto gate = [&](const char* name, const std::optional<double>& limit, double value) {
    if (limit) gates.push_back({name, *limit, value, value <= *limit});
  };
  gate("max-latency-ms", budgets.max_latency_ms, after.latency_ms);
  gate("max-size-mb", budgets.max_size_mb, after.bytes / kMiB);
  gate("max-memory-mb", budgets.max_memory_mb, after.memory_bytes / kMiB);
  if (const auto drop = accuracy.drop_points()) gate("max-accuracy-drop", budgets.max_accuracy_drop, *drop);
  if (budgets.min_sqnr_db)
    gates.push_back({"min-sqnr-db", *budgets.min_sqnr_db, fidelity.sqnr_db, fidelity.sqnr_db >= *budgets.min_sqnr_db});
  gates.push_back({"fits-ram", double(after.ram_bytes), double(after.memory_bytes), after.fits_ram});
  return gates;
}

// Gates a more aggressive candidate can help with (its estimate was wrong): not the quality ones.
bool structural_miss(const std::vector<Gate>& gates) {
  for (const Gate& g : gates)
    if (!g.passed && (g.name == "max-latency-ms" || g.name == "max-size-mb" || g.name == "max-memory-mb" || g.name == "fits-ram"))
      return true;
  return false;
}

// The quantize option that holds the user's quality budget ("" when none): SQNR needs no labels.
std::string quality_budget(const Budgets& b) {
  if (b.min_sqnr_db) return fmt::format("min-sqnr={:g}", *b.min_sqnr_db);
  if (b.max_accuracy_drop) return fmt::format("max-accuracy-drop={:g}", *b.max_accuracy_drop);
  return "";
}

std::string missed(const std::vector<Gate>& gates) {
  std::vector<std::string> names;
  for (const Gate& g : gates)
    if (!g.passed) names.push_back(fmt::format("{} ({:.4g} > {:.4g})", g.name, g.value, g.limit));
  return fmt::format("{}", fmt::join(names, ", "));
}

// What is loaded once and shared by every target.
struct Inputs {
  Model original;
  Dataset data, calib;
  std::optional<Dataset> eval;
  FileFacts file;
  ModelCost cost;
  std::optional<double> accuracy;   // of the original on labelled eval data
  std::string calib_digest, eval_digest;   // hashed once, written into every manifest
};

Inputs load_inputs(const CompressRequest& r, const std::function<void(const std::string&)>& log) {
  Inputs in{load_model(r.model, r.load), {}, {}, {}, {}, {}, {}, {}, {}};
  in.data = load_dataset(r.data, in.original);
  if (in.data.samples == 0) throw InputError(fmt::format("'{}' holds no samples", r.data));
  for (const std::string& line : bind_input_shapes(in.original, in.data)) log("input shape " + line);
  if (!r.eval_data.empty()) in.eval = load_dataset(r.eval_data, in.original);
  if (r.budgets.max_accuracy_drop && !(in.eval && in.eval->has_labels()))
    throw InputError("--max-accuracy-drop needs --eval-data with labels");
  in.calib = load_dataset(r.data, in.original, DatasetOptions{r.calib_samples});
  in.file = {r.model, file_sha256(r.model), static_cast<int64_t>(fs::file_size(r.model))};
  in.cost = analyze_model(in.original);
  if (in.eval && in.eval->has_labels()) in.accuracy = evaluate(in.original, *in.eval).accuracy;
  in.calib_digest = in.calib.digest();
  if (in.eval) in.eval_digest = in.eval->digest();
  return in;
}

// What an artifact measures independent of the target: its cost (shapes, MACs, bytes) and its
// accuracy and fidelity against the input model, over the eval data or else the calibration data.
struct Measured {
  ModelCost cost;
  EvalResult eval;
  std::optional<HostFacts> host;
};

// The artifact and the input model timed interleaved at batch 1 on synthetic inputs
// (core/benchmark.h), so the speedup is measured, not estimated.
HostFacts time_on_host(const Model& artifact, const Model& original, int repeat, const PassContext& ctx) {
  Model a = artifact, o = original;
  bind_batch(a, 0);
  bind_batch(o, 0);
  BenchOptions options;
  options.warmup = 2;
  options.repeat = repeat;
  const int64_t total = 2 * (options.warmup + 1 + repeat);
  int64_t done = 0;
  options.progress = [&](size_t, int, int) { ctx.report_progress("host latency", ++done, total); };
  const std::vector<BenchStats> s = bench_models({&a, &o}, options);
  HostFacts h;
  h.cpu = host_cpu_model();
  h.threads = at::get_num_threads();
  h.batch = s[0].batch;
  h.repeat = repeat;
  h.median_ms = s[0].median_ms;
  h.p90_ms = s[0].p90_ms;
  h.min_ms = s[0].min_ms;
  h.input_median_ms = s[1].median_ms;
  h.run_memory_bytes = s[0].run_memory_bytes;
  h.input_run_memory_bytes = s[1].run_memory_bytes;
  return h;
}

Measured measure(const Model& artifact, const Inputs& in, int host_repeat, const PassContext& ctx) {
  EvalOptions against;
  against.reference = &in.original;
  Measured m{analyze_model(artifact), evaluate(artifact, in.eval ? *in.eval : in.calib, against), std::nullopt};
  if (host_repeat > 0) m.host = time_on_host(artifact, in.original, host_repeat, ctx);
  return m;
}

// One target's artifact folder under `dir`: model.onnx, manifest.json, report.md, report.html.
Manifest write_target(const fs::path& dir, const TargetProfile& target, const Plan& plan, const Model& artifact,
                      const Measured& measured, const std::vector<StepReport>& steps, const Inputs& in,
                      const CompressRequest& r) {
  fs::create_directories(dir);
  save_onnx(artifact, (dir / "model.onnx").string());
  Manifest m;
  m.version = EDGEPACK_VERSION;
  m.created = now_utc();
  m.target = target_facts(target);
  m.input = in.file;
  m.input_shapes = input_shapes(in.original);
  m.output = {"model.onnx", file_sha256((dir / "model.onnx").string()), static_cast<int64_t>(fs::file_size(dir / "model.onnx"))};
  m.pipeline = plan.pipeline;
  m.passes = step_facts(steps);
  m.budgets = r.budgets;
  m.plan_reason = plan.reason;
  m.candidates = plan.candidates;

  const ModelCost& cost = measured.cost;
  const bool int8 = plan.pipeline.find("quantize") != std::string::npos;
  const bool fp16 = !int8 && plan.pipeline.find("convert-fp16") != std::string::npos;
  const CostEstimate est =
      estimate_cost(cost, target, EstimateOptions{int8 ? Precision::Int8 : fp16 ? Precision::Fp16 : Precision::Fp32});
  const CostEstimate before = estimate_cost(in.cost, target, EstimateOptions{Precision::Fp32});
  m.before.params = in.cost.totals.params;
  m.before.macs = in.cost.totals.macs;
  m.before.bytes = in.file.bytes;
  m.before.latency_ms = before.latency_ms;
  m.before.memory_bytes = before.memory_bytes;
  m.before.accuracy = in.accuracy;
  m.after.params = cost.totals.params;
  m.after.macs = cost.totals.macs;
  m.after.bytes = m.output.bytes;
  m.after.latency_ms = est.latency_ms;
  m.after.memory_bytes = est.memory_bytes;
  m.after.compute_ms = est.compute_ms;
  m.after.memory_ms = est.memory_ms;
  m.after.bound = est.bound;
  m.after.ram_bytes = est.ram_bytes;
  m.after.fits_ram = est.fits;
  const EvalResult& e = measured.eval;
  if (in.eval && in.eval->has_labels()) m.after.accuracy = e.accuracy;
  m.fidelity = {in.eval ? "eval" : "calibration", e.samples, e.agreement->worst_sqnr_db(), e.agreement->mean_cosine, e.agreement->top1_match,
                e.agreement->max_abs_error};
  m.host = measured.host;

  m.accuracy.before = in.accuracy;
  m.accuracy.after = m.after.accuracy;
  if (in.eval) m.accuracy.eval_samples = in.eval->samples, m.accuracy.eval_digest = in.eval_digest;
  m.calibration_samples = in.calib.samples;
  m.calibration_digest = in.calib_digest;
  m.gates = gates_of(r.budgets, m.after, m.accuracy, m.fidelity);
  m.passed = gates_passed(m.gates);
  for (const NodeCost& n : cost.nodes)
    if (!n.constant) m.layers.push_back({n.name, n.op, n.macs, int8 ? n.int8_bytes : fp16 ? n.fp32_bytes / 2 : n.fp32_bytes});

  const nlohmann::json manifest = to_json(m);
  write_file_atomic((dir / "manifest.json").string(), manifest.dump(2) + "\n");
  write_file_atomic((dir / "report.md").string(), render_report_markdown(manifest));
  write_file_atomic((dir / "report.html").string(), render_report_html(manifest));
  return m;
}

}  // namespace

void check_request(const CompressRequest& r) {
  if (r.model.empty()) throw InputError("compress needs a model");
  if (r.targets.empty()) throw InputError("compress needs --target ID[,ID...] (see `edgepack targets`)");
  if (r.data.empty()) throw InputError("compress needs --data (calibration and training data)");
  if (r.out.empty()) throw InputError("compress needs --out DIR");
  if (r.calib_samples < 1) throw InputError(fmt::format("--calib-samples must be at least 1, got {}", r.calib_samples));
  if (r.epochs < 1) throw InputError(fmt::format("--epochs must be at least 1, got {}", r.epochs));
  if (r.host_repeat < 0) throw InputError(fmt::format("--host-repeat must be at least 0, got {}", r.host_repeat));
}

CompressResult compress(const CompressRequest& r, const std::function<void(const std::string&)>& log_fn, bool quiet,
                        const std::function<void(const std::string&, int64_t, int64_t, const std::string&)>& progress) {
  auto log = [&](const std::string& line) {
    if (log_fn) log_fn(line);
  };
  check_request(r);
  std::optional<Pipeline> user_pipeline;   // checked before anything is loaded
  if (!r.pipeline.empty()) user_pipeline = parse_pipeline(r.pipeline);
  const fs::path out = fs::absolute(r.out).lexically_normal();
  refuse_overwriting_input(r.out, r.model, "model");
  const std::vector<TargetProfile> profiles = load_targets(r.target_file);
  std::vector<TargetProfile> targets;
  for (const std::string& id : r.targets) targets.push_back(find_target(profiles, id));
  fs::create_directories(out.parent_path());
  OutputLock lock(out.parent_path().string(), lock_wait_seconds(), log);
  sweep_stale_staging(out);
  if (fs::exists(out) && !r.force) throw InputError(fmt::format("'{}' already exists; pass --force to replace it whole", r.out));

  const Inputs in = load_inputs(r, log);
  PassContext ctx;
  ctx.calibration = feed_batches(in.calib, in.original, 32);
  ctx.train = &in.data;
  ctx.eval = in.eval ? &*in.eval : nullptr;
  ctx.quiet = quiet;
  ctx.log = log;
  ctx.progress = progress;
  PlanOptions plan_options;
  plan_options.can_train = in.data.has_labels();
  plan_options.epochs = r.epochs;
  plan_options.train_samples = in.data.samples;
  plan_options.allow_unrecovered = r.allow_unrecovered;

  StagedFolder staged(out);
  std::map<std::string, Measured> measured;   // by canonical pipeline
  Builder builder(in.original, ctx);
  CompressResult result;
  Summary& summary = result.summary;
  summary.version = EDGEPACK_VERSION;
  summary.input = in.file;
  summary.budgets = r.budgets;
  summary.passed = true;
  int64_t targets_done = 0;
  for (const TargetProfile& target : targets) {
    ctx.report_progress("targets", targets_done++, static_cast<int64_t>(targets.size()), target.id);
    ctx.target = &target;
    // The planner's estimate is of the structure; the built artifact's own estimate (QDQ nodes,
    // ops left in FP32) can miss where it met. Then the next candidate is built, at most twice.
    Manifest m;
    std::string retried;
    for (int attempt = 0;; ++attempt) {
      Plan plan;
      if (user_pipeline) {
        plan.pipeline = print_pipeline(*user_pipeline);
        plan.reason = "given with --pipeline";
      } else {
        plan = plan_compression(in.original, target, r.budgets, plan_options, ctx);
        for (const BuiltPrefix& prefix : plan.built) builder.seed(prefix);
      }
      const Pipeline pipeline = canonicalize(parse_pipeline(plan.pipeline));
      plan.pipeline = print_pipeline(pipeline);
      plan.reason += retried;
      log(fmt::format("{}: {}", target.id, plan.reason));
      const auto& [artifact, steps] = builder.build(pipeline);
      // Targets that share a pipeline share its artifact: it is measured once.
      auto known = measured.find(plan.pipeline);
      if (known == measured.end()) known = measured.emplace(plan.pipeline, measure(artifact, in, r.host_repeat, ctx)).first;
      m = write_target(staged.path() / target.id, target, plan, artifact, known->second, steps, in, r);
      if (user_pipeline || m.passed || attempt == 2) break;
      // Plain INT8 that fits but loses too much: mixed precision keeps the layers that cost the
      // most in FP32 until the same budget holds (quantize{min-sqnr} / {max-accuracy-drop}).
      const std::string quality = quality_budget(r.budgets);
      if (!structural_miss(m.gates) && plan.candidates.size() == 1 && !quality.empty() &&
          plan_options.quantize == PlanOptions{}.quantize) {
        retried += fmt::format("; built, plain INT8 missed {}, so it was rebuilt with the most sensitive layers in FP32",
                               missed(m.gates));
        plan_options.quantize = fmt::format("quantize{{calib=percentile {}}}", quality);
        log(fmt::format("{}: plain INT8 missed {}; rebuilding it with mixed precision", target.id, missed(m.gates)));
        continue;
      }
      if (!plan.feasible || !structural_miss(m.gates)) break;
      retried += fmt::format("; built, {} missed {}, so the next candidate was built", plan.candidates.back().pipeline, missed(m.gates));
      plan_options.skip = plan.candidates.size();
      log(fmt::format("{}: the artifact of {} missed {}; trying the next candidate", target.id, plan.pipeline, missed(m.gates)));
    }
    plan_options.skip = 0;
    plan_options.quantize = PlanOptions{}.quantize;
    summary.targets.push_back({target.id, target.name, m.pipeline, m.after.bytes, m.after.latency_ms, m.after.memory_bytes,
                               m.after.ram_bytes, m.accuracy.before, m.accuracy.after, m.fidelity.sqnr_db, m.passed, target.id,
                               m.host ? std::optional<double>(m.host->median_ms) : std::nullopt,
                               m.host ? std::optional<double>(m.host->speedup()) : std::nullopt});
    summary.passed = summary.passed && m.passed;
    result.manifests.push_back(m);
  }
  ctx.report_progress("targets", targets_done, static_cast<int64_t>(targets.size()));
  const nlohmann::json summary_json = to_json(summary);
  write_file_atomic((staged.path() / "summary.json").string(), summary_json.dump(2) + "\n");
  write_file_atomic((staged.path() / "summary.md").string(), render_summary_markdown(summary_json));
  write_file_atomic((staged.path() / "summary.html").string(), render_summary_html(summary_json));
  staged.publish();
  return result;
}

}  // namespace edgepack
