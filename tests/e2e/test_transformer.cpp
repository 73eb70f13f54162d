// The transformer sample (samples/transformer/): its ONNX graph against the LibTorch module it is
// built from, perplexity against hand-computed values, per-token losses, distillation of a tiny
// transformer into a smaller one; and (suite "mnist": slow, needs scripts/make-transformer-teacher.sh)
// the trained sample through the CLI and onnxruntime.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "core/dataset.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/executor.h"
#include "core/npy.h"
#include "core/onnx_import.h"
#include "distill/losses.h"
#include "distill/trainer.h"
#include "core/onnx_export.h"
#include "passes/channel_groups.h"
#include "passes/pipeline.h"
#include "samples/transformer/transformer_model.h"
#include "tests/helpers.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;
using samples::Transformer;
using samples::TransformerConfig;

namespace {

const fs::path kFortunes = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "fortunes";

TransformerConfig tiny(int64_t width = 16, int64_t layers = 2, int64_t mlp = 32) {
  TransformerConfig c;
  c.vocab = 11;
  c.context = 8;
  c.width = width;
  c.layers = layers;
  c.heads = 2;
  c.mlp = mlp;
  return c;
}

// Tokens and next-token labels from a fixed repeating pattern (learnable) with seeded noise.
Dataset token_data(int64_t samples, int64_t context, int64_t vocab, uint64_t seed) {
  torch::manual_seed(static_cast<int64_t>(seed));
  at::Tensor stream = (at::arange(samples * (context + 1), at::kLong) * 3 % vocab).reshape({samples, context + 1});
  at::Tensor noise = at::randint(vocab, stream.sizes(), at::kLong);
  stream = at::where(at::rand(stream.sizes()) < 0.1, noise, stream);
  Dataset d;
  d.source = "token_data";
  d.inputs["tokens"] = stream.slice(1, 0, context).clone();
  d.labels = stream.slice(1, 1, context + 1).clone();
  d.samples = samples;
  return d;
}

int64_t param_count(const Model& m) {
  int64_t n = 0;
  for (const auto& [_, t] : m.graph.initializers) n += t.is_floating_point() ? t.numel() : 0;
  return n;
}

}  // namespace

TEST_CASE("transformer sample: the ONNX graph matches the LibTorch module") {
  torch::manual_seed(3);
  Transformer net(tiny());
  net->eval();
  at::Tensor tokens = at::randint(11, {3, 8}, at::kLong);
  at::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = net->forward(tokens);
  }
  TempDir dir;
  save_onnx(samples::transformer_to_ir(net), (dir / "t.onnx").string());
  Model m = import_onnx((dir / "t.onnx").string());
  CHECK(m.opsets.at("") == 17);
  std::map<std::string, int> ops;
  for (const Node& n : m.graph.nodes) ++ops[n.op_type];
  CHECK(ops["LayerNormalization"] == 2 * 2 + 1);
  CHECK(ops["MatMul"] == 2 * 8 + 1);  // per block q k v, scores, context, out, fc1, fc2; the head
  CHECK(ops["Softmax"] == 2);
  CHECK(ops["Erf"] == 2);
  CHECK(ops["Gather"] == 1);
  at::Tensor got = Executor(m).run({{"tokens", tokens}}).at("logits");
  REQUIRE(got.sizes() == expected.sizes());
  std::string why;
  CHECK_MESSAGE(all_close(got, expected, 0, 1e-4, &why), why);
}

TEST_CASE("transformer sample: a wrong width/head split is an input error") {
  TransformerConfig c = tiny();
  c.heads = 3;
  CHECK_THROWS_AS(Transformer{c}, InputError);
}

