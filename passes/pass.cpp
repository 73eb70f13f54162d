#include "passes/pass.h"

#include <fmt/format.h>

#include <sstream>

#include "core/error.h"

namespace edgepack {

const char* option_type_name(OptionSpec::Type type) {
  switch (type) {
    case OptionSpec::Type::Int: return "int";
    case OptionSpec::Type::Float: return "float";
    case OptionSpec::Type::Bool: return "bool";
    case OptionSpec::Type::String: return "string";
    case OptionSpec::Type::Choice: return "choice";
  }
  return "?";
}

std::string PassOptions::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end()) return it->second;
  if (specs_)
    for (const auto& s : *specs_)
      if (s.name == name) return s.default_value;
  throw Error(fmt::format("internal: option '{}' is not declared", name));
}

int64_t PassOptions::get_int(const std::string& name) const { return std::stoll(get(name)); }
double PassOptions::get_float(const std::string& name) const { return std::stod(get(name)); }
bool PassOptions::get_bool(const std::string& name) const {
  std::string v = get(name);
  return v == "true" || v == "1";
}

std::vector<std::string> PassOptions::get_list(const std::string& name) const {
  std::vector<std::string> out;
  std::string item;
  std::stringstream ss(get(name));
  while (std::getline(ss, item, '+'))
    if (!item.empty()) out.push_back(item);
  return out;
}

const PassInfo& find_pass(const std::string& name) {
  for (const auto& p : pass_registry())
    if (p.name == name) return p;
  std::vector<std::string> known;
  for (const auto& p : pass_registry()) known.push_back(p.name);
  throw InputError(fmt::format("unknown pass '{}' (known: {})", name, fmt::join(known, ", ")));
}

}  // namespace edgepack
