// NumPy .npy/.npz I/O, dataset loading and validation, and evaluate().
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <zlib.h>

#include <cstdio>

#include "core/dataset.h"
#include "core/sha256.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/file_util.h"
#include "core/npy.h"
#include "core/tensor_proto.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

// A .npy version 1.0 with a hand-written header dict.
std::string npy_with_header(const std::string& dict, const std::string& data) {
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(dict.size() & 0xFF));
  out.push_back(static_cast<char>(dict.size() >> 8));
  return out + dict + data;
}

void le(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}

// A one-member zip whose member is raw-deflated (zip method 8), as np.savez_compressed writes.
std::string deflated_zip(const std::string& member, const std::string& data) {
  std::string packed(compressBound(data.size()) + 64, '\0');
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = data.size();
  z.next_out = reinterpret_cast<Bytef*>(packed.data());
  z.avail_out = packed.size();
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  packed.resize(z.total_out);
  deflateEnd(&z);
  const uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(data.data()), data.size());
  std::string common;
  le(common, 20, 2), le(common, 0, 2), le(common, 8, 2), le(common, 0, 4);
  le(common, crc, 4), le(common, packed.size(), 4), le(common, data.size(), 4), le(common, member.size(), 2);
  le(common, 0, 2);
  std::string zip;
  le(zip, 0x04034b50, 4), zip += common + member + packed;
  std::string dir;
  le(dir, 0x02014b50, 4), le(dir, 20, 2), dir += common, le(dir, 0, 6), le(dir, 0, 4), le(dir, 0, 4), dir += member;
  const size_t dir_off = zip.size();
  zip += dir;
  le(zip, 0x06054b50, 4), le(zip, 0, 4), le(zip, 1, 2), le(zip, 1, 2), le(zip, dir.size(), 4), le(zip, dir_off, 4);
  le(zip, 0, 2);
  return zip;
}

at::Tensor sample_of(at::ScalarType type, std::vector<int64_t> shape) {
  at::Tensor t = at::randn(shape, at::kDouble) * 50;
  if (type == at::kByte) t = t.abs();
  return type == at::kBool ? t.gt(0) : t.to(type);
}

// Reference output of tiny_conv_model for a batch.
at::Tensor tiny_forward(const Model& m, const at::Tensor& x) {
  return at::relu(at::conv2d(x, m.graph.initializers.at("W"), m.graph.initializers.at("B"), 1, 1));
}

std::string sha256sum(const fs::path& file) {
  FILE* p = ::popen(fmt::format("sha256sum '{}' 2>/dev/null", file.string()).c_str(), "r");
  if (!p) return "";
  char buf[65] = {};
  size_t n = fread(buf, 1, 64, p);
  ::pclose(p);
  return n == 64 ? std::string(buf, 64) : "";
}

}  // namespace

