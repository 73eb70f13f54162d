// Tolerant JSON getters and the report's number spellings (see report_json.h).
#include "export/report_json.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace edgepack::report_detail {

const json* get(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::optional<double> num(const json& j, std::initializer_list<const char*> path) {
  const json* v = get(j, path);
  if (!v || !v->is_number()) return std::nullopt;
  const double d = v->get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

std::optional<bool> flag(const json& j, std::initializer_list<const char*> path) {
  const json* v = get(j, path);
  if (!v || !v->is_boolean()) return std::nullopt;
  return v->get<bool>();
}

// `replace` keeps a dump of bad UTF-8 from throwing.
std::optional<std::string> text(const json& j, std::initializer_list<const char*> path) {
  const json* v = get(j, path);
  if (!v) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number() || v->is_boolean()) return v->dump(-1, ' ', false, json::error_handler_t::replace);
  return std::nullopt;
}

const json& array_at(const json& j, std::initializer_list<const char*> path) {
  static const json empty = json::array();
  const json* v = get(j, path);
  return v && v->is_array() ? *v : empty;
}

std::string or_dash(const std::optional<std::string>& s) { return s && !s->empty() ? *s : kDash; }

void check_schema(const json& doc, const char* expected, const char* what) {
  std::optional<std::string> schema = text(doc, {"schema"});
  if (!schema)
    throw InputError(fmt::format("{} has no schema (expected {})", what, expected));
  if (*schema != expected) {
    std::string shown = schema->size() > 80 ? schema->substr(0, 80) + "..." : *schema;
    throw InputError(fmt::format("{} has schema '{}', expected {}", what, shown, expected));
  }
}

std::string percent(double fraction) { return fmt::format("{:.2f}%", 100 * fraction); }
std::string points(double p) { return fmt::format("{:+.2f} points", p); }

std::string opt(const std::optional<double>& v, Fmt f) { return v ? f(*v) : kDash; }

std::string ratio(const std::optional<double>& after, const std::optional<double>& before) {
  if (!after || !before || *before == 0) return kDash;
  const double r = *after / *before;
  return std::abs(r) >= 0.1 ? fmt::format("{:.2f}x", r) : fmt::format("{:.2g}x", r);
}

std::string of_ram(double used, double ram) {
  const double p = 100 * used / ram;
  if (p > 0 && p < 0.01) return "<0.01%";
  return p >= 10 ? fmt::format("{:.0f}%", p) : fmt::format("{:.2g}%", p);
}

std::string verdict_word(const std::optional<bool>& v) { return v ? (*v ? "PASS" : "FAIL") : kDash; }

}  // namespace edgepack::report_detail
