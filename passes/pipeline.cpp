#include "passes/pipeline.h"

#include <fmt/format.h>

#include <cctype>
#include <chrono>
#include <optional>

#include "core/error.h"

namespace edgepack {

namespace {

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  Pipeline parse() {
    Pipeline p;
    skip_space();
    if (pos_ == s_.size()) fail("the pipeline is empty");
    while (true) {
      p.push_back(step());
      skip_space();
      if (pos_ == s_.size()) return p;
      expect(',');
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why, size_t at) const {
    throw InputError(fmt::format("pipeline column {}: {}", at + 1, why));
  }
  [[noreturn]] void fail(const std::string& why) const { fail(why, pos_); }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (pos_ >= s_.size() || s_[pos_] != c)
      fail(fmt::format("expected '{}' but found {}", c, pos_ >= s_.size() ? "the end" : fmt::format("'{}'", s_[pos_])));
    ++pos_;
  }
  std::string word(const char* what) {
    skip_space();
    size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-' || s_[pos_] == '_')) ++pos_;
    if (start == pos_) fail(fmt::format("expected {}", what));
    return s_.substr(start, pos_ - start);
  }
  std::string value() {
    skip_space();
    size_t start = pos_;
    while (pos_ < s_.size() && !std::isspace(static_cast<unsigned char>(s_[pos_])) && s_[pos_] != '}' && s_[pos_] != '{' &&
           s_[pos_] != '=')
      ++pos_;
    if (start == pos_) fail("expected an option value");
    return s_.substr(start, pos_ - start);
  }

  PipelineStep step() {
    skip_space();
    size_t name_at = pos_;
    PipelineStep st;
    st.pass = word("a pass name");
    const PassInfo* info = nullptr;
    try {
      info = &find_pass(st.pass);
    } catch (const InputError& e) {
      fail(e.what(), name_at);
    }
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == '{') {
      ++pos_;
      skip_space();
      while (pos_ < s_.size() && s_[pos_] != '}') {
        size_t key_at = pos_;
        std::string key = word("an option name");
        auto spec = std::find_if(info->options.begin(), info->options.end(), [&](const OptionSpec& o) { return o.name == key; });
        if (spec == info->options.end()) {
          std::vector<std::string> known;
          for (const auto& o : info->options) known.push_back(o.name);
          fail(fmt::format("pass '{}' has no option '{}' (options: {})", st.pass, key,
                           known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", "))), key_at);
        }
        expect('=');
        skip_space();
        size_t value_at = pos_;
        std::string v = value();
        const std::string why = option_value_error(*spec, v);
        if (!why.empty()) fail(fmt::format("option '{}' of pass '{}' {}", key, st.pass, why), value_at);
        if (!st.options.emplace(key, v).second) fail(fmt::format("option '{}' is given twice", key), key_at);
        skip_space();
      }
      expect('}');
    }
    return st;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

}  // namespace

Pipeline parse_pipeline(const std::string& text) { return Parser(text).parse(); }

std::string print_pipeline(const Pipeline& pipeline) {
  std::vector<std::string> steps;
  for (const auto& st : pipeline) {
    std::vector<std::string> opts;
    for (const OptionSpec& spec : find_pass(st.pass).options) {
      auto it = st.options.find(spec.name);
      if (it != st.options.end()) opts.push_back(fmt::format("{}={}", spec.name, it->second));
    }
    steps.push_back(opts.empty() ? st.pass : fmt::format("{}{{{}}}", st.pass, fmt::join(opts, " ")));
  }
  return fmt::format("{}", fmt::join(steps, ","));
}

Pipeline canonicalize(const Pipeline& pipeline) {
  Pipeline out;
  for (const PipelineStep& st : pipeline) {
    const std::vector<std::string>& runs_after = find_pass(st.pass).runs_after;
    bool satisfied = out.size() >= runs_after.size();
    for (size_t i = 0; satisfied && i < runs_after.size(); ++i) {
      const PipelineStep& before = out[out.size() - runs_after.size() + i];
      satisfied = before.pass == runs_after[i] && before.options.empty();
    }
    if (!satisfied)
      for (const std::string& r : runs_after) out.push_back(PipelineStep{r, {}});
    out.push_back(st);
  }
  return out;
}

nlohmann::json steps_json(const std::vector<StepReport>& steps) {
  nlohmann::json out = nlohmann::json::array();
  for (const StepReport& s : steps) {
    nlohmann::json j = {{"pass", s.pass}, {"canonical", s.canonical}, {"seconds", s.seconds}, {"stats", s.result.stats}};
    if (!s.result.details.empty()) j["details"] = s.result.details;
    out.push_back(std::move(j));
  }
  return out;
}

StepReport run_step(Model& model, const PipelineStep& step, PassContext& context) {
  const PassInfo& info = find_pass(step.pass);
  StepReport r;
  r.pass = step.pass;
  r.canonical = print_pipeline({step});
  if (context.log) context.log(fmt::format("running {}", r.canonical));
  auto t0 = std::chrono::steady_clock::now();
  try {
    r.result = info.run(model, step.options, context);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", step.pass, e.what()));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", step.pass, e.what()));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::vector<StepReport> run_pipeline(Model& model, const Pipeline& pipeline, PassContext& context) {
  const Pipeline steps = canonicalize(pipeline);
  // The input model, for the steps that read it (finetune's teacher), unless the caller set one.
  std::optional<Model> original;
  PassContext ctx = context;
  if (!ctx.original)
    for (const auto& st : steps)
      if (find_pass(st.pass).needs_original) {
        original = model;
        ctx.original = &*original;
        break;
      }
  std::vector<StepReport> reports;
  for (const auto& st : steps) reports.push_back(run_step(model, st, ctx));
  return reports;
}

}  // namespace edgepack
