// The transformer sample: a character-level language model on the Debian `fortunes` cookie files.
//
//   transformer_teacher data --fortunes /usr/share/games/fortunes --out data/fortunes
//     makes the corpus: train.npz / test.npz with `tokens` int64 [N,T] and `labels` int64 [N,T]
//     (the next character), and vocab.txt.
//   transformer_teacher train --data data/fortunes --out teacher.onnx [--steps S | --long] ...
//     trains the decoder-only transformer of transformer_model.h with LibTorch and writes it as
//     ONNX through edgepack's IR and save_onnx; the file is imported again and its held-out
//     perplexity is computed by edgepack's executor (core/evaluate), so the printed figure is
//     the ONNX file's.
//   transformer_teacher init --data data/fortunes --out student.onnx --width W --layers L ...
//     writes an untrained network of any size (a student for `edgepack distill --student`).
//
// Corpus (deterministic; see README.md): every regular file directly in the fortunes folder
// except *.dat / *.u8 (indexes), in name order; entries are separated by lines holding a single
// `%`. An entry goes to test when the FNV-1a hash of its text is 0 mod 10 (so the split does not
// depend on file order), else to train. Each split is its entries joined by a blank line, cut
// into non-overlapping windows of T + 1 characters: tokens = the first T, labels = the last T.
// Vocabulary (97 ids): 0 = unknown (tabs, non-ASCII bytes), 1 = newline, 2..96 = ASCII 32..126.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/dataset.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/executor.h"
#include "core/file_util.h"
#include "core/npy.h"
#include "core/onnx_import.h"
#include "core/onnx_export.h"
#include "samples/transformer/transformer_model.h"

using namespace edgepack;
using samples::Transformer;
using samples::TransformerConfig;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kVocab = 97;

int64_t token_of(unsigned char c) {
  if (c == '\n') return 1;
  if (c >= 32 && c <= 126) return c - 30;
  return 0;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Entries of one fortune file: the text between lines that hold a single `%`, without empty ones.
std::vector<std::string> entries_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line, cur;
  auto flush = [&] {
    if (cur.find_first_not_of(" \t\n") != std::string::npos) out.push_back(cur);
    cur.clear();
  };
  while (std::getline(in, line)) {
    if (line == "%") flush();
    else cur += line + "\n";
  }
  flush();
  return out;
}

// tokens / labels [N,T] from non-overlapping windows of T + 1 characters.
NamedArrays windows(const std::string& text, int64_t T) {
  const int64_t n = (static_cast<int64_t>(text.size()) - 1) / T;
  at::Tensor all = at::empty({static_cast<int64_t>(text.size())}, at::kLong);
  auto* p = all.data_ptr<int64_t>();
  for (size_t i = 0; i < text.size(); ++i) p[i] = token_of(static_cast<unsigned char>(text[i]));
  at::Tensor tokens = all.slice(0, 0, n * T).reshape({n, T}).clone();
  at::Tensor labels = all.slice(0, 1, n * T + 1).reshape({n, T}).clone();
  return {{"tokens", tokens}, {"labels", labels}};
}

int make_data(const std::string& fortunes, const std::string& out, int64_t T) {
  if (!fs::is_directory(fortunes)) throw InputError(fmt::format("'{}' is not a folder (apt-get install fortunes)", fortunes));
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fortunes)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && ext != ".dat" && ext != ".u8") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError(fmt::format("'{}' holds no fortune files", fortunes));
  std::string train, test;
  int64_t n_train = 0, n_test = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    for (const std::string& e : entries_of(ss.str())) {
      std::string& dst = fnv1a(e) % 10 == 0 ? (++n_test, test) : (++n_train, train);
      if (!dst.empty()) dst += "\n";
      dst += e;
    }
  }
  fs::create_directories(out);
  for (auto [name, text, count] : {std::tuple{"train", &train, n_train}, std::tuple{"test", &test, n_test}}) {
    NamedArrays arrays = windows(*text, T);
    write_npz(fmt::format("{}/{}.npz", out, name), arrays);
    fmt::print(stderr, "transformer_teacher: {}/{}.npz: {} entries, {} characters, {} windows of {}\n", out, name, count,
               text->size(), arrays[0].second.size(0), T);
  }
  std::string vocab = "# id<TAB>character (C escapes); 0 = unknown: tabs and non-ASCII bytes\n0\t<unk>\n1\t\\n\n";
  for (int c = 32; c <= 126; ++c) vocab += fmt::format("{}\t{}\n", c - 30, static_cast<char>(c));
  write_file_atomic(out + "/vocab.txt", vocab);
  fmt::print(stderr, "transformer_teacher: {} files from {}; vocabulary of {} in {}/vocab.txt\n", files.size(), fortunes,
             kVocab, out);
  return 0;
}

