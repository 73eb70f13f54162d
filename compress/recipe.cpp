#include "compress/recipe.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "core/error.h"

namespace edgepack {

CompressRequest read_recipe(const std::string& path) {
  CompressRequest request;
  YAML::Node r;
  try {
    r = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    throw InputError(fmt::format("recipe '{}': {}", path, e.what()));
  }
  if (!r.IsMap()) throw InputError(fmt::format("recipe '{}' must be a mapping (pipeline, data, targets, budgets ...)", path));
  static const std::set<std::string> known = {"pipeline", "data", "eval_data", "targets", "out", "budgets", "calib_samples", "epochs",
                                              "target_file", "allow_unrecovered", "host_repeat"};
  for (const auto& kv : r)
    if (!known.count(kv.first.as<std::string>()))
      throw InputError(fmt::format("recipe '{}': unknown key '{}' (known: {})", path, kv.first.as<std::string>(), fmt::join(known, ", ")));
  try {
    auto fill = [&](std::string& field, const char* key) {
      if (r[key]) field = r[key].as<std::string>();
    };
    fill(request.pipeline, "pipeline");
    fill(request.data, "data");
    fill(request.eval_data, "eval_data");
    fill(request.out, "out");
    fill(request.target_file, "target_file");
    if (r["targets"]) {
      if (r["targets"].IsSequence())
        for (const auto& t : r["targets"]) request.targets.push_back(t.as<std::string>());
      else
        request.targets.push_back(r["targets"].as<std::string>());
    }
    if (r["calib_samples"]) request.calib_samples = r["calib_samples"].as<int64_t>();
    if (r["epochs"]) request.epochs = r["epochs"].as<int64_t>();
    if (r["host_repeat"]) request.host_repeat = r["host_repeat"].as<int>();
    if (r["allow_unrecovered"]) request.allow_unrecovered = r["allow_unrecovered"].as<bool>();
    if (const YAML::Node b = r["budgets"]) {
      auto budget = [&](std::optional<double>& field, const char* key) {
        if (b[key]) field = b[key].as<double>();
      };
      budget(request.budgets.max_latency_ms, "max_latency_ms");
      budget(request.budgets.max_size_mb, "max_size_mb");
      budget(request.budgets.max_memory_mb, "max_memory_mb");
      budget(request.budgets.max_accuracy_drop, "max_accuracy_drop");
      budget(request.budgets.min_sqnr_db, "min_sqnr_db");
    }
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("recipe '{}': {}", path, e.what()));
  }
  return request;
}

}  // namespace edgepack