TEST_SUITE("dataset") {

TEST_CASE("npy round trips every supported dtype and rank") {
  TempDir tmp;
  for (at::ScalarType type : {at::kHalf, at::kFloat, at::kDouble, at::kChar, at::kShort, at::kInt, at::kLong,
                              at::kByte, at::kBool}) {
    for (std::vector<int64_t> shape : {std::vector<int64_t>{2, 3, 4}, {5}, {}, {0, 3}}) {
      CAPTURE(c10::toString(type));
      CAPTURE(shape.size());
      at::Tensor t = sample_of(type, shape);
      write_npy((tmp / "a.npy").string(), t);
      at::Tensor back = read_npy((tmp / "a.npy").string());
      CHECK((back.scalar_type() == type));
      CHECK(back.sizes() == t.sizes());
      CHECK(at::equal(back, t));
    }
  }
  // Layout as numpy writes it: 1-d shapes keep the trailing comma, data starts 64-byte aligned.
  std::string bytes = npy_bytes(at::zeros({5}, at::kFloat));
  CHECK(bytes.find("'shape': (5,)") != std::string::npos);
  CHECK(bytes.find("'descr': '<f4'") != std::string::npos);
  CHECK((bytes.size() - 20) % 64 == 0);
  // Non-contiguous tensors are written in C order.
  at::Tensor tr = at::arange(6, at::kInt).reshape({2, 3}).t();
  CHECK(at::equal(parse_npy(npy_bytes(tr), "t"), tr.contiguous()));
}

TEST_CASE("npy accepts format 2.0 and hand-written headers") {
  std::string data(8, '\0');
  at::Tensor t = parse_npy(npy_with_header("{'descr': '<i4', 'fortran_order': False, 'shape': (2L,), }\n", data), "x");
  CHECK(t.sizes() == at::IntArrayRef{2});
  std::string dict = "{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (1, 2)}\n";
  std::string v2("\x93NUMPY\x02\x00", 8);
  le(v2, dict.size(), 4);
  CHECK(parse_npy(v2 + dict + "ab", "x").sizes() == at::IntArrayRef{1, 2});
}

TEST_CASE("malformed npy files are InputErrors naming the file") {
  TempDir tmp;
  const std::string path = (tmp / "bad.npy").string();
  const std::string good = npy_bytes(at::ones({2, 3}, at::kFloat));
  auto fails_with = [&](const std::string& bytes, const std::string& fragment) {
    write_file_atomic(path, bytes);
    std::string msg = input_error_of([&] { read_npy(path); });
    CAPTURE(msg);
    CHECK(msg.find("bad.npy") != std::string::npos);
    CHECK(msg.find(fragment) != std::string::npos);
  };
  fails_with("PK\x03\x04 not numpy", "bad magic");
  fails_with(good.substr(0, 9), "truncated");                 // inside the length field
  fails_with(good.substr(0, 40), "truncated .npy header");
  fails_with(good.substr(0, good.size() - 1), "truncated");   // one data byte short
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  fails_with(fortran, "Fortran");
  std::string complex = good;
  complex.replace(complex.find("<f4"), 3, "<c8");
  fails_with(complex, "unsupported dtype '<c8'");
  std::string big = good;
  big.replace(big.find("<f4"), 3, ">f4");
  fails_with(big, "unsupported dtype '>f4'");
  fails_with(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }\n", ""),
             "overflow");
  fails_with(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", ""),
             "overflow");
  fails_with(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000,), }\n", "abcd"),
             "declares 4000000 bytes");
  fails_with(npy_with_header("{'descr': '<f4', 'shape': (1,), }\n", "abcd"), "fortran_order");
  fails_with(npy_with_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", "abcd"),
             "structured");
  CHECK_THROWS_AS(read_npy((tmp / "missing.npy").string()), InputError);
}

TEST_CASE("npz round trips, reads deflated members, and names the member on errors") {
  TempDir tmp;
  const std::string path = (tmp / "a.npz").string();
  NamedArrays arrays;
  for (at::ScalarType type : {at::kFloat, at::kDouble, at::kLong, at::kInt, at::kShort, at::kChar, at::kByte,
                              at::kBool, at::kHalf})
    arrays.emplace_back(fmt::format("a_{}", c10::toString(type)), sample_of(type, {3, 2}));
  write_npz(path, arrays);
  NamedArrays back = read_npz(path);
  REQUIRE(back.size() == arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    CHECK(back[i].first == arrays[i].first);
    CHECK(at::equal(back[i].second, arrays[i].second));
  }

  at::Tensor x = at::arange(1000, at::kFloat).reshape({10, 100});
  write_file_atomic(path, deflated_zip("x.npy", npy_bytes(x)));
  back = read_npz(path);
  REQUIRE(back.size() == 1);
  CHECK(back[0].first == "x");
  CHECK(at::equal(back[0].second, x));

  const std::string good = deflated_zip("x.npy", npy_bytes(x));
  auto fails_with = [&](const std::string& bytes, const std::string& fragment) {
    write_file_atomic(path, bytes);
    std::string msg = input_error_of([&] { read_npz(path); });
    CAPTURE(msg);
    CHECK(msg.find("a.npz") != std::string::npos);
    CHECK(msg.find(fragment) != std::string::npos);
  };
  fails_with("PK", "too short");
  fails_with(good.substr(0, good.size() - 30), "no end of central directory");
  std::string moved = good;
  moved[moved.size() - 3] = '\x7f';  // central directory offset past the end
  fails_with(moved, "central directory out of range");
  std::string corrupt = good;
  corrupt[40] ^= 0x55;  // inside the deflate stream
  fails_with(corrupt, "member 'x.npy'");
  // A stored member whose .npy payload is bad: the error names both archive and member.
  write_npz(path, {{"x", at::ones({4}, at::kFloat)}});
  std::string stored = read_file(path, "npz");
  stored[30 + 5 + 128 + 1] ^= 1;  // a float of the payload: only the CRC can tell
  fails_with(stored, "member 'x.npy': CRC mismatch");
}

