#include "core/targets.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/close_match.h"
#include "core/error.h"
#include "core/file_util.h"

namespace edgepack {

using json = nlohmann::json;

const char* to_string(DeviceClass c) {
  switch (c) {
    case DeviceClass::Terminal: return "terminal";
    case DeviceClass::Edge: return "edge";
    case DeviceClass::Cloud: return "cloud";
  }
  return "?";
}

const char* to_string(TopsKind k) {
  switch (k) {
    case TopsKind::Dense: return "dense";
    case TopsKind::Sparse: return "sparse";
    case TopsKind::Equivalent: return "equivalent";
  }
  return "?";
}

DeviceClass classify(double int8_tops, double power_w) {
  if (int8_tops < 8 && power_w < 5) return DeviceClass::Terminal;
  if (int8_tops > 30 && power_w > 50) return DeviceClass::Cloud;
  return DeviceClass::Edge;
}

double TargetProfile::dense_int8_tops(std::string* confidence) const {
  const Figure& f = int8_dense_tops ? *int8_dense_tops : int8_tops;
  if (confidence) *confidence = f.confidence;
  if (int8_dense_tops || int8_kind != TopsKind::Sparse) return f.value;
  return f.value / 2;  // structured 2:4 sparsity doubles the quoted rate
}

std::string TargetProfile::confidence_summary() const {
  std::vector<std::string> seen;
  for (const Figure* f : {&int8_tops, &bandwidth_gbps, &ram_mb, &power_w})
    if (std::find(seen.begin(), seen.end(), f->confidence) == seen.end()) seen.push_back(f->confidence);
  return fmt::format("{}", fmt::join(seen, " / "));
}

namespace {

constexpr const char* kReference = "targets-reference.md";

Figure brief(double v, const std::string& note = "") {
  return {v, note.empty() ? "product brief" : "product brief: " + note, "brief"};
}
Figure ref(const char* confidence, double v, const std::string& note = "") {
  std::string source = fmt::format("{} ({})", kReference, confidence);
  if (!note.empty()) source += ": " + note;
  return {v, source, confidence};
}
Figure estimate(double v, const std::string& note = "") { return ref("estimate", v, note); }
Figure third(double v, const std::string& note = "") { return ref("third-party", v, note); }

struct Spec {
  const char* id;
  const char* name;
  DeviceClass cls;
  Figure tops;
  TopsKind kind;
  Figure bw, ram, power;
  const char* accelerator;
  std::vector<std::string> precisions;
  const char* notes;
  std::optional<Figure> dense = std::nullopt, fp16 = std::nullopt, fp32 = std::nullopt;
};

TargetProfile make(Spec s) {
  TargetProfile p;
  p.id = s.id;
  p.name = s.name;
  p.device_class = s.cls;
  p.int8_tops = std::move(s.tops);
  p.int8_kind = s.kind;
  p.int8_dense_tops = std::move(s.dense);
  p.fp16_tops = std::move(s.fp16);
  p.fp32_tops = std::move(s.fp32);
  p.bandwidth_gbps = std::move(s.bw);
  p.ram_mb = std::move(s.ram);
  p.power_w = std::move(s.power);
  p.accelerator = s.accelerator;
  p.precisions = std::move(s.precisions);
  p.artifact_format = "onnx-qdq";
  p.notes = s.notes;
  return p;
}

std::vector<TargetProfile> make_builtins() {
  using C = DeviceClass;
  using K = TopsKind;
  const std::vector<std::string> i8 = {"int8", "fp32"};
  const std::vector<std::string> i8h = {"int8", "fp16", "fp32"};
  std::vector<TargetProfile> t;
  t.push_back(make({"qcs2290", "Qualcomm QCS2290", C::Terminal, brief(0.2), K::Dense, estimate(7.5), estimate(2048),
                    estimate(2.5), "Hexagon DSP; 4x Cortex-A53", i8, ""}));
  t.push_back(make({"qcs4290", "Qualcomm QCS4290", C::Terminal, brief(1), K::Dense, estimate(15), estimate(4096),
                    estimate(4), "Hexagon DSP + HVX", i8, ""}));
  t.push_back(make({"qcs4490", "Qualcomm QCS4490", C::Terminal, brief(1.5, "1~10 TOPS; 1.5 used"), K::Dense,
                    estimate(25.6), estimate(6144), estimate(4), "Hexagon DSP, no HTP", i8,
                    "the brief gives a 1~10 TOPS range; without an HTP the low end is realistic"}));
  t.push_back(make({"qcs6490", "Qualcomm QCS6490", C::Edge, brief(14), K::Dense,
                    third(51.2, "LPDDR5; 34.1 on LPDDR4X boards"), third(8192), third(6),
                    "Hexagon v68 HTP; Kryo 670 CPU", {"int8", "int16", "fp16", "fp32"},
                    "LPDDR4X boards have 34.1 GB/s; override bandwidth_gbps for them"}));
  t.push_back(make({"qcs8250", "Qualcomm QCS8250", C::Edge, brief(15), K::Dense, ref("derived", 44), third(8192),
                    third(8), "Hexagon 698 DSP + HTA", i8h, ""}));
  t.push_back(make({"qcs8550", "Qualcomm QCS8550", C::Edge, brief(48), K::Dense, ref("press", 67.2), ref("press", 8192),
                    ref("press", 10), "Hexagon NPU V73", {"int4", "int8", "fp16", "fp32"},
                    "96 TOPS at INT4; Qualcomm may add several engines into one figure"}));
  t.push_back(make({"sa8295p", "Qualcomm SA8295P (cockpit)", C::Edge, brief(30), K::Dense, third(67.0), third(16384),
                    third(20), "NSP V68", i8h, ""}));
  t.push_back(make({"x3m", "Horizon Robotics Sunrise X3M", C::Terminal, brief(5, "5 TOPS at 2.5 W"), K::Equivalent,
                    estimate(10.7), ref("datasheet", 2048, "datasheet copy"), brief(2.5, "5 TOPS at 2.5 W"),
                    "BPU (Bernoulli) x2; 4x Cortex-A53", i8,
                    "Horizon quotes equivalent TOPS, which overstate raw INT8 MAC throughput"}));
  t.push_back(make({"jetson-agx-orin", "NVIDIA Jetson AGX Orin 64GB", C::Edge, brief(200, "200 TOPS INT8"), K::Sparse,
                    third(204.8), third(65536), third(60, "15-60 W modes; peak TOPS need the top mode"),
                    "Ampere GPU (Tensor Cores) + 2x NVDLA", i8h,
                    "NVIDIA quotes 275 TOPS sparse for the 64 GB module; the brief's 200 is kept as the headline",
                    third(138, "275 sparse / 2"), std::nullopt, third(5.3, "GPU CUDA cores")}));
  t.push_back(make({"jetson-orin-nano", "NVIDIA Jetson Orin Nano 8GB", C::Edge, third(20, "40 sparse"), K::Dense,
                    third(68), third(8192), third(15), "Ampere GPU (Tensor Cores)", i8h,
                    "NVIDIA quotes 40 TOPS sparse"}));
  t.push_back(make({"mlu220", "Cambricon MLU220 edge module", C::Edge, estimate(8, "brief names the device, no figure"),
                    K::Dense, estimate(29.9), estimate(4096), estimate(8.25), "Cambricon MLU, 4 IPU cores", i8h, ""}));
  t.push_back(make({"allwinner-a33", "Allwinner R16/A33 (quad A7, robot vacuum)", C::Terminal,
                    estimate(0.08, "CPU NEON; brief names the device, no figure"), K::Dense, estimate(4.5),
                    estimate(512), estimate(2), "no NPU; 4x Cortex-A7 with NEON", i8, "CPU only"}));
  t.push_back(make({"rk3588", "Rockchip RK3588", C::Edge, ref("datasheet", 6), K::Dense,
                    ref("datasheet", 34, "LPDDR4X"), ref("datasheet", 8192), ref("datasheet", 8),
                    "RKNPU, 3 cores; 4x Cortex-A76 + 4x Cortex-A55", {"int4", "int8", "fp16", "fp32"}, ""}));
  t.push_back(make({"rpi5", "Raspberry Pi 5", C::Terminal, estimate(0.6, "CPU"), K::Dense, estimate(17),
                    estimate(8192, "8 GB model"), estimate(8), "CPU only, 4x Cortex-A76", i8h,
                    "class by compute: a CPU-only board draws edge-class power", std::nullopt, std::nullopt,
                    estimate(0.15, "4 cores x 2.4 GHz x 16 FLOP/cycle")}));
  t.push_back(make({"tesla-fsd-hw3", "Tesla FSD computer (2 chips)", C::Edge, third(144), K::Dense, third(136.5),
                    third(16384), third(72), "2 chips, 2 NPUs per chip", i8,
                    "the brief's bandwidth-bound example; an in-vehicle computer whose figures reach cloud class"}));
  t.push_back(make({"a100", "NVIDIA A100 80GB (cloud reference)", C::Cloud, third(624), K::Dense, third(2039),
                    third(81920), third(400), "Ampere GPU, Tensor Cores", {"int8", "fp16", "bf16", "fp32"},
                    "the brief's cloud unit; 1248 TOPS INT8 sparse", std::nullopt, third(312, "Tensor Cores, dense"),
                    third(19.5, "without Tensor Cores")}));
  return t;
}

// ---- user files -------------------------------------------------------------------------

const std::vector<std::string> kPrecisions = {"int4", "int8", "int16", "fp8", "fp16", "bf16", "tf32", "fp32"};

// Bounds on a target file, which is a few dozen small entries: YAML aliases let a short file
// expand exponentially ("billion laughs") or refer to themselves, and yaml-cpp and the conversion
// below recurse once per nesting level.
constexpr int kMaxDepth = 32;
constexpr size_t kMaxNodes = 100000;

struct YamlBudget {
  size_t nodes = 0;
};

// YAML scalars are untyped; plain ones that read as numbers, booleans or null become those, so
// that one validator serves both formats. Quoted scalars stay strings.
json yaml_to_json(const YAML::Node& node, YamlBudget& budget, int depth = 0) {
  if (depth > kMaxDepth) throw InputError(fmt::format("nested more than {} levels deep", kMaxDepth));
  if (++budget.nodes > kMaxNodes) throw InputError(fmt::format("more than {} values (aliases expand too far)", kMaxNodes));
  switch (node.Type()) {
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(yaml_to_json(item, budget, depth + 1));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = yaml_to_json(kv.second, budget, depth + 1);
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return s;
      if (s == "true" || s == "True") return true;
      if (s == "false" || s == "False") return false;
      if (s == "null" || s == "~") return nullptr;
      char* end = nullptr;
      double v = std::strtod(s.c_str(), &end);
      if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(v)) return v;
      return s;
    }
    default: return nullptr;
  }
}

