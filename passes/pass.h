// The pass interface. A pass declares its name, summary and options once (PassInfo); the
// registry, `edgepack passes`, --help and the pipeline parser all read that declaration.
// A pass returns what it changed and statistics for the report; it throws InputError/Error
// with a message a user can act on when it cannot run.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/ir.h"

namespace edgepack {

struct Dataset;
namespace distill {
class Communicator;
}

struct OptionSpec {
  enum class Type { Int, Float, Bool, String, Choice };
  std::string name;
  Type type = Type::String;
  std::string default_value;           // as written in a pipeline
  std::string help;
  std::vector<std::string> choices;    // Type::Choice only
};

const char* option_type_name(OptionSpec::Type type);

// Option values of one pass instance: declared defaults overlaid with the pipeline's values.
class PassOptions {
 public:
  PassOptions() = default;
  PassOptions(const std::vector<OptionSpec>* specs, std::map<std::string, std::string> values)
      : specs_(specs), values_(std::move(values)) {}
  std::string get(const std::string& name) const;
  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  // '+'-separated list (e.g. exclude=conv1+Gemm); ',' separates passes in a pipeline.
  std::vector<std::string> get_list(const std::string& name) const;

 private:
  const std::vector<OptionSpec>* specs_ = nullptr;
  std::map<std::string, std::string> values_;
};

// What a pass may use besides the model.
struct PassContext {
  // Calibration batches (graph input name -> tensor), when the user gave data.
  std::vector<std::map<std::string, at::Tensor>> calibration;
  uint64_t seed = 0;
  std::function<void(const std::string&)> log;   // progress lines; may be empty
  // Training passes (distill): labelled training data, evaluation data, a folder for checkpoints
  // (resume continues a killed run from it), and the data-parallel group (nullptr = alone).
  const Dataset* train = nullptr;
  const Dataset* eval = nullptr;
  std::string work_dir;
  bool resume = false;
  bool quiet = false;                             // no progress bars
  distill::Communicator* comm = nullptr;
};

struct PassResult {
  bool changed = false;
  std::map<std::string, double> stats;    // for reports: e.g. folded_nodes, quantized_nodes
};

class Pass {
 public:
  virtual ~Pass() = default;
  virtual PassResult run(Model& model, const PassOptions& options, PassContext& context) = 0;
};

struct PassInfo {
  std::string name;                       // kebab-case, e.g. "fold-bn"
  std::string summary;                    // one line
  std::vector<OptionSpec> options;
  std::function<std::unique_ptr<Pass>()> create;
};

// Every pass, in the order of compress/all_passes.cpp.
const std::vector<PassInfo>& pass_registry();
// InputError naming the pass and the known ones when absent.
const PassInfo& find_pass(const std::string& name);

}  // namespace edgepack