TEST_CASE("load_dataset binds .npz arrays by input name, with labels and a limit") {
  TempDir tmp;
  Model m = tiny_conv_model();
  const std::string path = (tmp / "d.npz").string();
  at::Tensor x = at::randn({6, 3, 8, 8});
  at::Tensor labels = at::arange(6, at::kInt);
  write_npz(path, {{"X", x}, {"labels", labels}, {"extra", at::zeros({2})}});
  Dataset d = load_dataset(path, m);
  CHECK(d.samples == 6);
  REQUIRE(d.has_labels());
  CHECK((d.labels.scalar_type() == at::kLong));  // integer labels of any width become int64
  CHECK(d.inputs.size() == 1);                 // extra arrays are not fed
  CHECK(at::equal(d.inputs.at("X"), x));

  Dataset::Batch b = d.batch(4, 10);
  CHECK(b.feeds.at("X").size(0) == 2);
  CHECK(at::equal(b.labels, at::tensor({4, 5}, at::kLong)));

  Dataset head = load_dataset(path, m, DatasetOptions{4});
  CHECK(head.samples == 4);
  CHECK(at::equal(head.inputs.at("X"), x.slice(0, 0, 4)));
  CHECK(head.digest() != d.digest());
  CHECK(head.digest() == load_dataset(path, m, DatasetOptions{4}).digest());

  // np.savez(f, x) names the array arr_0; a single-input model takes it.
  write_npz(path, {{"arr_0", x}});
  Dataset positional = load_dataset(path, m);
  CHECK(!positional.has_labels());
  CHECK(at::equal(positional.inputs.at("X"), x));

  write_npy((tmp / "x.npy").string(), x);
  CHECK(load_dataset((tmp / "x.npy").string(), m).samples == 6);
}

TEST_CASE("load_dataset errors name the array and what was expected") {
  TempDir tmp;
  Model m = tiny_conv_model();
  const std::string path = (tmp / "d.npz").string();
  auto msg_for = [&](const NamedArrays& arrays) {
    write_npz(path, arrays);
    return input_error_of([&] { load_dataset(path, m); });
  };
  std::string missing = msg_for({{"A", at::zeros({2, 3, 8, 8})}, {"B", at::zeros({2, 3, 8, 8})}});
  CHECK(missing.find("no array 'X'") != std::string::npos);
  CHECK(missing.find("'A', 'B'") != std::string::npos);
  std::string shape = msg_for({{"X", at::zeros({2, 3, 4, 4})}});
  CHECK(shape.find("'X' has shape [2,3,4,4]") != std::string::npos);
  CHECK(shape.find("[N,3,8,8]") != std::string::npos);
  CHECK(msg_for({{"X", at::zeros({2, 3, 8})}}).find("[N,3,8,8]") != std::string::npos);
  std::string dtype = msg_for({{"X", at::zeros({2, 3, 8, 8}, at::kDouble)}});
  CHECK(dtype.find("'X' is DOUBLE") != std::string::npos);
  CHECK(dtype.find("expects FLOAT") != std::string::npos);
  std::string labels = msg_for({{"X", at::zeros({2, 3, 8, 8})}, {"labels", at::zeros({2})}});
  CHECK(labels.find("'labels' is FLOAT [2]") != std::string::npos);
  CHECK(msg_for({{"X", at::zeros({2, 3, 8, 8})}, {"labels", at::zeros({3}, at::kLong)}}).find("shape [2]") !=
        std::string::npos);
  CHECK(msg_for({{"X", at::zeros({0, 3, 8, 8})}}).find("no samples") != std::string::npos);
  CHECK(msg_for({{"arr_0", at::zeros({2, 3, 4, 4})}}).find("only array, 'arr_0'") != std::string::npos);
  CHECK(input_error_of([&] { load_dataset((tmp / "d.csv").string(), m); }).find("unknown dataset format") !=
        std::string::npos);

  Model two = tiny_conv_model();
  two.graph.inputs.push_back(two.graph.inputs[0]);
  two.graph.inputs.back().name = "X2";
  write_npy((tmp / "x.npy").string(), at::zeros({2, 3, 8, 8}));
  CHECK(input_error_of([&] { load_dataset((tmp / "x.npy").string(), two); }).find("use a .npz") != std::string::npos);
}