// yaml-cpp's parser recurses once per nesting level before yaml_to_json could count levels, so
// bound nesting on the text: flow brackets ([ { ) and block indicators opening a line ("- - - x"),
// plus indentation (each block level needs a deeper one). Brackets inside strings count too; no
// real target file comes near these bounds, and telling quotes apart in YAML needs the parser
// this guards.
bool nested_too_deep(const std::string& text) {
  int depth = 0;
  for (char c : text) {
    if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  constexpr size_t kMaxIndent = 256;
  for (size_t line = 0; line < text.size();) {
    size_t p = text.find_first_not_of(" \t", line);
    if (p == std::string::npos) break;
    if (p - line > kMaxIndent) return true;
    int indicators = 0;
    while (p + 1 < text.size() && (text[p] == '-' || text[p] == '?' || text[p] == ':') && (text[p + 1] == ' ' || text[p + 1] == '\t')) {
      if (++indicators > kMaxDepth) return true;
      p = text.find_first_not_of(" \t", p + 1);
      if (p == std::string::npos) break;
    }
    size_t nl = text.find('\n', line);
    line = nl == std::string::npos ? text.size() : nl + 1;
  }
  return false;
}

json parse_file(const std::string& path) {
  std::string text = read_file(path, "target file", 1 << 20);
  if (nested_too_deep(text))
    throw InputError(fmt::format("{}: nested more than {} levels deep", path, kMaxDepth));
  // Values end up in error messages and JSON output, where nlohmann::json throws on invalid
  // UTF-8 (yaml-cpp accepts any bytes); refuse such a file up front. Found by fuzz_targets.
  try {
    (void)json(text).dump();
  } catch (const json::type_error&) {
    throw InputError(fmt::format("{}: not valid UTF-8 text", path));
  }
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".json") {
    try {
      return json::parse(text);
    } catch (const json::exception& e) {
      // Not only parse_error: a number too large for a double is out_of_range (found by fuzz_targets).
      throw InputError(fmt::format("{}: invalid JSON: {}", path, e.what()));
    }
  }
  if (ext == ".yaml" || ext == ".yml") {
    try {
      YamlBudget budget;
      return yaml_to_json(YAML::Load(text), budget);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", path, e.what()));
    } catch (const YAML::Exception& e) {
      throw InputError(fmt::format("{}: invalid YAML at line {}: {}", path, e.mark.line + 1, e.msg));
    }
  }
  throw InputError(fmt::format("{}: unknown target file type '{}' (use .json, .yaml or .yml)", path, ext));
}

