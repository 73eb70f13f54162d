// Pruning: channel dependency groups (structure), physical channel removal (numerics),
// unstructured and N:M sparsity, sensitivity, and the light models end to end.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include "core/cost_model.h"
#include "core/error.h"
#include "core/executor.h"
#include "core/file_util.h"
#include "core/onnx_import.h"
#include "core/onnx_export.h"
#include "passes/fold_constants.h"
#include "passes/pipeline.h"
#include "passes/prune.h"
#include "tests/helpers.h"
#include "tests/net_builder.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

at::Tensor run_one(const Model& m, const at::Tensor& x) { return Executor(m).run(std::vector<at::Tensor>{x}).at(0); }

const ChannelGroup& group_of(const ChannelGroups& g, const std::string& source) {
  for (const auto& grp : g.groups)
    if (std::find(grp.sources.begin(), grp.sources.end(), source) != grp.sources.end()) return grp;
  FAIL("no group for " << source);
  throw;
}

Model prune(const Model& m, const std::string& pipeline) {
  Model out = m;
  PassContext ctx;
  run_pipeline(out, parse_pipeline(pipeline), ctx);
  return out;
}

int64_t dim(const Model& m, const std::string& tensor, int64_t d) { return m.graph.initializers.at(tensor).size(d); }

// X [T,3,I] (T dynamic) -> `op` (H = 8 hidden units, `directions` 1 or 2) -> Y [T,D,N,H] -> Squeeze (D = 1)
// or Transpose + Reshape [0,0,-1] (D = 2) -> MatMul [D*H, C] -> [T,N,C]. Its initial state is
// ConstantOfShape(Concat([D], Shape(X)[1], [H])), zeros, as torch.onnx writes it; an LSTM reads
// it as its cell too and has peepholes.
Model recurrent_net(const std::string& op, int64_t directions) {
  at::manual_seed(23);
  const int64_t N = 3, I = 6, H = 8, C = 4, D = directions, G = op == "LSTM" ? 4 : op == "GRU" ? 3 : 1;
  Model m;
  m.opsets[""] = 14;
  Graph& g = m.graph;
  g.inputs.push_back(ValueInfo{"X", 1, std::vector<Dim>{Dim{-1, "T"}, Dim{N, ""}, Dim{I, ""}}});
  g.outputs.push_back(ValueInfo{"out", 1, std::vector<Dim>{Dim{-1, "T"}, Dim{N, ""}, Dim{C, ""}}});
  auto& w = g.initializers;
  w["W"] = at::randn({D, G * H, I}) * 0.4;
  w["R"] = at::randn({D, G * H, H}) * 0.4;
  w["B"] = at::randn({D, 2 * G * H}) * 0.1;
  w["head"] = at::randn({D * H, C}) * 0.5;
  w["batch_at"] = at::tensor(std::vector<int64_t>{1}, at::kLong);
  w["dirs"] = at::tensor(std::vector<int64_t>{D}, at::kLong);
  w["hidden"] = at::tensor(std::vector<int64_t>{H}, at::kLong);
  g.nodes.push_back(make_node("Shape", {"X"}, "x_shape"));
  g.nodes.push_back(make_node("Gather", {"x_shape", "batch_at"}, "batch"));
  Node concat = make_node("Concat", {"dirs", "batch", "hidden"}, "state_shape");
  concat.attrs["axis"] = Attribute::of_int(0);
  g.nodes.push_back(concat);
  g.nodes.push_back(make_node("ConstantOfShape", {"state_shape"}, "zeros"));
  Node rnn = make_node(op, {"X", "W", "R", "B", "", "zeros"}, "Y");
  rnn.attrs["hidden_size"] = Attribute::of_int(H);
  if (D == 2) rnn.attrs["direction"] = Attribute::of_string("bidirectional");
  if (op == "LSTM") {
    w["peep"] = at::randn({D, 3 * H}) * 0.2;
    rnn.inputs.insert(rnn.inputs.end(), {"zeros", "peep"});
  }
  rnn.outputs.push_back("Y_h");
  g.nodes.push_back(rnn);
  if (D == 1) {
    w["axes"] = at::tensor(std::vector<int64_t>{1}, at::kLong);
    g.nodes.push_back(make_node("Squeeze", {"Y", "axes"}, "seq"));
  } else {
    Node t = make_node("Transpose", {"Y"}, "Y_t");
    t.attrs["perm"] = Attribute::of_ints({0, 2, 1, 3});
    g.nodes.push_back(t);
    w["merge"] = at::tensor(std::vector<int64_t>{0, 0, -1}, at::kLong);
    g.nodes.push_back(make_node("Reshape", {"Y_t", "merge"}, "seq"));
  }
  g.nodes.push_back(make_node("MatMul", {"seq", "head"}, "out"));
  return m;
}

}  // namespace