TEST_CASE("channel groups on a transformer: the model width and the MLP widths prune; attention heads stay") {
  torch::manual_seed(5);
  Transformer net(tiny(16, 2, 32));
  Model m = samples::transformer_to_ir(net);
  const ChannelGroups groups = analyze_channel_groups(m);
  std::vector<std::string> prunable;
  for (int id : groups.prunable()) prunable.push_back(groups.groups[id].sources.at(0));
  // The residual stream (embedding, attention out-projections, MLP outputs: one group tied by
  // every residual Add) and each block's MLP hidden layer.
  CHECK(prunable == std::vector<std::string>{"embed", "blocks.0.mlp.fc1", "blocks.1.mlp.fc1"});
  for (int id : groups.prunable()) {
    const ChannelGroup& g = groups.groups[id];
    if (g.sources[0] == "embed") {
      CHECK(g.channels == 16);
      CHECK(g.sources.size() == 1 + 2 * 2);   // embed, then per block the out-projection and fc2
    } else {
      CHECK(g.channels == 32);
    }
  }

  // Halve every prunable group: every tensor shrinks consistently and the model still runs.
  Model pruned = m;
  PassContext ctx;
  run_pipeline(pruned, parse_pipeline("prune{ratio=0.5}"), ctx);
  const auto& w = pruned.graph.initializers;
  CHECK(w.at("tok_emb").sizes() == at::IntArrayRef{11, 8});
  CHECK(w.at("pos_emb").sizes() == at::IntArrayRef{8, 8});
  CHECK(w.at("blocks.0.ln1.weight").sizes() == at::IntArrayRef{8});
  CHECK(w.at("blocks.0.attn.wq").sizes() == at::IntArrayRef{8, 16});   // head channels pinned
  CHECK(w.at("blocks.0.attn.wo").sizes() == at::IntArrayRef{16, 8});
  CHECK(w.at("blocks.1.mlp.w1").sizes() == at::IntArrayRef{8, 16});
  CHECK(w.at("blocks.1.mlp.w2").sizes() == at::IntArrayRef{16, 8});
  CHECK(w.at("head").sizes() == at::IntArrayRef{8, 11});
  std::map<std::string, int> before, after;
  for (const Node& n : m.graph.nodes) ++before[n.op_type];
  for (const Node& n : pruned.graph.nodes) ++after[n.op_type];
  CHECK(after["MatMul"] == before["MatMul"]);
  CHECK(after["LayerNormalization"] == before["LayerNormalization"]);
  at::Tensor tokens = at::randint(11, {2, 8}, at::kLong);
  at::Tensor y = Executor(pruned).run({{"tokens", tokens}}).at("logits");
  CHECK(y.sizes() == at::IntArrayRef{2, 8, 11});
  CHECK(at::isfinite(y).all().item<bool>());
  TempDir dir;
  save_onnx(pruned, (dir / "p.onnx").string());   // passes onnx::checker with the new shapes
  CHECK(at::allclose(Executor(import_onnx((dir / "p.onnx").string())).run({{"tokens", tokens}}).at("logits"), y));
}

TEST_CASE("evaluate: per-token labels give token accuracy, cross-entropy and perplexity") {
  // logits = Gather(table, tokens): each token's row is log p for a known distribution.
  Model m;
  m.opsets[""] = 13;
  ValueInfo in = float_value("tokens", {Dim{-1, "N"}, Dim{2, ""}});
  in.elem_type = 7;
  m.graph.inputs.push_back(in);
  m.graph.outputs.push_back(float_value("logits", {Dim{-1, "N"}, Dim{2, ""}, Dim{3, ""}}));
  m.graph.initializers["table"] = at::log(at::tensor(std::vector<float>{0.5f, 0.25f, 0.25f, 0.1f, 0.8f, 0.1f}).reshape({2, 3}));
  m.graph.nodes.push_back(make_node("Gather", {"table", "tokens"}, "logits"));
  Dataset d;
  d.source = "hand";
  d.inputs["tokens"] = at::tensor(std::vector<int64_t>{0, 1, 0, 1}, at::kLong).reshape({2, 2});
  d.labels = at::tensor(std::vector<int64_t>{0, 1, 1, 1}, at::kLong).reshape({2, 2});
  d.samples = 2;
  EvalResult r = evaluate(m, d);
  REQUIRE(r.language_model);
  CHECK(r.language_model->tokens == 4);
  // Label probabilities 0.5, 0.8, 0.25, 0.8; predictions 0, 1, 0, 1: 3 of 4 right.
  const double ce = -(std::log(0.5) + std::log(0.8) + std::log(0.25) + std::log(0.8)) / 4;
  CHECK(r.language_model->cross_entropy == doctest::Approx(ce).epsilon(1e-6));
  CHECK(r.language_model->perplexity == doctest::Approx(std::pow(0.5 * 0.8 * 0.25 * 0.8, -0.25)).epsilon(1e-6));
  CHECK(*r.accuracy == doctest::Approx(0.75));
  nlohmann::json j = r;
  CHECK(j["language_model"]["perplexity"].get<double>() == doctest::Approx(r.language_model->perplexity));

  d.labels = at::tensor(std::vector<int64_t>{0, 3, 1, 1}, at::kLong).reshape({2, 2});  // 3 is no class
  CHECK_THROWS_AS(evaluate(m, d), InputError);
}

TEST_CASE("dataset: token labels [N,T] load; other label ranks are refused") {
  TempDir dir;
  torch::manual_seed(1);
  Transformer net(tiny());
  Model m = samples::transformer_to_ir(net);
  at::Tensor tokens = at::randint(11, {5, 8}, at::kLong);
  write_npz((dir / "ok.npz").string(), {{"tokens", tokens}, {"labels", tokens}});
  Dataset d = load_dataset((dir / "ok.npz").string(), m);
  CHECK(d.labels.sizes() == tokens.sizes());
  write_npz((dir / "bad.npz").string(), {{"tokens", tokens}, {"labels", tokens.reshape({5, 2, 4})}});
  CHECK_THROWS_AS(load_dataset((dir / "bad.npz").string(), m), InputError);
}