const std::set<std::string> kFigureKeys = {"int8_tops", "int8_dense_tops", "fp16_tops",       "fp32_tops",
                                           "bandwidth_gbps", "ram_mb",         "power_w", "node_overhead_us"};
const std::set<std::string> kOtherKeys = {"id",        "name",       "class",    "int8_kind",       "accelerator",
                                          "notes",     "precisions", "source",   "artifact_format", "confidence"};
const std::vector<std::string> kRequiredForNew = {"name", "int8_tops", "bandwidth_gbps", "ram_mb", "power_w"};

// Reads one entry of the `targets` list; every error names the file, the profile and the key.
class EntryReader {
 public:
  EntryReader(const std::string& file, const std::string& id, const json& entry)
      : file_(file), id_(id), entry_(entry) {
    source_ = entry.contains("source") ? text("source") : "user file " + file;
    confidence_ = entry.contains("confidence") ? confidence(entry.at("confidence"), "confidence") : "user";
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw InputError(fmt::format("{}: target '{}': key '{}': {}", file_, id_, key, what));
  }

  std::string text(const std::string& key) const {
    const json& v = entry_.at(key);
    if (!v.is_string() || v.get<std::string>().empty()) fail(key, "expected a non-empty string");
    return v.get<std::string>();
  }

  template <typename Enum>
  Enum choice(const std::string& key, const std::vector<std::pair<std::string, Enum>>& options) const {
    std::string s = text(key);
    std::vector<std::string> names;
    for (const auto& [name, value] : options) {
      if (name == s) return value;
      names.push_back(name);
    }
    fail(key, fmt::format("'{}' is not one of {}", s, fmt::join(names, ", ")));
  }

