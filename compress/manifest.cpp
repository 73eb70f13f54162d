#include "compress/manifest.h"

#include <fmt/format.h>

#include "core/error.h"

namespace edgepack {

using nlohmann::json;

namespace {

template <typename T>
json nullable(const std::optional<T>& v) {
  return v ? json(*v) : json();
}

json file_json(const FileFacts& f, const char* path_key) {
  return {{path_key, f.path}, {"sha256", f.sha256}, {"bytes", f.bytes}};
}

json candidate_json(const PlanCandidate& c) {
  return {{"pipeline", c.pipeline}, {"macs", c.macs}, {"weight_bytes", c.size_bytes}, {"latency_ms", c.latency_ms},
          {"memory_bytes", c.memory_bytes}, {"fits", c.fits}, {"why", c.why}};
}

// The strict reader: `at` names the path of the value it is reading, so an error says where.
class Reader {
 public:
  Reader(const json& j, std::string where) : j_(j), where_(std::move(where)) {
    if (!j_.is_object()) throw InputError(fmt::format("{}: expected an object", where_));
  }
  Reader at(const char* key) const { return Reader(value(key), where_ + "." + key); }
  std::vector<Reader> items(const char* key) const {
    const json& v = value(key);
    if (!v.is_array()) throw InputError(fmt::format("{}.{}: expected an array", where_, key));
    std::vector<Reader> out;
    for (size_t i = 0; i < v.size(); ++i) out.emplace_back(v[i], fmt::format("{}.{}[{}]", where_, key, i));
    return out;
  }
  template <typename T>
  T get(const char* key) const {
    const json& v = value(key);
    try {
      return v.get<T>();
    } catch (const json::exception&) {
      throw InputError(fmt::format("{}.{}: wrong type ({})", where_, key, v.type_name()));
    }
  }
  template <typename T>
  std::optional<T> optional(const char* key) const {
    if (!j_.contains(key) || j_.at(key).is_null()) return std::nullopt;
    return get<T>(key);
  }
  const json& raw(const char* key) const { return value(key); }

