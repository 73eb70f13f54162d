// edgepack run MODEL [--input-shape NAME:DIMS ...] --input FILE.pb [--input NAME=FILE.pb ...] [--save-outputs DIR] [--json]
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/executor.h"
#include "core/file_util.h"
#include "core/onnx_import.h"
#include "core/tensor_proto.h"

namespace edgepack::cli {
namespace fs = std::filesystem;

namespace {

struct RunArgs {
  std::string model;
  std::vector<std::string> input_shapes;
  std::vector<std::string> inputs;
  std::string save_outputs;
  int show = 5;
  bool json = false;
};

std::string preview(const at::Tensor& t, int count) {
  at::Tensor flat = t.reshape({-1});
  int64_t n = std::min<int64_t>(count, flat.numel());
  std::vector<std::string> parts;
  at::Tensor head = flat.slice(0, 0, n).to(at::kDouble);
  for (int64_t i = 0; i < n; ++i) parts.push_back(fmt::format("{:.6g}", head[i].item<double>()));
  if (flat.numel() > n) parts.push_back("...");
  return fmt::format("{}", fmt::join(parts, " "));
}

int run_model(const RunArgs& args, const Globals& globals) {
  Model model = load_cli_model(args.model, args.input_shapes, globals);
  Executor executor(model);
  auto runtime = model.graph.runtime_inputs();
  std::map<std::string, at::Tensor> feeds;
  std::vector<std::string> input_paths;
  size_t positional = 0;
  for (const std::string& spec : args.inputs) {
    std::string name, path = spec;
    // NAME=FILE binds by name; a bare FILE takes the next input in graph order.
    if (auto eq = spec.find('='); eq != std::string::npos && !fs::exists(spec)) {
      name = spec.substr(0, eq);
      path = spec.substr(eq + 1);
      bool known = false;
      for (const ValueInfo* v : runtime) known = known || v->name == name;
      if (!known) throw InputError(fmt::format("--input {}: the model has no input named '{}'", spec, name));
    } else {
      if (positional >= runtime.size())
        throw InputError(fmt::format("--input {}: the model has only {} input(s)", spec, runtime.size()));
      name = runtime[positional++]->name;
    }
    feeds[name] = read_tensor_file(path);
    input_paths.push_back(path);
  }
  for (const ValueInfo* v : runtime)
    if (!feeds.count(v->name))
      throw InputError(fmt::format("no --input given for graph input '{}'", v->name));

  // Inputs are never written: an output_K.pb that is the model or an input tensor (e.g.
  // `--input out/output_0.pb --save-outputs out`) is refused before running, not overwritten.
  auto output_path = [&](size_t k) { return (fs::path(args.save_outputs) / fmt::format("output_{}.pb", k)).string(); };
  if (!args.save_outputs.empty())
    for (size_t k = 0; k < model.graph.outputs.size(); ++k) {
      refuse_overwriting_input(output_path(k), args.model, "model");
      for (const std::string& path : input_paths) refuse_overwriting_input(output_path(k), path, "tensor");
    }

  auto outputs = executor.run(feeds);
  if (!args.save_outputs.empty()) {
    std::error_code ec;
    fs::create_directories(args.save_outputs, ec);
    if (ec) throw Error(fmt::format("cannot create '{}': {}", args.save_outputs, ec.message()));
  }
  nlohmann::json j = {{"model", args.model}, {"outputs", nlohmann::json::array()}};
  for (size_t k = 0; k < model.graph.outputs.size(); ++k) {
    const ValueInfo& info = model.graph.outputs[k];
    const at::Tensor& t = outputs.at(info.name);
    if (!args.save_outputs.empty()) {
      // A UINT16/32/64 output is held widened; the file gets the declared type back.
      onnx::TensorProto proto;
      if (is_onnx_wide_unsigned(info.elem_type)) tensor_to_proto_narrow(t, info.elem_type, info.name, &proto);
      else tensor_to_proto(t, info.name, &proto);
      write_file_atomic(output_path(k), proto.SerializeAsString());
    }
    if (!args.json) {
      fmt::print("{} {} [{}]: {}\n", info.name, c10::toString(t.scalar_type()), fmt::join(t.sizes(), "x"), preview(t, args.show));
      continue;
    }
    nlohmann::json o = {{"name", info.name},
                        {"type", onnx_type_name(info.elem_type ? info.elem_type : onnx_from_scalar_type(t.scalar_type()))},
                        {"shape", t.sizes().vec()}};
    const at::Tensor flat = t.reshape({-1});
    const at::Tensor head = flat.slice(0, 0, std::min<int64_t>(args.show, flat.numel())).to(at::kDouble).contiguous();
    o["first"] = std::vector<double>(head.data_ptr<double>(), head.data_ptr<double>() + head.numel());
    if (flat.numel() > 0 && t.scalar_type() != at::kBool) {
      const at::Tensor d = flat.to(at::kDouble);
      o["min"] = d.min().item<double>();
      o["max"] = d.max().item<double>();
      o["mean"] = d.mean().item<double>();
    }
    if (!args.save_outputs.empty()) o["file"] = output_path(k);
    j["outputs"].push_back(std::move(o));
  }
  if (args.json) fmt::print("{}\n", j.dump(2));
  return 0;
}

}  // namespace

void add_run(CLI::App& app, Action& action, const Globals& globals) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Run a model on serialized TensorProto inputs and print its outputs");
  cmd->add_option("model", args->model, "ONNX model or TorchScript archive (.pt, with --input-shape)")->required();
  add_input_shape_option(cmd, args->input_shapes);
  cmd->add_option("-i,--input", args->inputs,
                  "Input tensor file (.pb TensorProto); binds to the graph inputs in order, or NAME=FILE.pb")
      ->required();
  cmd->add_option("--save-outputs", args->save_outputs, "Write output_K.pb (TensorProto) per graph output into DIR");
  cmd->add_option("--show", args->show, "Values to print per output")->check(at_least(0))->capture_default_str();
  cmd->add_flag("--json", args->json, "Print each output's name, type, shape, first values, min, max and mean as JSON");
  cmd->callback([&action, &globals, args] { action = [args, &globals] { return run_model(*args, globals); }; });
}

}  // namespace edgepack::cli