  Figure figure(const std::string& key) const {
    const json& v = entry_.at(key);
    Figure f{0, source_, confidence_};
    if (v.is_number()) {
      f.value = v.get<double>();
    } else if (v.is_object()) {
      for (const auto& [k, _] : v.items())
        if (k != "value" && k != "source" && k != "confidence") fail(key + "." + k, "unknown key");
      if (!v.contains("value") || !v.at("value").is_number()) fail(key + ".value", "expected a number");
      f.value = v.at("value").get<double>();
      if (v.contains("source")) {
        if (!v.at("source").is_string()) fail(key + ".source", "expected a string");
        f.source = v.at("source").get<std::string>();
      }
      if (v.contains("confidence")) f.confidence = confidence(v.at("confidence"), key + ".confidence");
    } else {
      fail(key, "expected a number or {value, source, confidence}");
    }
    if (!std::isfinite(f.value) || f.value <= 0) fail(key, fmt::format("expected a positive number, got {}", f.value));
    return f;
  }

  std::vector<std::string> precisions() const {
    const json& v = entry_.at("precisions");
    if (!v.is_array() || v.empty()) fail("precisions", "expected a non-empty list");
    std::vector<std::string> out;
    for (const json& p : v) {
      bool known = p.is_string() && std::count(kPrecisions.begin(), kPrecisions.end(), p.get<std::string>());
      if (!known)
        fail("precisions", fmt::format("{} is not one of {}", p.dump(), fmt::join(kPrecisions, ", ")));
      out.push_back(p.get<std::string>());
    }
    return out;
  }