TEST_CASE("load_dataset reads ONNX test-data folders in numeric set order") {
  TempDir tmp;
  Model m = tiny_conv_model();
  // A flat folder: input_0.pb next to output_0.pb, which is not a label.
  fs::create_directories(tmp / "flat");
  at::Tensor x = at::randn({2, 3, 8, 8});
  write_tensor_file((tmp / "flat" / "input_0.pb").string(), x, "X");
  write_tensor_file((tmp / "flat" / "output_0.pb").string(), tiny_forward(m, x), "Y");
  Dataset flat = load_dataset((tmp / "flat").string(), m);
  CHECK(flat.samples == 2);
  CHECK(!flat.has_labels());
  CHECK(at::equal(flat.inputs.at("X"), x));

  std::vector<at::Tensor> sets;
  for (int n : {0, 1, 2, 10}) {
    fs::create_directories(tmp / "sets" / fmt::format("test_data_set_{}", n));
    sets.push_back(at::full({1, 3, 8, 8}, static_cast<float>(n)));
    write_tensor_file((tmp / "sets" / fmt::format("test_data_set_{}", n) / "input_0.pb").string(), sets.back(), "X");
  }
  Dataset d = load_dataset((tmp / "sets").string(), m);
  CHECK(d.samples == 4);
  CHECK(at::equal(d.inputs.at("X"), at::cat(sets)));
  CHECK(load_dataset((tmp / "sets").string(), m, DatasetOptions{2}).samples == 2);

  write_tensor_file((tmp / "sets" / "test_data_set_2" / "input_0.pb").string(), at::zeros({1, 3, 8, 8}, at::kDouble),
                    "X");
  CHECK(input_error_of([&] { load_dataset((tmp / "sets").string(), m); }).find("earlier sets") != std::string::npos);
  fs::create_directories(tmp / "empty");
  CHECK(input_error_of([&] { load_dataset((tmp / "empty").string(), m); }).find("neither") != std::string::npos);
}

TEST_CASE("digest is the SHA-256 of names, types, shapes and bytes") {
  TempDir tmp;
  Dataset d;
  d.inputs["X"] = at::arange(6, at::kFloat).reshape({2, 3});
  d.labels = at::tensor({1, 0}, at::kLong);
  d.samples = 2;
  std::string stream = "X\nFLOAT\n2,3\n";
  stream.append(static_cast<const char*>(d.inputs["X"].data_ptr()), 24);
  stream += "#labels\nINT64\n2\n";
  stream.append(static_cast<const char*>(d.labels.data_ptr()), 16);
  write_file_atomic((tmp / "s").string(), stream);
  std::string expected = sha256sum(tmp / "s");
  if (expected.empty()) {
    MESSAGE("sha256sum not available; checking the digest's form only");
    CHECK(d.digest().size() == 7 + 64);
  } else {
    CHECK(d.digest() == "sha256:" + expected);
  }
}