Dataset load_split(const std::string& path, int64_t limit) {
  if (!fs::exists(path))
    throw InputError(fmt::format("missing '{}'; make the data first with scripts/fetch-text.sh", path));
  Dataset d;
  d.source = path;
  for (auto& [name, array] : read_npz(path)) {
    if (name == "tokens") d.inputs["tokens"] = array;
    if (name == "labels") d.labels = array;
  }
  const at::Tensor& t = d.inputs["tokens"];
  if (!t.defined() || !d.labels.defined() || t.scalar_type() != at::kLong || t.dim() != 2 || d.labels.sizes() != t.sizes())
    throw InputError(fmt::format("'{}' must hold int64 `tokens` and `labels` of the same shape [N,T]", path));
  d.samples = limit > 0 ? std::min(limit, t.size(0)) : t.size(0);
  d.inputs["tokens"] = t.slice(0, 0, d.samples);
  d.labels = d.labels.slice(0, 0, d.samples);
  return d;
}

int64_t count_params(Transformer& net) {
  int64_t n = 0;
  for (const auto& p : net->parameters()) n += p.numel();
  return n;
}

Model to_model(Transformer& net, const std::string& doc) {
  Model m = samples::transformer_to_ir(net);
  m.producer_name = "edgepack transformer_teacher";
  m.producer_version = EDGEPACK_VERSION;
  m.doc_string = doc;
  const auto& c = net->cfg;
  m.metadata["config"] = fmt::format("vocab={} context={} width={} layers={} heads={} mlp={}", c.vocab, c.context,
                                     c.width, c.layers, c.heads, c.mlp);
  return m;
}

struct TrainArgs {
  std::string data, out;
  TransformerConfig cfg{kVocab};
  int64_t steps = 250, batch = 32, seed = 1, eval_windows = 512;
  double lr = 2e-3, max_perplexity = 0;
  bool long_schedule = false;
};

int train(TrainArgs a) {
  if (a.long_schedule) a.steps *= 10;
  Dataset train = load_split(a.data + "/train.npz", 0);
  Dataset test = load_split(a.data + "/test.npz", a.eval_windows);
  a.cfg.context = train.inputs.at("tokens").size(1);
  torch::manual_seed(a.seed);
  Transformer net(a.cfg);
  fmt::print(stderr, "transformer_teacher: {} train windows of {}, {} held out; {} params; {} steps of {}, seed {}, {} threads\n",
             train.samples, a.cfg.context, test.samples, count_params(net), a.steps, a.batch, a.seed,
             at::get_num_threads());

  // AdamW, weight decay on matrices only, linear warm-up then cosine to 10% of the peak.
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : net->parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(a.lr).betas({0.9, 0.99}).weight_decay(0.1)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(a.lr).betas({0.9, 0.99}).weight_decay(0)));
  torch::optim::AdamW opt(groups);
  const int64_t warmup = std::max<int64_t>(1, a.steps / 20);
  const at::Tensor& tokens = train.inputs.at("tokens");
  auto t0 = std::chrono::steady_clock::now();
  double loss_avg = 0;
  net->train();
  for (int64_t step = 0; step < a.steps; ++step) {
    const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, a.steps - warmup));
    const double lr = step < warmup ? a.lr * (step + 1) / warmup : a.lr * (0.1 + 0.45 * (1 + std::cos(M_PI * progress)));
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    auto idx = torch::randint(train.samples, {a.batch}, torch::kLong);
    auto logits = net->forward(tokens.index_select(0, idx));
    auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, a.cfg.vocab}),
                                                     train.labels.index_select(0, idx).reshape(-1));
    opt.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(net->parameters(), 1.0);
    opt.step();
    loss_avg = step == 0 ? loss.item<double>() : 0.95 * loss_avg + 0.05 * loss.item<double>();
    if ((step + 1) % 50 == 0 || step + 1 == a.steps)
      fmt::print(stderr, "step {:5}/{}: train loss {:.3f} (perplexity {:.2f}), lr {:.2e}, {:.0f} s\n", step + 1, a.steps,
                 loss_avg, std::exp(loss_avg), lr,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double train_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  net->eval();
  torch::Tensor torch_logits;
  {
    torch::NoGradGuard no_grad;
    torch_logits = net->forward(test.inputs.at("tokens").slice(0, 0, std::min<int64_t>(64, test.samples)));
  }

  Model model = to_model(net, "Character-level transformer LM trained with LibTorch on the Debian fortunes corpus");
  model.metadata["seed"] = std::to_string(a.seed);
  model.metadata["steps"] = std::to_string(a.steps);
  const std::string tmp = a.out + ".unchecked";
  save_onnx(model, tmp);
  // The file itself: imported again and run by edgepack's executor.
  Model imported = import_onnx(tmp);
  EvalOptions eval_options;
  eval_options.batch_size = 64;
  EvalResult r = evaluate(imported, test, eval_options);
  Executor exec(imported);
  const double max_diff = (exec.run({{"tokens", test.inputs.at("tokens").slice(0, 0, torch_logits.size(0))}}).at("logits") -
                           torch_logits).abs().max().item<double>();
  const double ppl = r.language_model->perplexity;
  fmt::print(stderr, "transformer_teacher: trained in {:.1f} s; held-out perplexity {:.3f} (cross-entropy {:.4f} nats, "
             "token accuracy {:.2f}%) on {} tokens, by edgepack's executor on the ONNX file; max |logit diff| vs "
             "LibTorch {:.2e}\n", train_secs, ppl, r.language_model->cross_entropy, 100 * *r.accuracy,
             r.language_model->tokens, max_diff);
  if (max_diff > 1e-3 || !std::isfinite(ppl)) {
    fs::remove(tmp);
    throw Error("the exported ONNX model disagrees with the trained LibTorch model; not writing it");
  }
  if (a.max_perplexity > 0 && ppl > a.max_perplexity) {
    fs::remove(tmp);
    throw Error(fmt::format("held-out perplexity {:.3f} is above --max-perplexity {:.3f}; not writing '{}'", ppl,
                            a.max_perplexity, a.out));
  }
  fs::rename(tmp, a.out);
  fmt::print(stderr, "transformer_teacher: wrote {}\n", a.out);
  return 0;
}