 private:
  std::string confidence(const json& v, const std::string& key) const {
    if (!v.is_string() ||
        std::find(kConfidenceLevels.begin(), kConfidenceLevels.end(), v.get<std::string>()) == kConfidenceLevels.end())
      fail(key, fmt::format("{} is not one of {}", v.dump(), fmt::join(kConfidenceLevels, ", ")));
    return v.get<std::string>();
  }

  const std::string& file_;
  const std::string& id_;
  const json& entry_;
  std::string source_;
  std::string confidence_;
};

bool valid_id(const std::string& id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '-' || c == '_' || c == '.';
  });
}

void apply_entry(std::vector<TargetProfile>& targets, const std::string& file, size_t index, const json& entry) {
  if (!entry.is_object()) throw InputError(fmt::format("{}: targets[{}]: expected a mapping", file, index));
  if (!entry.contains("id") || !entry.at("id").is_string())
    throw InputError(fmt::format("{}: targets[{}]: missing required key 'id' (a string)", file, index));
  const std::string id = entry.at("id").get<std::string>();
  if (!valid_id(id))
    throw InputError(fmt::format("{}: targets[{}]: key 'id': '{}' must be lower-case letters, digits, '-', '_' or '.'",
                                 file, index, id));
  for (const auto& [key, _] : entry.items())
    if (!kFigureKeys.count(key) && !kOtherKeys.count(key))
      throw InputError(fmt::format("{}: target '{}': unknown key '{}'", file, id, key));

  auto it = std::find_if(targets.begin(), targets.end(), [&](const TargetProfile& p) { return p.id == id; });
  const bool is_new = it == targets.end();
  if (is_new)
    for (const std::string& key : kRequiredForNew)
      if (!entry.contains(key))
        throw InputError(fmt::format("{}: target '{}': missing required key '{}' for a new profile", file, id, key));

  EntryReader r(file, id, entry);
  TargetProfile p;
  if (is_new) {
    p.id = id;
    p.precisions = {"int8", "fp32"};
    p.artifact_format = "onnx-qdq";
  } else {
    p = *it;
  }
  auto has = [&](const char* key) { return entry.contains(key); };
  if (has("name")) p.name = r.text("name");
  if (has("accelerator")) p.accelerator = r.text("accelerator");
  if (has("notes")) p.notes = r.text("notes");
  if (has("artifact_format")) p.artifact_format = r.text("artifact_format");
  if (has("precisions")) p.precisions = r.precisions();
  if (has("int8_tops")) p.int8_tops = r.figure("int8_tops");
  if (has("int8_dense_tops")) p.int8_dense_tops = r.figure("int8_dense_tops");
  if (has("fp16_tops")) p.fp16_tops = r.figure("fp16_tops");
  if (has("fp32_tops")) p.fp32_tops = r.figure("fp32_tops");
  if (has("bandwidth_gbps")) p.bandwidth_gbps = r.figure("bandwidth_gbps");
  if (has("ram_mb")) p.ram_mb = r.figure("ram_mb");
  if (has("power_w")) p.power_w = r.figure("power_w");
  if (has("node_overhead_us")) p.node_overhead_us = r.figure("node_overhead_us");
  if (has("int8_kind"))
    p.int8_kind = r.choice<TopsKind>(
        "int8_kind", {{"dense", TopsKind::Dense}, {"sparse", TopsKind::Sparse}, {"equivalent", TopsKind::Equivalent}});
  // A dense figure left over from the overridden headline would silently win over it.
  if (!is_new && has("int8_tops") && !has("int8_dense_tops")) p.int8_dense_tops.reset();
  if (has("class"))
    p.device_class = r.choice<DeviceClass>(
        "class", {{"terminal", DeviceClass::Terminal}, {"edge", DeviceClass::Edge}, {"cloud", DeviceClass::Cloud}});
  else if (is_new)
    p.device_class = classify(p.int8_tops.value, p.power_w.value);

  if (is_new)
    targets.push_back(std::move(p));
  else
    *it = std::move(p);
}

}  // namespace

