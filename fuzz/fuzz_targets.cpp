// Target-file reader (JSON and YAML) on top of the built-in profiles. The first byte picks the
// format: the file's extension decides which parser runs.
#include "core/targets.h"
#include "fuzz/fuzz_common.h"

using namespace edgepack;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string path = fuzz::scratch() + (data[0] & 1 ? "/t.yaml" : "/t.json");
  fuzz::write_bytes(path, data + 1, size - 1);
  std::vector<TargetProfile> targets = builtin_targets();
  fuzz::refuse_only_with_input_error([&] { apply_target_file(targets, path); });
  return 0;
}
