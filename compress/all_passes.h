// The list of every pass (MLIR's registerAllPasses): it sits above the pass folders (passes/,
// quantize/, distill/), so passes/ knows none of them. Call once before reading the registry
// (main, the tests, the benches and the fuzzers do); later calls do nothing.
#pragma once

namespace edgepack {

void register_all_passes();

}  // namespace edgepack