TEST_CASE("SHA-256: FIPS 180-2 vectors, streamed in pieces, and file_sha256") {
  auto digest = [](const std::string& text, size_t piece) {
    Sha256 sha;
    for (size_t i = 0; i < text.size(); i += piece) sha.update(text.data() + i, std::min(piece, text.size() - i));
    return sha.hex();
  };
  CHECK(digest("", 1) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(digest("abc", 1) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  for (size_t piece : {size_t{1}, size_t{7}, size_t{64}, two_blocks.size()})
    CHECK(digest(two_blocks, piece) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  TempDir tmp;
  write_file_atomic((tmp / "abc").string(), "abc");
  CHECK(file_sha256((tmp / "abc").string()) == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK_THROWS_AS(file_sha256((tmp / "missing").string()), Error);
}

TEST_CASE("max_batch follows the declared batch dimension") {
  Model m = tiny_conv_model();
  CHECK(max_batch(m) == 1);
  (*m.graph.inputs[0].shape)[0] = Dim{-1, "N"};
  CHECK(max_batch(m) == 0);
  (*m.graph.inputs[0].shape)[0] = Dim{4, ""};
  CHECK(max_batch(m) == 4);
}

TEST_CASE("evaluate computes accuracy, output statistics and agreement") {
  Model m = tiny_conv_model();
  const int64_t n = 6;
  at::Tensor x = at::randn({n, 3, 8, 8});
  at::Tensor y = tiny_forward(m, x).to(at::kDouble);
  at::Tensor pred = y.reshape({n, -1}).argmax(1);
  // Right for the first half, wrong for the second: 50%.
  at::Tensor labels = pred.clone();
  labels.slice(0, n / 2).copy_((labels.slice(0, n / 2) + 1) % y[0].numel());
  Dataset d;
  d.source = "memory";
  d.inputs["X"] = x;
  d.labels = labels;
  d.samples = n;

  // Batch dim fixed to 1 (one sample per run), free, and fixed to 4 (a padded last run).
  for (Dim batch : {Dim{1, ""}, Dim{-1, "N"}, Dim{4, ""}}) {
    CAPTURE(batch.value);
    Model variant = m;
    (*variant.graph.inputs[0].shape)[0] = batch;
    std::vector<std::pair<int64_t, int64_t>> progress;
    EvalOptions options;
    options.batch_size = 4;
    options.progress = [&](int64_t done, int64_t total) { progress.emplace_back(done, total); };
    EvalResult r = evaluate(variant, d, options);
    CHECK(r.samples == n);
    REQUIRE(r.accuracy);
    CHECK(*r.accuracy == doctest::Approx(0.5));
    CHECK(r.output.name == "Y");
    CHECK(r.output.mean == doctest::Approx(y.mean().item<double>()).epsilon(1e-6));
    CHECK(r.output.std == doctest::Approx(y.std(/*unbiased=*/false).item<double>()).epsilon(1e-6));
    CHECK(r.output.min == doctest::Approx(y.min().item<double>()));
    CHECK(r.output.max == doctest::Approx(y.max().item<double>()).epsilon(1e-6));
    CHECK(!r.agreement);
    CHECK(progress == std::vector<std::pair<int64_t, int64_t>>{{4, n}, {6, n}});
  }

  // Against another model: match rate, cosine and error computed directly.
  Model other = tiny_conv_model(2);
  at::Tensor z = tiny_forward(other, x).to(at::kDouble).reshape({n, -1});
  at::Tensor yf = y.reshape({n, -1});
  EvalOptions options;
  options.reference = &other;
  d.labels = at::Tensor();
  EvalResult r = evaluate(m, d, options);
  CHECK(!r.accuracy);
  REQUIRE(r.agreement);
  CHECK(r.agreement->top1_match == doctest::Approx(pred.eq(z.argmax(1)).to(at::kDouble).mean().item<double>()));
  at::Tensor cosine = (yf * z).sum(1) / (yf.norm(2, 1) * z.norm(2, 1));
  CHECK(r.agreement->mean_cosine == doctest::Approx(cosine.mean().item<double>()).epsilon(1e-6));
  CHECK(r.agreement->max_abs_error == doctest::Approx((yf - z).abs().max().item<double>()).epsilon(1e-6));

  options.reference = &m;
  EvalResult self = evaluate(m, d, options);
  CHECK(self.agreement->top1_match == 1.0);
  CHECK(self.agreement->mean_cosine == doctest::Approx(1.0));
  CHECK(self.agreement->max_abs_error == 0.0);

  d.inputs["X"] = x.to(at::kDouble);
  CHECK(input_error_of([&] { evaluate(m, d); }).find("'X' is DOUBLE") != std::string::npos);
}

}  // TEST_SUITE
