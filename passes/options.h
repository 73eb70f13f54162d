// Pass options, declared once. A pass binds each option to a field of its typed settings struct
// (name, type, range, help); the default is the field's initializer in the struct, so there is
// one place for it. The declaration feeds everything that knows about options:
//   - `edgepack passes` and the docs (OptionSpec: name, type, default, range, choices, help);
//   - the pipeline parser, which checks each value and reports the column of a bad one;
//   - the CLI (`--<name>` flags, cli/common.cpp), which names the flag of a bad one;
//   - OptionTable<S>::parse, which turns the explicit values of a pipeline step into an S.
// And back: OptionTable<S>::to_step gives the options of an S that differ from the defaults, so a
// pass that calls another through its typed function can still print the canonical pipeline.
#pragma once
#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace edgepack {

// A closed or half-open numeric interval; an unset end is unbounded.
struct Range {
  std::optional<double> min, max;
  bool min_open = false, max_open = false;
  static Range at_least(double lo) { return {lo, std::nullopt, false, false}; }
  static Range above(double lo) { return {lo, std::nullopt, true, false}; }
  static Range closed(double lo, double hi) { return {lo, hi, false, false}; }
  static Range left_open(double lo, double hi) { return {lo, hi, true, false}; }    // (lo, hi]
  static Range right_open(double lo, double hi) { return {lo, hi, false, true}; }   // [lo, hi)
  bool empty() const { return !min && !max; }
  bool contains(double v) const;
  std::string text() const;   // "[0, 1)", ">= 1", "> 0"
};

struct OptionSpec {
  enum class Type { Int, Float, Bool, String, Choice, List };
  std::string name;                    // kebab-case
  Type type = Type::String;
  std::string default_value;           // as written in a pipeline
  std::string help;
  std::vector<std::string> choices;    // Type::Choice only
  Range range;                         // Type::Int and Type::Float only
};

const char* option_type_name(OptionSpec::Type type);

// Empty when `value` is a valid text for `spec`, else why not, e.g. "needs a float in (0, 1],
// got '2'". The caller says where (pipeline column, CLI flag).
std::string option_value_error(const OptionSpec& spec, const std::string& value);

// '+'-separated items (e.g. exclude=conv1+Gemm; ',' separates passes in a pipeline).
std::vector<std::string> split_list(const std::string& text);

// Shared by every OptionTable: an internal Error for an undeclared name; InputError "option 'x'
// needs ..." for a bad value.
[[noreturn]] void throw_unknown_option(const std::string& name);
void throw_if_bad_value(const OptionSpec& spec, const std::string& value);

// The options of one pass, each bound to a field of S. Default values come from S{}.
template <class S>
class OptionTable {
 public:
  OptionTable& integer(std::string name, int64_t S::*field, std::string help, Range range = {}) {
    return bind(
        {std::move(name), OptionSpec::Type::Int, std::to_string(defaults_.*field), std::move(help), {}, range},
        [field](S& s, const std::string& v) { s.*field = std::stoll(v); },
        [field](const S& s) { return std::to_string(s.*field); });
  }
  OptionTable& real(std::string name, double S::*field, std::string help, Range range = {}) {
    return bind(
        {std::move(name), OptionSpec::Type::Float, fmt::format("{}", defaults_.*field), std::move(help), {}, range},
        [field](S& s, const std::string& v) { s.*field = std::stod(v); },
        [field](const S& s) { return fmt::format("{}", s.*field); });
  }
  // An optional number: unset by default (no default is shown), set by any value in `range`.
  OptionTable& optional_real(std::string name, std::optional<double> S::*field, std::string help, Range range = {}) {
    return bind(
        {std::move(name), OptionSpec::Type::Float, "", std::move(help), {}, range},
        [field](S& s, const std::string& v) { s.*field = std::stod(v); },
        [field](const S& s) { return s.*field ? fmt::format("{}", *(s.*field)) : std::string(); });
  }
  OptionTable& flag(std::string name, bool S::*field, std::string help) {
    return bind(
        {std::move(name), OptionSpec::Type::Bool, defaults_.*field ? "true" : "false", std::move(help), {}, {}},
        [field](S& s, const std::string& v) { s.*field = v == "true" || v == "1"; },
        [field](const S& s) { return std::string(s.*field ? "true" : "false"); });
  }
  OptionTable& text(std::string name, std::string S::*field, std::string help) {
    return bind({std::move(name), OptionSpec::Type::String, defaults_.*field, std::move(help), {}, {}},
                [field](S& s, const std::string& v) { s.*field = v; }, [field](const S& s) { return s.*field; });
  }
  OptionTable& choice(std::string name, std::string S::*field, std::vector<std::string> choices, std::string help) {
    return bind({std::move(name), OptionSpec::Type::Choice, defaults_.*field, std::move(help), std::move(choices), {}},
                [field](S& s, const std::string& v) { s.*field = v; }, [field](const S& s) { return s.*field; });
  }
  OptionTable& list(std::string name, std::vector<std::string> S::*field, std::string help) {
    return bind({std::move(name), OptionSpec::Type::List, fmt::format("{}", fmt::join(defaults_.*field, "+")), std::move(help), {}, {}},
                [field](S& s, const std::string& v) { s.*field = split_list(v); },
                [field](const S& s) { return fmt::format("{}", fmt::join(s.*field, "+")); });
  }

  const std::vector<OptionSpec>& specs() const { return specs_; }

  // Defaults overlaid with `values` (option name -> text). Each value is checked against its
  // declaration: InputError "option 'ratio' needs ...". Names must be declared.
  S parse(const std::map<std::string, std::string>& values) const {
    S s = defaults_;
    for (const auto& [name, value] : values) {
      const size_t i = index_of(name);
      throw_if_bad_value(specs_[i], value);
      set_[i](s, value);
    }
    return s;
  }
  // The options of `s` that differ from the defaults, as a pipeline step writes them.
  std::map<std::string, std::string> to_step(const S& s) const {
    std::map<std::string, std::string> out;
    for (size_t i = 0; i < specs_.size(); ++i) {
      const std::string v = get_[i](s);
      if (v != get_[i](defaults_)) out[specs_[i].name] = v;
    }
    return out;
  }

 private:
  OptionTable& bind(OptionSpec spec, std::function<void(S&, const std::string&)> set, std::function<std::string(const S&)> get) {
    specs_.push_back(std::move(spec));
    set_.push_back(std::move(set));
    get_.push_back(std::move(get));
    return *this;
  }
  size_t index_of(const std::string& name) const {
    for (size_t i = 0; i < specs_.size(); ++i)
      if (specs_[i].name == name) return i;
    throw_unknown_option(name);
  }

  S defaults_{};
  std::vector<OptionSpec> specs_;
  std::vector<std::function<void(S&, const std::string&)>> set_;
  std::vector<std::function<std::string(const S&)>> get_;
};

}  // namespace edgepack