TEST_CASE("losses: per-token CE and KD are the mean over a sequence's tokens") {
  torch::manual_seed(2);
  at::Tensor s = at::randn({2, 3, 5}), t = at::randn({2, 3, 5});
  at::Tensor labels = at::randint(5, {2, 3}, at::kLong);
  at::Tensor ce = distill::cross_entropy(s, labels);
  REQUIRE(ce.sizes() == at::IntArrayRef{2});
  at::Tensor flat = distill::cross_entropy(s.reshape({6, 5}), labels.reshape({6}));
  CHECK(at::allclose(ce, flat.view({2, 3}).mean(1)));
  at::Tensor kd = distill::kd_loss(s, t, 2.0);
  CHECK(at::allclose(kd, distill::kd_loss(s.reshape({6, 5}), t.reshape({6, 5}), 2.0).view({2, 3}).mean(1)));
  CHECK(distill::kd_loss(s, s, 2.0).abs().max().item<double>() < 1e-6);
  CHECK(distill::correct_top1(s, s.argmax(2)) == 6);
  CHECK_THROWS_AS(distill::cross_entropy(s, labels.reshape({6})), InputError);
}

TEST_CASE("distill: a smaller transformer learns from a tiny transformer teacher") {
  torch::manual_seed(4);
  Transformer teacher_net(tiny());
  Model teacher = samples::transformer_to_ir(teacher_net);
  Dataset train = token_data(128, 8, 11, 5), eval = token_data(32, 8, 11, 6);
  // First fit the teacher to the data a little (labels only), so its soft targets mean something.
  distill::TrainOptions fit;
  fit.epochs = 4;
  fit.batch_size = 16;
  fit.schedule.base_lr = 1e-2;
  fit.quiet = true;
  distill::train(teacher, train, fit);

  torch::manual_seed(7);
  Transformer student_net(tiny(8, 1, 16));
  Model student = samples::transformer_to_ir(student_net);
  CHECK(param_count(student) * 4 <= param_count(teacher));
  const double before = evaluate(student, eval).language_model->perplexity;
  distill::TrainOptions o;
  o.epochs = 4;
  o.batch_size = 16;
  o.schedule.base_lr = 1e-2;
  o.alpha = 0.5;
  o.temperature = 2;
  o.eval = &eval;
  o.quiet = true;
  distill::TrainResult r = distill::train(student, train, o, &teacher);
  REQUIRE(r.epochs.size() == 4);
  CHECK(r.epochs.back().train_loss < r.epochs.front().train_loss);
  REQUIRE(r.eval_perplexity);
  CHECK(*r.eval_perplexity < before);
  // Embeddings and LayerNorm scales train too.
  CHECK(std::count(r.trained.begin(), r.trained.end(), "tok_emb") == 1);
  CHECK(std::count(r.trained.begin(), r.trained.end(), "lnf.weight") == 1);
  // The causal mask is structure, not a weight (0 / -1e4 constant added to the scores).
  CHECK(std::count(r.trained.begin(), r.trained.end(), "mask") == 0);
  CHECK(*r.eval_perplexity == doctest::Approx(evaluate(student, eval).language_model->perplexity).epsilon(1e-6));
}

TEST_CASE("transformer sample: CLI perplexity within the documented bound; onnxruntime agrees" *
          doctest::test_suite("transformer")) {
  const fs::path teacher = kFortunes / "teacher.onnx", test = kFortunes / "test.npz";
  REQUIRE_MESSAGE(fs::exists(teacher), "run scripts/make-transformer-teacher.sh first");
  CliResult r = run_cli(fmt::format("eval {} --data {} --limit 256 --json", q(teacher), q(test)));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const double ppl = j["language_model"]["perplexity"].get<double>();
  MESSAGE("teacher held-out perplexity (256 windows): " << ppl);
  CHECK(ppl < 12.0);  // the bound scripts/make-transformer-teacher.sh trains to (README)
  CHECK(ppl > 1.0);

  Model m = import_onnx(teacher.string());
  at::Tensor tokens;
  for (auto& [name, t] : read_npz(test.string()))
    if (name == "tokens") tokens = t.slice(0, 0, 4).clone();
  REQUIRE(tokens.defined());
  at::Tensor ours = Executor(m).run({{"tokens", tokens}}).at("logits");
  SKIP_WITHOUT_ONNXRUNTIME();
  auto ort = run_onnxruntime({OrtJob{teacher.string(), {{"tokens", tokens}}}});
  REQUIRE_MESSAGE(ort.at(0).error.empty(), ort.at(0).error);
  std::string why;
  CHECK_MESSAGE(all_close(ours, ort.at(0).outputs.at(0), 1e-4, 1e-4, &why), why);
}
