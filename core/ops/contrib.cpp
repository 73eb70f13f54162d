// onnxruntime's com.microsoft contrib ops that edgepack writes: MatMulNBits (quantize-weights
// format=matmulnbits), so our executor runs the files it produces.
#include "core/ops/common.h"
#include "core/ops/ops.h"
#include "core/tensor_proto.h"

namespace edgepack::ops {
namespace {

// Y = A @ dequantize(B)^T (+ bias). B: [N, K/block, block/2] uint8, two unsigned 4-bit values per
// byte (low nibble first) along K; scales [N * K/block] (or [N, K/block]); zero points packed the
// same way per row ([N * ceil(blocks / 2)] uint8), 8 when absent.
std::vector<at::Tensor> matmul_nbits(const KernelContext& c) {
  const Node& n = c.node;
  const int64_t k = n.attr("K").i, cols = n.attr("N").i, bits = n.attr_int("bits", 4), block = n.attr("block_size").i;
  if (bits != 4) fail(n, fmt::format("bits={} is not supported (4 only)", bits));
  if (block <= 0 || k <= 0 || cols <= 0) fail(n, "K, N and block_size must be positive");
  if (c.has(4)) fail(n, "g_idx (act-order) is not supported");
  const int64_t blocks = (k + block - 1) / block;
  const at::Tensor& packed = c.in(1);
  if (packed.scalar_type() != at::kByte || packed.numel() != cols * blocks * block / 2)
    fail(n, fmt::format("B must be uint8 [{}, {}, {}]", cols, blocks, block / 2));
  at::Tensor q = unpack_4bit(packed, cols * blocks * block, false).reshape({cols, blocks, block}).to(at::kFloat);
  at::Tensor scale = c.in(2).reshape({cols, blocks, 1});
  at::Tensor zero = at::full({1}, 8.0f);
  if (c.has(3)) {
    const at::Tensor& zp = c.in(3);
    if (zp.scalar_type() == at::kByte) {
      const int64_t per_row = (blocks + 1) / 2;
      zero = unpack_4bit(zp.reshape({cols, per_row}), cols * per_row * 2, false).reshape({cols, per_row * 2})
                 .narrow(1, 0, blocks).to(at::kFloat).reshape({cols, blocks, 1});
    } else {
      zero = zp.to(at::kFloat).reshape({cols, blocks, 1});
    }
  }
  at::Tensor w = ((q - zero) * scale.to(at::kFloat)).reshape({cols, blocks * block}).narrow(1, 0, k);
  const at::Tensor& a = c.in(0);
  at::Tensor y = at::matmul(a, w.to(a.scalar_type()).t());
  if (c.has(5)) y = y + c.in(5);
  return one(y);
}

}  // namespace

void register_contrib(KernelTable& table) { table["MatMulNBits"] = matmul_nbits; }

bool is_contrib_op(const std::string& op_type) { return op_type == "MatMulNBits"; }

}  // namespace edgepack::ops
