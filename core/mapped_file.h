// Tensors backed by a memory-mapped file region, for models larger than RAM: importing maps
// external data instead of reading it, so a weight costs memory only while its pages are used,
// and its mapping goes away with the last tensor that refers to it.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace edgepack {

// Regions smaller than this are read instead of mapped: a mapping costs a page-table entry
// and counts against the kernel's per-process limit (vm.max_map_count, 65530 by default).
constexpr int64_t kMinMappedBytes = 64 * 1024;

// A tensor over `bytes` bytes of the open file `fd` starting at `offset`, mapped private
// (copy-on-write: an in-place change stays in memory, the file is never written). The mapping
// is removed when the tensor's storage dies. Returns an undefined tensor when the region cannot
// be mapped as such a tensor (offset not a multiple of the element size, mmap refused); the
// caller then reads the bytes. `bytes` must equal numel(dims) * element size and lie in the file.
at::Tensor map_tensor(int fd, int64_t offset, int64_t bytes, const std::vector<int64_t>& dims, at::ScalarType type);
// The same for a path (opened read-only for the call; the mapping outlives the descriptor).
at::Tensor map_tensor(const std::string& path, int64_t offset, int64_t bytes, const std::vector<int64_t>& dims,
                      at::ScalarType type);

// True when `t`'s storage is such a mapping (tests, and writers that avoid re-reading it).
bool is_mapped(const at::Tensor& t);

}  // namespace edgepack