TEST_SUITE("prune") {

TEST_CASE("residual Add couples the two convolutions into one group; Flatten->Gemm follows the channels") {
  Model m = residual_net();
  ChannelGroups g = analyze_channel_groups(m);
  CHECK(g.groups.size() == 3);   // {conv1, conv2}, {conv3}, {fc}
  const ChannelGroup& res = group_of(g, "conv1");
  CHECK(res.sources == std::vector<std::string>{"conv1", "conv2"});
  CHECK(res.channels == 8);
  CHECK(res.prunable());
  CHECK(group_of(g, "conv3").channels == 6);
  CHECK_FALSE(group_of(g, "fc").prunable());   // reaches the graph output
  CHECK(group_of(g, "fc").blocked.find("graph output") != std::string::npos);
}

TEST_CASE("structured pruning removes the same channels from every coupled tensor") {
  Model m = residual_net();
  Model p = prune(m, "prune{ratio=0.5}");
  CHECK(dim(p, "conv1.w", 0) == 4);
  CHECK(dim(p, "bn1.s", 0) == 4);
  CHECK(dim(p, "conv2.w", 0) == 4);
  CHECK(dim(p, "conv2.w", 1) == 4);
  CHECK(dim(p, "conv3.w", 1) == 4);
  CHECK(dim(p, "conv3.w", 0) == 3);
  CHECK(dim(p, "fc.w", 1) == 3 * 64);   // 3 channels x 8x8 positions
  CHECK(dim(p, "fc.w", 0) == 5);
  at::Tensor y = run_one(p, at::randn({1, 3, 8, 8}));
  CHECK(y.sizes() == at::IntArrayRef{1, 5});
  // MACs follow: conv1 3->4, conv2 4->4, conv3 4->3 (x576 x9), fc 192->5.
  CHECK(analyze_model(p).totals.macs == 64 * 9 * (3 * 4 + 4 * 4 + 4 * 3) + 192 * 5);
}

TEST_CASE("ratio 0 leaves the model and its outputs identical") {
  Model m = residual_net();
  Model p = prune(m, "prune{ratio=0}");
  at::Tensor x = at::randn({1, 3, 8, 8});
  CHECK(at::equal(run_one(m, x), run_one(p, x)));
  CHECK(analyze_model(p).totals.macs == analyze_model(m).totals.macs);
}

TEST_CASE("removing channels that are zero keeps the outputs (atol 1e-5)") {
  Model m = residual_net();
  // Channels 1, 4, 6 of the residual group and 2, 5 of conv3 carry nothing: zero filters and
  // biases (conv1, conv2, conv3) and a BatchNorm that maps 0 to 0 (bias = mean * scale).
  auto& w = m.graph.initializers;
  for (int64_t c : {1, 4, 6}) {
    for (const char* t : {"conv1.w", "conv1.b", "conv2.w", "conv2.b"}) w.at(t)[c].zero_();
    w.at("bn1.b")[c] = 0;
    w.at("bn1.m")[c] = 0;
  }
  for (int64_t c : {2, 5}) w.at("conv3.w")[c].zero_(), w.at("conv3.b")[c].zero_();
  Model p = prune(m, "prune{ratio=0.35}");   // round(0.35*8) = 3 and round(0.35*6) = 2 removed
  CHECK(dim(p, "conv1.w", 0) == 5);
  CHECK(dim(p, "conv3.w", 0) == 4);
  at::Tensor x = at::randn({2, 3, 8, 8});
  std::string why;
  CHECK_MESSAGE(all_close(run_one(p, x), run_one(m, x), 0, 1e-5, &why), why);
}

TEST_CASE("concat maps channels to positions; a grouped conv ties local channels across its groups") {
  Net n(4);
  auto a = n.op("Relu", {n.conv("X", 6, "a")}, "ra");
  auto b = n.op("Relu", {n.conv("X", 4, "b")}, "rb");
  auto cat = n.op("Concat", {a, b}, "cat");              // 10 channels: a[0..5], b[0..3]
  auto g2 = n.op("Relu", {n.conv(cat, 6, "grouped", 2)}, "rg");   // 2 groups of 5 in, 3 out
  auto out = n.conv(g2, 4, "head");
  Model m = n.output(out);
  ChannelGroups g = analyze_channel_groups(m);
  // Group 0 of `grouped` reads a[0..4], group 1 reads a[5], b[0..3]: local channel j ties
  // a[j] with (a[5], b[0..3])[j], so a and b form one group of 5 units.
  const ChannelGroup& ab = group_of(g, "a");
  CHECK(ab.sources == std::vector<std::string>{"a", "b"});
  CHECK(ab.channels == 5);
  CHECK(ab.unit_size == 2);
  const ChannelGroup& grouped = group_of(g, "grouped");
  CHECK(grouped.channels == 3);   // output channel j of both groups is one unit
  Model p = prune(m, "prune{ratio=0.4}");
  CHECK(dim(p, "grouped.w", 1) == 3);   // 5 - 2 per group
  CHECK(dim(p, "grouped.w", 0) == 4);   // 6 - 2*1 (ratio 0.4 of 3 units = 1 unit of 2 channels)
  CHECK(dim(p, "a.w", 0) + dim(p, "b.w", 0) == 6);
  CHECK(run_one(p, at::randn({1, 4, 8, 8})).size(1) == 4);
}

TEST_CASE("scope, budgets, per-layer ratios and exclusions") {
  Model m = residual_net();
  const int64_t macs = analyze_model(m).totals.macs;
  Model half = prune(m, "prune{target-macs=0.5}");
  const double kept = double(analyze_model(half).totals.macs) / macs;
  CHECK(kept <= 0.5);
  CHECK(kept > 0.3);
  Model global = prune(m, "prune{scope=global target-macs=0.5}");
  CHECK(double(analyze_model(global).totals.macs) / macs <= 0.5);
  Model layer = prune(m, "prune{ratio=0 layer-ratios=conv3:0.5}");
  CHECK(dim(layer, "conv3.w", 0) == 3);
  CHECK(dim(layer, "conv1.w", 0) == 8);
  Model excluded = prune(m, "prune{ratio=0.5 exclude=conv3}");
  CHECK(dim(excluded, "conv3.w", 0) == 6);
  CHECK(dim(excluded, "conv1.w", 0) == 4);
  Model rounded = prune(m, "prune{ratio=0.5 round-to=4}");
  CHECK(dim(rounded, "conv3.w", 0) == 4);   // 3 kept, rounded up to 4
  CHECK_THROWS_AS(prune(m, "prune{ratio=1.5}"), InputError);
  CHECK_THROWS_WITH_AS(prune(m, "prune{layer-ratios=nope:0.5}"), doctest::Contains("nope"), InputError);
  CHECK_THROWS_WITH_AS(prune(m, "prune{layer-ratios=fc:0.5}"), doctest::Contains("graph output"), InputError);
}

TEST_CASE("activation importance removes the channels that never fire") {
  Model m = residual_net();
  auto& w = m.graph.initializers;
  for (int64_t c : {0, 3}) w.at("conv3.w")[c].zero_(), w.at("conv3.b")[c] = -1.0;   // Relu(-1) = 0
  PassContext ctx;
  at::manual_seed(3);
  ctx.calibration.push_back({{"X", at::randn({4, 3, 8, 8})}});
  ChannelGroups g = analyze_channel_groups(m);
  auto imp = channel_importance(m, g, "activation", ctx);
  int conv3 = -1;
  for (size_t i = 0; i < g.groups.size(); ++i)
    if (g.groups[i].sources[0] == "conv3") conv3 = static_cast<int>(i);
  // The observed values are conv3's output (the pre-Relu -1 counts) and the Relu (0): channels
  // 0 and 3 have the smallest means.
  auto mask = keep_top(imp.at(conv3), 4);
  CHECK_FALSE(mask[0]);
  CHECK_FALSE(mask[3]);
}

TEST_CASE("LSTM, GRU and RNN hidden units are a group: every gate's rows, R's columns, B, peepholes and hidden_size follow; zero units removed keep the outputs (atol 1e-5)") {
  for (const std::string op : {"LSTM", "GRU", "RNN"})
    for (int64_t directions : {1, 2}) {
      CAPTURE(op);
      CAPTURE(directions);
      const int64_t H = 8, G = op == "LSTM" ? 4 : op == "GRU" ? 3 : 1, D = directions;
      Model m = recurrent_net(op, directions);
      // Units 2 and 5 carry nothing: zero rows in every gate and direction, zero biases. From
      // a zero state they stay 0 (LSTM: g = tanh(0) = 0 keeps c = 0; GRU: h~ = 0, h = z*0;
      // RNN: tanh(0)), so removing them changes no output.
      auto& w = m.graph.initializers;
      for (int64_t h : {2, 5})
        for (int64_t gate = 0; gate < G; ++gate) {
          w.at("W").select(1, gate * H + h).zero_();
          w.at("R").select(1, gate * H + h).zero_();
          for (int64_t half : {0, 1}) w.at("B").select(1, (half * G + gate) * H + h).zero_();
        }
      const ChannelGroups groups = analyze_channel_groups(m);
      const ChannelGroup& grp = group_of(groups, "Y");
      REQUIRE(grp.prunable());
      CHECK(grp.channels == H);
      CHECK(group_of(groups, "out").blocked.find("graph output") != std::string::npos);
      // Its MACs: every step of every sequence meets each weight of W and R once (T = 1, N = 3).
      const ModelCost cost = analyze_model(m);
      for (const NodeCost& c : cost.nodes)
        if (c.op == op) CHECK(c.macs == 3 * (w.at("W").numel() + w.at("R").numel()));

      Model p = prune(m, "prune{ratio=0.25}");   // round(0.25 * 8) = 2 units: the zero ones
      CHECK(dim(p, "W", 1) == G * 6);
      CHECK(dim(p, "W", 2) == 6);   // the input width stays
      CHECK(dim(p, "R", 1) == G * 6);
      CHECK(dim(p, "R", 2) == 6);
      CHECK(dim(p, "B", 1) == 2 * G * 6);
      CHECK(dim(p, "head", 0) == D * 6);
      if (op == "LSTM") CHECK(dim(p, "peep", 1) == 18);
      const Node& rnn = *std::find_if(p.graph.nodes.begin(), p.graph.nodes.end(), [&](const Node& n) { return n.op_type == op; });
      CHECK(rnn.attr_int("hidden_size", 0) == 6);
      // The zero state of the old size is dropped (omitted, it is the same zeros), and so is
      // the chain that built it.
      if (op == "LSTM") CHECK((rnn.inputs.size() == 8 && rnn.inputs[5].empty() && rnn.inputs[6].empty()));   // P stays
      else CHECK(rnn.inputs.size() == 4);
      CHECK(count_ops(p, "ConstantOfShape") == 0);
      CHECK(count_ops(p, "Shape") == 0);
      const at::Tensor x = at::randn({7, 3, 6});
      std::string why;
      CHECK_MESSAGE(all_close(run_one(p, x), run_one(m, x), 0, 1e-5, &why), why);
      TempDir tmp;
      const std::string path = (tmp / "rnn.onnx").string();
      save_onnx(p, path);   // onnx::checker + strict shape inference
      if (onnxruntime_available()) {
        const auto ort = run_onnxruntime({{path, {{"X", x}}}});
        REQUIRE_MESSAGE(ort[0].error.empty(), ort[0].error);
        CHECK_MESSAGE(all_close(ort[0].outputs.at(0), run_one(p, x), 1e-4, 1e-5, &why), why);
      }
    }
}

TEST_CASE("a Shape of channels: Gathers of other entries leave them prunable; any other reader pins them") {
  // X -> conv1 -> relu1 -> conv2 -> Y, and Shape(relu1) read three ways.
  auto build = [](const std::string& reader) {
    Net n(3);
    const std::string a = n.op("Relu", {n.conv("X", 8, "conv1")}, "relu1");
    Model m = n.output(n.conv(a, 4, "conv2"));
    m.graph.nodes.push_back(make_node("Shape", {a}, "shp"));
    m.graph.initializers["at"] = at::tensor(std::vector<int64_t>{reader == "channels" ? 1 : 0}, at::kLong);
    if (reader == "output") {
      m.graph.outputs.push_back(ValueInfo{"shp", 7, std::vector<Dim>{Dim{4, ""}}});
    } else {
      m.graph.nodes.push_back(make_node("Gather", {"shp", "at"}, "dim"));
      m.graph.outputs.push_back(ValueInfo{"dim", 7, std::vector<Dim>{Dim{1, ""}}});
    }
    return m;
  };
  CHECK(group_of(analyze_channel_groups(build("batch")), "conv1").prunable());   // Gather of entry 0, the batch
  CHECK_FALSE(group_of(analyze_channel_groups(build("channels")), "conv1").prunable());   // entry 1 is C
  CHECK_FALSE(group_of(analyze_channel_groups(build("output")), "conv1").prunable());     // the whole shape is read
}

TEST_CASE("a recurrent layer whose initial state is fed at run time keeps its units, and says why") {
  Model m = recurrent_net("GRU", 1);
  m.graph.inputs.push_back(ValueInfo{"h0", 1, std::vector<Dim>{Dim{1, ""}, Dim{3, ""}, Dim{8, ""}}});
  for (Node& n : m.graph.nodes)
    if (n.op_type == "GRU") n.inputs[5] = "h0";
  const ChannelGroups groups = analyze_channel_groups(m);
  const ChannelGroup& grp = group_of(groups, "Y");
  CHECK_FALSE(grp.prunable());
  CHECK(grp.blocked.find("runtime initial state") != std::string::npos);
}

TEST_CASE("unstructured pruning meets the ratio exactly; N:M holds the pattern") {
  Model m = residual_net();
  Model u = prune(m, "prune{mode=unstructured ratio=0.6}");
  const at::Tensor& w = u.graph.initializers.at("conv2.w");
  CHECK((w == 0).sum().item<int64_t>() == std::llround(0.6 * w.numel()));
  CHECK(w.sizes() == m.graph.initializers.at("conv2.w").sizes());
  Model g = prune(m, "prune{mode=unstructured scope=global ratio=0.5}");
  int64_t zeros = 0, total = 0;
  for (const auto& pw : prunable_weights(g, {})) {
    zeros += (g.graph.initializers.at(pw.tensor) == 0).sum().item<int64_t>();
    total += g.graph.initializers.at(pw.tensor).numel();
  }
  CHECK(double(zeros) / total == doctest::Approx(0.5).epsilon(0.01));

  Model nm = prune(m, "prune{mode=nm nm=2:4}");
  for (const auto& pw : prunable_weights(nm, {})) {
    const at::Tensor& t = nm.graph.initializers.at(pw.tensor);
    if (t.size(pw.input_dim) % 4 == 0) {
      CHECK_MESSAGE(satisfies_nm(t, pw.input_dim, 2, 4), pw.tensor);
      CHECK_FALSE(satisfies_nm(m.graph.initializers.at(pw.tensor), pw.input_dim, 2, 4));
    } else {
      CHECK(at::equal(t, m.graph.initializers.at(pw.tensor)));   // partial runs stay dense
    }
  }
  // The survivors of each run are its two largest magnitudes.
  at::Tensor before = m.graph.initializers.at("conv2.w").movedim(1, -1).reshape({-1, 4}).abs();
  at::Tensor after = nm.graph.initializers.at("conv2.w").movedim(1, -1).reshape({-1, 4}).abs();
  CHECK(at::allclose(std::get<0>(after.sort(1, true)).slice(1, 0, 2), std::get<0>(before.sort(1, true)).slice(1, 0, 2)));
  CHECK_THROWS_WITH_AS(prune(m, "prune{mode=nm nm=4:2}"), doctest::Contains("N:M"), InputError);
}

TEST_CASE("a pruned model's file passes strict ONNX shape inference: stale value_info is rewritten, not kept") {
  TempDir tmp;
  save_onnx(residual_net(), (tmp / "net.onnx").string());
  Model m = import_onnx((tmp / "net.onnx").string());   // value_info from ONNX shape inference
  REQUIRE_FALSE(m.graph.value_info.empty());
  // Some exporters also describe initializers in value_info (IR < 4 listed them as inputs).
  for (const auto& [name, t] : m.graph.initializers) {
    ValueInfo v;
    v.name = name;
    v.elem_type = onnx::TensorProto::FLOAT;
    std::vector<Dim> dims;
    for (int64_t d : t.sizes()) dims.push_back(Dim{d, ""});
    v.shape = dims;
    m.graph.value_info.push_back(v);
  }
  Model p = prune(m, "prune{ratio=0.5}");
  REQUIRE(analyze_model(p).totals.params < analyze_model(m).totals.params);
  save_onnx(p, (tmp / "pruned.onnx").string());
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(read_file((tmp / "pruned.onnx").string(), "model")));
  CHECK_NOTHROW(onnx::shape_inference::InferShapes(proto, onnx::OpSchemaRegistry::Instance(),
                                                   onnx::ShapeInferenceOptions(true, /*strict_mode_val=*/1)));
  // Every value_info in the file agrees with the graph as written: initializers' with their
  // tensors, and there is one for every node output (regenerated, none left behind).
  std::map<std::string, std::vector<int64_t>> written;
  for (const auto& v : proto.graph().value_info()) {
    std::vector<int64_t> dims;
    for (const auto& d : v.type().tensor_type().shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    written[v.name()] = dims;
  }
  for (const auto& [name, t] : p.graph.initializers)
    if (written.count(name)) CHECK(written.at(name) == std::vector<int64_t>(t.sizes().begin(), t.sizes().end()));
  Model back = import_onnx((tmp / "pruned.onnx").string());
  const at::Tensor x = at::randn({2, 3, 8, 8});
  CHECK(run_one(back, x).equal(run_one(p, x)));
}

TEST_CASE("a model whose declared output shape contradicts its graph is refused at save, naming shape inference") {
  TempDir tmp;
  Model m = residual_net();
  m.graph.outputs.at(0).shape = std::vector<Dim>{Dim{1, ""}, Dim{7, ""}};   // the Gemm gives 5 classes
  const std::string path = (tmp / "bad.onnx").string();
  std::string message;
  try {
    save_onnx(m, path);
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK(message.find("fails ONNX shape inference") != std::string::npos);
  CHECK_FALSE(fs::exists(path));
}

}  // TEST_SUITE

TEST_SUITE("conformance") {

TEST_CASE("prune ratio 0.3 on every light model: valid ONNX, runs, MACs fall") {
  const std::string root = conformance_dir();
  SKIP_WITHOUT_CONFORMANCE(root);
  TempDir tmp;
  // Kept MACs fraction bounds: ~0.7^2 where both sides of a layer shrink; ShuffleNet's units
  // are coarse (channel shuffle ties 16 channels), AlexNet's first conv feeds grouped convs.
  for (const std::string name : {"resnet50", "bvlc_alexnet", "inception_v1", "squeezenet", "shufflenet"}) {
    CAPTURE(name);
    Model m = import_onnx(root + "/light/light_" + name + ".onnx");
    fold_constants(m);
    randomize_weights(m, 5);
    Model p = prune(m, "prune{ratio=0.3}");
    const double kept = double(analyze_model(p).totals.macs) / analyze_model(m).totals.macs;
    CHECK(kept < 0.6);
    CHECK(kept > 0.35);
    const std::string path = (tmp / (name + ".onnx")).string();
    save_onnx(p, path);   // runs onnx::checker
    Model back = import_onnx(path);
    at::Tensor y = Executor(back).run(std::vector<at::Tensor>{light_model_input(back)}).at(0);
    CHECK(y.sizes() == Executor(m).run(std::vector<at::Tensor>{light_model_input(m)}).at(0).sizes());
  }
}

}  // TEST_SUITE

TEST_SUITE("onnxruntime") {

TEST_CASE("pruned light models run in onnxruntime and match our executor (rtol 1e-3, atol 1e-5)") {
  const std::string root = conformance_dir();
  SKIP_WITHOUT_CONFORMANCE(root);
  SKIP_WITHOUT_ONNXRUNTIME();
  TempDir tmp;
  std::vector<OrtJob> jobs;
  std::vector<at::Tensor> ours;
  for (const std::string name : {"resnet50", "bvlc_alexnet", "inception_v1", "squeezenet", "shufflenet"}) {
    Model m = import_onnx(root + "/light/light_" + name + ".onnx");
    fold_constants(m);
    randomize_weights(m, 5);
    Model p = prune(m, "prune{ratio=0.3}");
    const std::string path = (tmp / (name + ".onnx")).string();
    save_onnx(p, path);
    at::Tensor x = light_model_input(p);
    ours.push_back(Executor(p).run(std::vector<at::Tensor>{x}).at(0));
    jobs.push_back({path, {{p.graph.runtime_inputs()[0]->name, x}}});
  }
  auto results = run_onnxruntime(jobs);
  for (size_t i = 0; i < jobs.size(); ++i) {
    CAPTURE(jobs[i].model);
    REQUIRE(results[i].error.empty());
    std::string why;
    CHECK_MESSAGE(all_close(results[i].outputs.at(0), ours[i], 1e-3, 1e-5, &why), why);
  }
}

}  // TEST_SUITE