 private:
  const json& value(const char* key) const {
    if (!j_.contains(key)) throw InputError(fmt::format("{}: no field '{}'", where_, key));
    return j_.at(key);
  }
  const json& j_;
  std::string where_;
};

void check_schema(const json& j, const char* what, const char* expected) {
  if (!j.is_object() || !j.contains("schema"))
    throw InputError(fmt::format("{} has no schema (expected {})", what, expected));
  if (j.at("schema") != expected)
    throw InputError(fmt::format("{} has schema '{}', expected {}", what,
                                 j.at("schema").is_string() ? j.at("schema").get<std::string>() : j.at("schema").dump(), expected));
}

FileFacts read_file_facts(const Reader& r, const char* path_key) {
  return {r.get<std::string>(path_key), r.get<std::string>("sha256"), r.get<int64_t>("bytes")};
}

json host_json(const std::optional<HostFacts>& h) {
  if (!h) return json();
  return {{"cpu", h->cpu}, {"threads", h->threads}, {"batch", h->batch}, {"repeat", h->repeat}, {"median_ms", h->median_ms},
          {"p90_ms", h->p90_ms}, {"min_ms", h->min_ms}, {"input_median_ms", h->input_median_ms},
          {"run_memory_bytes", h->run_memory_bytes}, {"input_run_memory_bytes", h->input_run_memory_bytes},
          {"speedup", h->speedup()}};
}

std::optional<HostFacts> read_host(const Reader& r) {
  if (!r.optional<json>("host")) return std::nullopt;
  const Reader x = r.at("host");
  HostFacts h;
  h.cpu = x.get<std::string>("cpu");
  h.threads = x.get<int>("threads");
  h.batch = x.get<int64_t>("batch");
  h.repeat = x.get<int>("repeat");
  h.median_ms = x.get<double>("median_ms");
  h.p90_ms = x.get<double>("p90_ms");
  h.min_ms = x.get<double>("min_ms");
  h.input_median_ms = x.get<double>("input_median_ms");
  h.run_memory_bytes = x.get<int64_t>("run_memory_bytes");
  h.input_run_memory_bytes = x.get<int64_t>("input_run_memory_bytes");
  x.get<double>("speedup");   // derived; present for readers of the file
  return h;
}

Budgets read_budgets(const Reader& r) {
  return {r.optional<double>("max_latency_ms"), r.optional<double>("max_size_mb"), r.optional<double>("max_memory_mb"),
          r.optional<double>("max_accuracy_drop"), r.optional<double>("min_sqnr_db")};
}

}  // namespace

std::optional<double> AccuracyFacts::drop_points() const {
  if (!before || !after) return std::nullopt;
  return 100 * (*before - *after);
}

bool gates_passed(const std::vector<Gate>& gates) {
  for (const Gate& g : gates)
    if (!g.passed) return false;
  return true;
}

json to_json(const Budgets& b) {
  return {{"max_latency_ms", nullable(b.max_latency_ms)}, {"max_size_mb", nullable(b.max_size_mb)},
          {"max_memory_mb", nullable(b.max_memory_mb)}, {"max_accuracy_drop", nullable(b.max_accuracy_drop)},
          {"min_sqnr_db", nullable(b.min_sqnr_db)}};
}

json to_json(const Manifest& m) {
  json passes = json::array();
  for (const StepFacts& s : m.passes) {
    json j = {{"pass", s.pass}, {"canonical", s.canonical}, {"seconds", s.seconds}, {"stats", s.stats}};
    if (!s.details.is_null()) j["details"] = s.details;
    passes.push_back(std::move(j));
  }
  json candidates = json::array();
  for (const PlanCandidate& c : m.candidates) candidates.push_back(candidate_json(c));
  json gates = json::array();
  for (const Gate& g : m.gates) gates.push_back({{"name", g.name}, {"limit", g.limit}, {"value", g.value}, {"passed", g.passed}});
  json layers = json::array();
  for (const LayerFacts& l : m.layers) layers.push_back({{"name", l.name}, {"op", l.op}, {"macs", l.macs}, {"bytes", l.bytes}});
  const TargetFacts& t = m.target;
  const ModelFacts &b = m.before, &a = m.after;
  return {{"schema", kManifestSchema},
          {"tool", {{"name", "edgepack"}, {"version", m.version}}},
          {"created", m.created},
          {"target", {{"id", t.id}, {"name", t.name}, {"int8_tops", t.int8_tops}, {"int8_tops_confidence", t.int8_tops_confidence},
                      {"bandwidth_gbps", t.bandwidth_gbps}, {"ram_mb", t.ram_mb}, {"precisions", t.precisions}}},
          {"input", file_json(m.input, "path")},
          {"input_shapes", m.input_shapes},
          {"output", file_json(m.output, "file")},
          {"pipeline", m.pipeline},
          {"passes", passes},
          {"budgets", to_json(m.budgets)},
          {"plan", {{"chosen", m.pipeline}, {"reason", m.plan_reason}, {"candidates", candidates}}},
          {"before", {{"params", b.params}, {"macs", b.macs}, {"bytes", b.bytes}, {"latency_ms", b.latency_ms},
                      {"memory_bytes", b.memory_bytes}, {"accuracy", nullable(b.accuracy)}}},
          {"after", {{"params", a.params}, {"macs", a.macs}, {"bytes", a.bytes}, {"latency_ms", a.latency_ms},
                     {"compute_ms", a.compute_ms}, {"memory_ms", a.memory_ms}, {"bound", a.bound},
                     {"memory_bytes", a.memory_bytes}, {"ram_bytes", a.ram_bytes}, {"fits_ram", a.fits_ram},
                     {"accuracy", nullable(a.accuracy)}}},
          {"accuracy", {{"metric", m.accuracy.metric}, {"before", nullable(m.accuracy.before)}, {"after", nullable(m.accuracy.after)},
                        {"drop_points", nullable(m.accuracy.drop_points())}, {"eval_samples", nullable(m.accuracy.eval_samples)},
                        {"eval_digest", nullable(m.accuracy.eval_digest)}}},
          {"fidelity", {{"data", m.fidelity.data}, {"samples", m.fidelity.samples}, {"sqnr_db", m.fidelity.sqnr_db},
                        {"mean_cosine", m.fidelity.mean_cosine}, {"top1_match", m.fidelity.top1_match},
                        {"max_abs_error", m.fidelity.max_abs_error}}},
          {"host", host_json(m.host)},
          {"calibration", {{"samples", m.calibration_samples}, {"digest", m.calibration_digest}}},
          {"gates", gates},
          {"passed", m.passed},
          {"layers", layers}};
}

json to_json(const Summary& s) {
  json targets = json::array();
  for (const SummaryTarget& t : s.targets)
    targets.push_back({{"id", t.id}, {"name", t.name}, {"pipeline", t.pipeline}, {"bytes", t.bytes}, {"latency_ms", t.latency_ms},
                       {"memory_bytes", t.memory_bytes}, {"ram_bytes", t.ram_bytes},
                       {"accuracy_before", nullable(t.accuracy_before)}, {"accuracy_after", nullable(t.accuracy_after)},
                       {"sqnr_db", t.sqnr_db}, {"passed", t.passed}, {"dir", t.dir}, {"host_ms", nullable(t.host_ms)},
                       {"host_speedup", nullable(t.host_speedup)}});
  return {{"schema", kSummarySchema}, {"tool", {{"name", "edgepack"}, {"version", s.version}}}, {"input", file_json(s.input, "path")},
          {"budgets", to_json(s.budgets)}, {"targets", targets}, {"passed", s.passed}};
}

Manifest manifest_from_json(const json& j) {
  check_schema(j, "manifest", kManifestSchema);
  const Reader r(j, "manifest");
  Manifest m;
  m.version = r.at("tool").get<std::string>("version");
  m.created = r.get<std::string>("created");
  const Reader t = r.at("target");
  m.target = {t.get<std::string>("id"), t.get<std::string>("name"), t.get<double>("int8_tops"),
              t.get<std::string>("int8_tops_confidence"), t.get<double>("bandwidth_gbps"), t.get<double>("ram_mb"),
              t.get<std::vector<std::string>>("precisions")};
  m.input = read_file_facts(r.at("input"), "path");
  m.input_shapes = r.get<std::map<std::string, std::string>>("input_shapes");
  m.output = read_file_facts(r.at("output"), "file");
  m.pipeline = r.get<std::string>("pipeline");
  for (const Reader& s : r.items("passes"))
    m.passes.push_back({s.get<std::string>("pass"), s.get<std::string>("canonical"), s.get<double>("seconds"),
                        s.get<std::map<std::string, double>>("stats"), s.optional<json>("details").value_or(json())});
  m.budgets = read_budgets(r.at("budgets"));
  const Reader plan = r.at("plan");
  if (plan.get<std::string>("chosen") != m.pipeline)
    throw InputError(fmt::format("manifest.plan.chosen '{}' is not the pipeline '{}'", plan.get<std::string>("chosen"), m.pipeline));
  m.plan_reason = plan.get<std::string>("reason");
  for (const Reader& c : plan.items("candidates"))
    m.candidates.push_back({c.get<std::string>("pipeline"), c.get<int64_t>("macs"), c.get<int64_t>("weight_bytes"),
                            c.get<double>("latency_ms"), c.get<int64_t>("memory_bytes"), c.get<bool>("fits"),
                            c.get<std::string>("why")});
  auto read_model = [](const Reader& x, bool after) {
    ModelFacts f;
    f.params = x.get<int64_t>("params");
    f.macs = x.get<int64_t>("macs");
    f.bytes = x.get<int64_t>("bytes");
    f.latency_ms = x.get<double>("latency_ms");
    f.memory_bytes = x.get<int64_t>("memory_bytes");
    f.accuracy = x.optional<double>("accuracy");
    if (after) {
      f.compute_ms = x.get<double>("compute_ms");
      f.memory_ms = x.get<double>("memory_ms");
      f.bound = x.get<std::string>("bound");
      f.ram_bytes = x.get<int64_t>("ram_bytes");
      f.fits_ram = x.get<bool>("fits_ram");
    }
    return f;
  };
  m.before = read_model(r.at("before"), false);
  m.after = read_model(r.at("after"), true);
  const Reader acc = r.at("accuracy");
  m.accuracy.metric = acc.get<std::string>("metric");
  m.accuracy.before = acc.optional<double>("before");
  m.accuracy.after = acc.optional<double>("after");
  m.accuracy.eval_samples = acc.optional<int64_t>("eval_samples");
  m.accuracy.eval_digest = acc.optional<std::string>("eval_digest");
  const Reader fid = r.at("fidelity");
  m.fidelity = {fid.get<std::string>("data"), fid.get<int64_t>("samples"), fid.get<double>("sqnr_db"), fid.get<double>("mean_cosine"),
                fid.get<double>("top1_match"), fid.get<double>("max_abs_error")};
  m.host = read_host(r);
  m.calibration_samples = r.at("calibration").get<int64_t>("samples");
  m.calibration_digest = r.at("calibration").get<std::string>("digest");
  for (const Reader& g : r.items("gates"))
    m.gates.push_back({g.get<std::string>("name"), g.get<double>("limit"), g.get<double>("value"), g.get<bool>("passed")});
  m.passed = r.get<bool>("passed");
  if (m.passed != gates_passed(m.gates)) throw InputError("manifest.passed disagrees with its gates");
  for (const Reader& l : r.items("layers"))
    m.layers.push_back({l.get<std::string>("name"), l.get<std::string>("op"), l.get<int64_t>("macs"), l.get<int64_t>("bytes")});
  return m;
}

Summary summary_from_json(const json& j) {
  check_schema(j, "summary", kSummarySchema);
  const Reader r(j, "summary");
  Summary s;
  s.version = r.at("tool").get<std::string>("version");
  s.input = read_file_facts(r.at("input"), "path");
  s.budgets = read_budgets(r.at("budgets"));
  for (const Reader& t : r.items("targets"))
    s.targets.push_back({t.get<std::string>("id"), t.get<std::string>("name"), t.get<std::string>("pipeline"), t.get<int64_t>("bytes"),
                         t.get<double>("latency_ms"), t.get<int64_t>("memory_bytes"), t.get<int64_t>("ram_bytes"),
                         t.optional<double>("accuracy_before"), t.optional<double>("accuracy_after"), t.get<double>("sqnr_db"),
                         t.get<bool>("passed"), t.get<std::string>("dir"), t.optional<double>("host_ms"),
                         t.optional<double>("host_speedup")});
  s.passed = r.get<bool>("passed");
  return s;
}

}  // namespace edgepack
