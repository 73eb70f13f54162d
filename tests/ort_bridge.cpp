#include <algorithm>
#include "tests/ort_bridge.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

namespace edgepack::test {
namespace fs = std::filesystem;

namespace {

const fs::path kNodeDir = fs::path(EDGEPACK_SOURCE_DIR) / "scripts" / "node";

std::string type_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kShort: return "int16";
    case at::kInt: return "int32";
    case at::kLong: return "int64";
    case at::kBool: return "bool";
    default: throw std::runtime_error(fmt::format("onnxruntime bridge: unsupported type {}", c10::toString(t)));
  }
}

at::ScalarType scalar_type(const std::string& name) {
  static const std::map<std::string, at::ScalarType> types = {
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"int8", at::kChar}, {"uint8", at::kByte},
      {"int16", at::kShort}, {"int32", at::kInt}, {"int64", at::kLong}, {"bool", at::kBool}};
  auto it = types.find(name);
  if (it == types.end()) throw std::runtime_error("onnxruntime bridge: unsupported output type " + name);
  return it->second;
}

}  // namespace

bool onnxruntime_available() {
  return fs::exists(kNodeDir / "node_modules" / "onnxruntime-node" / "package.json") &&
         std::system("node --version >/dev/null 2>&1") == 0;
}

std::vector<OrtResult> run_onnxruntime(const std::vector<OrtJob>& jobs, int threads, int repeat) {
  std::random_device rd;
  fs::path work = fs::temp_directory_path() / fmt::format("edgepack-ort-{}-{:x}", ::getpid(), rd());
  fs::create_directories(work);
  nlohmann::json spec = {{"threads", threads}, {"repeat", repeat}, {"jobs", nlohmann::json::array()}};
  for (size_t j = 0; j < jobs.size(); ++j) {
    nlohmann::json inputs = nlohmann::json::array();
    for (size_t i = 0; i < jobs[j].inputs.size(); ++i) {
      const auto& [name, tensor] = jobs[j].inputs[i];
      at::Tensor t = tensor.contiguous();
      fs::path file = work / fmt::format("job{}_input{}.bin", j, i);
      std::ofstream(file, std::ios::binary).write(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
      inputs.push_back({{"name", name}, {"type", type_name(t.scalar_type())}, {"dims", t.sizes().vec()},
                        {"file", file.string()}});
    }
    spec["jobs"].push_back({{"model", fs::absolute(jobs[j].model).string()},
                            {"outdir", (work / fmt::format("job{}", j)).string()}, {"inputs", inputs}});
  }
  std::ofstream(work / "jobs.json") << spec.dump();
  std::string cmd = fmt::format("node '{}' '{}'", (kNodeDir / "ort_run.js").string(), (work / "jobs.json").string());
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("onnxruntime bridge: node ort_run.js failed");

  std::vector<OrtResult> results(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) {
    std::ifstream in(work / fmt::format("job{}", j) / "outputs.json");
    nlohmann::json out = nlohmann::json::parse(in);
    if (out.contains("error")) {
      results[j].error = out["error"].get<std::string>();
      continue;
    }
    results[j].ms = out["ms"].get<std::vector<double>>();
    for (const auto& o : out["outputs"]) {
      auto dims = o["dims"].get<std::vector<int64_t>>();
      at::Tensor t = at::empty(dims, at::TensorOptions().dtype(scalar_type(o["type"].get<std::string>())));
      std::ifstream bin(o["file"].get<std::string>(), std::ios::binary);
      bin.read(static_cast<char*>(t.data_ptr()), t.numel() * t.element_size());
      results[j].outputs.push_back(t);
    }
  }
  std::error_code ec;
  fs::remove_all(work, ec);
  return results;
}

double median_after_warmup(std::vector<double> ms) {
  if (ms.size() > 1) ms.erase(ms.begin());
  std::sort(ms.begin(), ms.end());
  return ms.empty() ? 0 : ms[ms.size() / 2];
}

}  // namespace edgepack::test
