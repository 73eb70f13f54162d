// .npy and .npz readers, straight from the bytes (read_npy/read_npz add only the file read).
#include "core/npy.h"
#include "fuzz/fuzz_common.h"

using namespace edgepack;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  // The first byte picks the reader so that one corpus serves both.
  if (size > 0 && (data[0] == 0x93))
    fuzz::refuse_only_with_input_error([&] { parse_npy(bytes, "input"); });
  else
    fuzz::refuse_only_with_input_error([&] { parse_npz(bytes, "input"); });
  return 0;
}
