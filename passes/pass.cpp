#include "passes/pass.h"

#include "core/close_match.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"

namespace edgepack {

bool Range::contains(double v) const {
  if (min && (min_open ? !(v > *min) : !(v >= *min))) return false;
  if (max && (max_open ? !(v < *max) : !(v <= *max))) return false;
  return true;
}

std::string Range::text() const {
  if (min && max) return fmt::format("{}{:g}, {:g}{}", min_open ? '(' : '[', *min, *max, max_open ? ')' : ']');
  if (min) return fmt::format("{} {:g}", min_open ? ">" : ">=", *min);
  if (max) return fmt::format("{} {:g}", max_open ? "<" : "<=", *max);
  return "";
}

const char* option_type_name(OptionSpec::Type type) {
  switch (type) {
    case OptionSpec::Type::Int: return "int";
    case OptionSpec::Type::Float: return "float";
    case OptionSpec::Type::Bool: return "bool";
    case OptionSpec::Type::String: return "string";
    case OptionSpec::Type::Choice: return "choice";
    case OptionSpec::Type::List: return "list";
  }
  return "?";
}

std::string option_value_error(const OptionSpec& spec, const std::string& v) {
  const std::string range = spec.range.empty() ? "" : " in " + spec.range.text();
  auto bad = [&](const std::string& what) { return fmt::format("needs {}{}, got '{}'", what, range, v); };
  double number = 0;
  try {
    size_t used = 0;
    switch (spec.type) {
      case OptionSpec::Type::Int:
        number = static_cast<double>(std::stoll(v, &used));
        if (used != v.size()) return bad("an integer");
        break;
      case OptionSpec::Type::Float:
        number = std::stod(v, &used);
        if (used != v.size() || !std::isfinite(number)) return bad("a number");
        break;
      case OptionSpec::Type::Bool:
        return v == "true" || v == "false" || v == "1" || v == "0" ? "" : bad("true or false");
      case OptionSpec::Type::Choice:
        return std::find(spec.choices.begin(), spec.choices.end(), v) != spec.choices.end()
                   ? ""
                   : bad(fmt::format("one of {}", fmt::join(spec.choices, "|"))) + did_you_mean(v, spec.choices);
      case OptionSpec::Type::String:
      case OptionSpec::Type::List: return "";
    }
  } catch (const std::exception&) {
    return bad(spec.type == OptionSpec::Type::Int ? "an integer" : "a number");
  }
  return spec.range.contains(number) ? "" : bad(spec.type == OptionSpec::Type::Int ? "an integer" : "a number");
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::stringstream ss(text);
  while (std::getline(ss, item, '+'))
    if (!item.empty()) out.push_back(item);
  return out;
}

void throw_unknown_option(const std::string& name) { throw Error(fmt::format("internal: option '{}' is not declared", name)); }

void throw_if_bad_value(const OptionSpec& spec, const std::string& value) {
  const std::string why = option_value_error(spec, value);
  if (!why.empty()) throw InputError(fmt::format("option '{}' {}", spec.name, why));
}

const OptionTable<NoSettings>& no_options() {
  static const OptionTable<NoSettings> none;
  return none;
}

namespace {

std::vector<PassInfo>& registry() {
  static std::vector<PassInfo> passes;
  return passes;
}

}  // namespace

void register_pass(PassInfo info) {
  for (const auto& p : registry())
    if (p.name == info.name) throw Error(fmt::format("internal: pass '{}' registered twice", info.name));
  registry().push_back(std::move(info));
}

const std::vector<PassInfo>& pass_registry() {
  if (registry().empty()) throw Error("internal: no passes registered (call register_all_passes() first)");
  return registry();
}

const PassInfo& find_pass(const std::string& name) {
  for (const auto& p : pass_registry())
    if (p.name == name) return p;
  std::vector<std::string> known;
  for (const auto& p : pass_registry()) known.push_back(p.name);
  throw InputError(fmt::format("unknown pass '{}' (known: {})", name, fmt::join(known, ", ")));
}

void check_exclude(const Model& model, const std::vector<std::string>& exclude) {
  std::set<std::string> known;
  for (const Node& n : model.graph.nodes) {
    if (!n.name.empty()) known.insert(n.name);
    known.insert(n.op_type);
  }
  for (const std::string& e : exclude)
    if (!known.count(e))
      throw InputError(fmt::format("exclude '{}' names no node and no op type of the model{}", e,
                                   did_you_mean(e, std::vector<std::string>(known.begin(), known.end()))));
}

}  // namespace edgepack
