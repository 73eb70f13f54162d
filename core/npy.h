// NumPy arrays on disk: `.npy` (format 1.0/2.0/3.0, little endian, C order) and `.npz` (a zip of
// `.npy` members, stored or deflated). Only the dtypes a model input or a label can be are
// supported: <f2 <f4 <f8 |i1 <i2 <i4 <i8 |u1 |b1. Everything read is treated as hostile: a bad
// magic, a truncated header or payload, a Fortran-order or big-endian array, an overflowing shape
// or a broken zip directory is an InputError naming the file (and the member, for .npz).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace edgepack {

using NamedArrays = std::vector<std::pair<std::string, at::Tensor>>;

// `what` names the source in error messages ("'x.npz' member 'input'").
at::Tensor parse_npy(const std::string& bytes, const std::string& what);
// The bytes of a .npy file (format 1.0, or 2.0 when the header needs it) for a CPU tensor.
std::string npy_bytes(const at::Tensor& t);

at::Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const at::Tensor& t);

// Members in archive order, names without the `.npy` suffix (as np.load gives them).
NamedArrays read_npz(const std::string& path);
// The same from the bytes of an archive; `what` names it in errors ("'x.npz'").
NamedArrays parse_npz(const std::string& bytes, const std::string& what);
// Stored (uncompressed) members, as np.savez writes them; atomic.
void write_npz(const std::string& path, const NamedArrays& arrays);

}  // namespace edgepack
