// ONNX importer: bytes -> import_onnx(path). The model sits in a scratch folder next to a small
// external-data file and a subfolder, so mutated `location` fields reach the folder rule.
#include <filesystem>

#include "core/onnx_import.h"
#include "fuzz/fuzz_common.h"

using namespace edgepack;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  static const std::string model = [] {
    const std::string& dir = fuzz::scratch();
    fs::create_directories(dir + "/model/sub");
    std::string weights(256, '\1');
    fuzz::write_bytes(dir + "/model/w.bin", reinterpret_cast<const uint8_t*>(weights.data()), weights.size());
    fuzz::write_bytes(dir + "/outside.bin", reinterpret_cast<const uint8_t*>(weights.data()), weights.size());
    return dir + "/model/m.onnx";
  }();
  fuzz::write_bytes(model, data, size);
  fuzz::refuse_only_with_input_error([&] { import_onnx(model); });
  return 0;
}
