#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <c10/util/strides.h>

namespace edgepack {

namespace {

// The deleter of mapped storages, also how is_mapped recognises them.
void unmap_region(void* context) {
  auto* region = static_cast<std::pair<void*, size_t>*>(context);
  ::munmap(region->first, region->second);
  delete region;
}

}  // namespace

at::Tensor map_tensor(int fd, int64_t offset, int64_t bytes, const std::vector<int64_t>& dims, at::ScalarType type) {
  const int64_t elem = static_cast<int64_t>(c10::elementSize(type));
  if (fd < 0 || bytes <= 0 || offset < 0 || offset % elem != 0) return {};
  // mmap takes page-aligned offsets; the tensor starts `lead` bytes into the mapping.
  const int64_t page = ::sysconf(_SC_PAGESIZE);
  const int64_t start = offset / page * page, lead = offset - start;
  const size_t length = static_cast<size_t>(lead + bytes);
  void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, static_cast<off_t>(start));
  if (base == MAP_FAILED) return {};
  auto* region = new std::pair<void*, size_t>(base, length);
  void* data = static_cast<char*>(base) + lead;
  c10::DataPtr ptr(data, region, &unmap_region, c10::Device(c10::kCPU));
  c10::Storage storage(c10::Storage::use_byte_size_t(), bytes, std::move(ptr), /*allocator=*/nullptr,
                       /*resizable=*/false);
  return at::empty({0}, at::TensorOptions().dtype(type)).set_(storage, 0, dims, c10::contiguous_strides(dims));
}

at::Tensor map_tensor(const std::string& path, int64_t offset, int64_t bytes, const std::vector<int64_t>& dims,
                      at::ScalarType type) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  at::Tensor t = map_tensor(fd, offset, bytes, dims, type);
  ::close(fd);
  return t;
}

bool is_mapped(const at::Tensor& t) {
  return t.defined() && t.has_storage() && t.storage().data_ptr().get_deleter() == &unmap_region;
}

}  // namespace edgepack