int init(const std::string& data, const std::string& out, TransformerConfig cfg, int64_t seed) {
  cfg.context = load_split(data + "/test.npz", 1).inputs.at("tokens").size(1);
  torch::manual_seed(seed);
  Transformer net(cfg);
  save_onnx(to_model(net, "Untrained character-level transformer (a student for edgepack distill --student)"), out);
  fmt::print(stderr, "transformer_teacher: wrote {} ({} params, untrained)\n", out, count_params(net));
  return 0;
}

void add_size_options(CLI::App* cmd, TransformerConfig& cfg) {
  cmd->add_option("--width", cfg.width, "model width C")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--layers", cfg.layers, "transformer blocks")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--heads", cfg.heads, "attention heads (must divide the width)")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--mlp", cfg.mlp, "MLP hidden width")->capture_default_str()->check(CLI::Range(1, 16384));
}

}  // namespace

int main(int argc, char** argv) {
  // Passive OpenMP waits: spinning threads starve each other on shared cores (see samples/mnist).
  if (!std::getenv("OMP_WAIT_POLICY")) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);
  }
  CLI::App app{"The transformer sample: corpus, training and untrained students (see samples/transformer/README.md)."};
  app.require_subcommand(1);
  int threads = 2;
  app.add_option("--threads", threads, "intra-op threads (fixed for determinism; 0 = all cores)")->capture_default_str();

  std::string fortunes = "/usr/share/games/fortunes", data_out = "data/fortunes";
  int64_t context = 64;
  CLI::App* data = app.add_subcommand("data", "Make train.npz / test.npz / vocab.txt from the fortunes files");
  data->add_option("--fortunes", fortunes, "folder of fortune files")->capture_default_str();
  data->add_option("--out", data_out, "output folder")->capture_default_str();
  data->add_option("--context", context, "characters per window (T)")->capture_default_str()->check(CLI::Range(2, 4096));

  TrainArgs targs;
  CLI::App* tr = app.add_subcommand("train", "Train the teacher and write it as ONNX");
  tr->add_option("--data", targs.data, "folder with train.npz and test.npz")->required();
  tr->add_option("--out", targs.out, "ONNX file to write")->required();
  add_size_options(tr, targs.cfg);
  tr->add_option("--steps", targs.steps, "optimizer steps")->capture_default_str()->check(CLI::Range(1, 10000000));
  tr->add_flag("--long", targs.long_schedule, "ten times the steps: the better-quality schedule");
  tr->add_option("--batch", targs.batch, "windows per step")->capture_default_str()->check(CLI::Range(1, 4096));
  tr->add_option("--lr", targs.lr, "peak learning rate")->capture_default_str();
  tr->add_option("--seed", targs.seed, "random seed (weights, batches)")->capture_default_str();
  tr->add_option("--eval-windows", targs.eval_windows, "held-out windows to measure perplexity on (0 = all)")
      ->capture_default_str();
  tr->add_option("--max-perplexity", targs.max_perplexity, "fail without writing when the held-out perplexity is above")
      ->capture_default_str();

  TransformerConfig icfg{kVocab};
  std::string idata, iout;
  int64_t iseed = 1;
  CLI::App* in = app.add_subcommand("init", "Write an untrained network of the given size");
  in->add_option("--data", idata, "folder with test.npz (for the window length)")->required();
  in->add_option("--out", iout, "ONNX file to write")->required();
  add_size_options(in, icfg);
  in->add_option("--seed", iseed, "random seed")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    set_threads(threads);
    if (*data) return make_data(fortunes, data_out, context);
    if (*tr) return train(targs);
    return init(idata, iout, icfg, iseed);
  } catch (const InputError& e) {
    fmt::print(stderr, "transformer_teacher: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "transformer_teacher: error: {}\n", e.what());
    return 1;
  }
}
