// IR -> ONNX. Initializers are written as raw_data, or as external data for large models; the
// result passes onnx::checker.
#pragma once
#include <memory>
#include <string>

#include "core/ir.h"

namespace onnx { class ModelProto; }

namespace edgepack {

void export_onnx(const Model& model, onnx::ModelProto* proto);
// Serialises, runs onnx::checker on the result, and writes atomically (temporary file +
// rename): a failed write leaves no partial file. A model whose initializers would pass
// protobuf's 2 GiB limit gets external data (see SaveOptions).
void save_onnx(const Model& model, const std::string& path);

class ExternalDataWriter;

struct SaveOptions {
  // Initializers of at least this many bytes go to the external data file. -1: none, unless the
  // model would pass protobuf's 2 GiB limit; then those of at least 1 KiB (ONNX's default).
  int64_t external_data_threshold = -1;
  // A writer already holding tensors of the model (streaming producers); save_onnx adds the
  // other large initializers to it and commits it. Must be for the same `path`.
  ExternalDataWriter* external_data = nullptr;
};

void save_onnx(const Model& model, const std::string& path, const SaveOptions& options);

// ONNX external data: initializers written to a data file next to the model (location
// `<model file name>.data`), one tensor at a time, never as one giant protobuf. Each tensor
// starts on a page boundary, so readers can map it. The file is a temporary until save_onnx
// commits it, just before the model.
class ExternalDataWriter {
 public:
  explicit ExternalDataWriter(const std::string& model_path);
  ~ExternalDataWriter();
  ExternalDataWriter(const ExternalDataWriter&) = delete;
  ExternalDataWriter& operator=(const ExternalDataWriter&) = delete;

  // Appends `t`'s bytes as initializer `name` and returns a tensor mapped from the written
  // bytes, for a producer that streams (quantize one weight, append it, put the returned tensor
  // in the model and drop its own copy: the model keeps no copy in memory). save_onnx then
  // refers to these bytes instead of writing them again, as long as the model's initializer is
  // still that tensor.
  at::Tensor append(const std::string& name, const at::Tensor& t);
  // The data file's name, relative to the model's folder.
  const std::string& location() const { return location_; }
  int64_t bytes() const;

 private:
  friend void save_onnx(const Model&, const std::string&, const SaveOptions&);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string location_;
};

}  // namespace edgepack
