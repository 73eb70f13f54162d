// Pipeline grammar: any text either fails with InputError or parses into a pipeline whose
// canonical print parses back to the same pipeline (the grammar's round-trip promise).
#include <cstdio>

#include "compress/all_passes.h"
#include "passes/pipeline.h"
#include "fuzz/fuzz_common.h"

using namespace edgepack;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  register_all_passes();
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::refuse_only_with_input_error([&] {
    Pipeline p = parse_pipeline(text);
    const std::string printed = print_pipeline(p);
    Pipeline again;
    try {
      again = parse_pipeline(printed);
    } catch (const InputError& e) {
      std::fprintf(stderr, "finding: canonical form '%s' does not parse: %s\n", printed.c_str(), e.what());
      abort();
    }
    if (!(again == p)) {
      std::fprintf(stderr, "finding: parse(print(p)) != p for '%s'\n", printed.c_str());
      abort();
    }
    // Canonicalisation only adds steps, and adds none the second time.
    const Pipeline canonical = canonicalize(p);
    if (canonical.size() < p.size() || !(canonicalize(canonical) == canonical)) {
      std::fprintf(stderr, "finding: canonicalize is not idempotent for '%s'\n", printed.c_str());
      abort();
    }
  });
  return 0;
}