const std::vector<TargetProfile>& builtin_targets() {
  static const std::vector<TargetProfile> targets = make_builtins();
  return targets;
}

void apply_target_file(std::vector<TargetProfile>& targets, const std::string& path) {
  json doc = parse_file(path);
  if (!doc.is_object() || !doc.contains("targets") || !doc.at("targets").is_array())
    throw InputError(fmt::format("{}: expected a top-level 'targets' list", path));
  for (const auto& [key, _] : doc.items())
    if (key != "targets") throw InputError(fmt::format("{}: unknown top-level key '{}'", path, key));
  const json& list = doc.at("targets");
  // All or nothing: a bad entry leaves `targets` as it was.
  std::vector<TargetProfile> updated = targets;
  for (size_t i = 0; i < list.size(); ++i) apply_entry(updated, path, i, list[i]);
  targets = std::move(updated);
}

std::vector<std::string> configured_target_files() {
  const char* env = std::getenv("EDGEPACK_TARGETS");
  std::vector<std::string> files;
  if (!env || !*env) return files;
  std::string list = env;
  for (size_t start = 0; start <= list.size();) {
    const size_t end = std::min(list.find(':', start), list.size());
    const std::string entry = list.substr(start, end - start);
    start = end + 1;
    if (entry.empty()) continue;
    std::error_code ec;
    if (std::filesystem::is_directory(entry, ec)) {
      std::vector<std::string> found;
      for (const auto& e : std::filesystem::directory_iterator(entry, ec)) {
        const std::string ext = to_lower(e.path().extension().string());
        if (e.is_regular_file() && (ext == ".json" || ext == ".yaml" || ext == ".yml")) found.push_back(e.path().string());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (std::filesystem::exists(entry, ec)) {
      files.push_back(entry);
    } else {
      throw InputError(fmt::format("EDGEPACK_TARGETS names '{}', which does not exist", entry));
    }
  }
  return files;
}

std::vector<TargetProfile> load_targets(const std::string& user_file) {
  std::vector<TargetProfile> targets = builtin_targets();
  for (const std::string& file : configured_target_files()) apply_target_file(targets, file);
  if (!user_file.empty()) apply_target_file(targets, user_file);
  return targets;
}

const TargetProfile& find_target(const std::vector<TargetProfile>& targets, const std::string& id) {
  std::vector<std::string> ids;
  for (const TargetProfile& p : targets)
    if (p.id == id) return p;
  for (const TargetProfile& p : targets)   // ids are lower case; a user may type QCS2290
    if (p.id == to_lower(id)) return p;
  for (const TargetProfile& p : targets) ids.push_back(p.id);
  throw InputError(fmt::format("unknown target '{}'{}; known targets: {}", id, did_you_mean(id, ids), fmt::join(ids, ", ")));
}

const TargetProfile& find_target(const std::string& id) { return find_target(builtin_targets(), id); }

void to_json(json& j, const Figure& f) { j = {{"value", f.value}, {"source", f.source}, {"confidence", f.confidence}}; }

void to_json(json& j, const TargetProfile& p) {
  j = {{"id", p.id},
       {"name", p.name},
       {"class", to_string(p.device_class)},
       {"int8_tops", p.int8_tops},
       {"int8_kind", to_string(p.int8_kind)}};
  if (p.int8_dense_tops) j["int8_dense_tops"] = *p.int8_dense_tops;
  if (p.fp16_tops) j["fp16_tops"] = *p.fp16_tops;
  if (p.fp32_tops) j["fp32_tops"] = *p.fp32_tops;
  j["bandwidth_gbps"] = p.bandwidth_gbps;
  j["ram_mb"] = p.ram_mb;
  j["power_w"] = p.power_w;
  if (p.node_overhead_us) j["node_overhead_us"] = *p.node_overhead_us;
  // Empty text is refused on input; leave it out so that the output reads back.
  for (const auto& [key, text] : {std::pair{"accelerator", &p.accelerator}, std::pair{"notes", &p.notes},
                                  std::pair{"artifact_format", &p.artifact_format}})
    if (!text->empty()) j[key] = *text;
  if (!p.precisions.empty()) j["precisions"] = p.precisions;
}

}  // namespace edgepack
