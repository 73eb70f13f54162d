// Tolerant reading of the report JSON, and the number spellings every report page shares.
//
// The renderers of export/report.h take manifests and summaries that may be partly unknown
// (an older or newer edgepack, a hand-edited file), so a missing, null or wrongly typed field
// must render as "-" and never throw. The getters here are that contract: each answers
// "unknown" (nullptr / nullopt) instead of throwing, and none uses operator[] on a const json
// (undefined behaviour for a missing key). The formatters turn "unknown" into kDash. The one
// refusal, a document of another schema, is check_schema.
//
// Internal to export/ (namespace report_detail); the public API is export/report.h.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <initializer_list>
#include <optional>
#include <string>

namespace edgepack::report_detail {

using json = nlohmann::json;

inline constexpr double kMiB = 1024.0 * 1024.0;
// How every page spells a value it does not know.
inline constexpr const char* kDash = "-";

// ---------------------------------------------------------------------------------------------
// Getters: `path` is a chain of object keys, e.g. {"after", "ram_bytes"}.

const json* get(const json& j, std::initializer_list<const char*> path);
// A finite number, else unknown.
std::optional<double> num(const json& j, std::initializer_list<const char*> path);
std::optional<bool> flag(const json& j, std::initializer_list<const char*> path);
// Strings as they are; numbers and booleans in their JSON spelling (a version written as 1.0
// still shows); anything else is unknown.
std::optional<std::string> text(const json& j, std::initializer_list<const char*> path);
// The array at `path`, else an empty one.
const json& array_at(const json& j, std::initializer_list<const char*> path);
std::string or_dash(const std::optional<std::string>& s);

// Throws InputError unless doc["schema"] is `expected`; `what` names the document.
void check_schema(const json& doc, const char* expected, const char* what);

// ---------------------------------------------------------------------------------------------
// Numbers: core/human_format.h does the units, the same spellings as `edgepack inspect`; these
// are the report's own.

std::string percent(double fraction);  // 0.989 -> "98.90%"
std::string points(double p);          // "+0.05 points"

using Fmt = std::string (*)(double);
// f(*v), or "-" when unknown.
std::string opt(const std::optional<double>& v, Fmt f);
// after/before as "0.26x"; "-" when either is unknown or before is zero.
std::string ratio(const std::optional<double>& after, const std::optional<double>& before);
// A share of RAM: "0.012%", "45%", and "<0.01%" rather than a string of zeros.
std::string of_ram(double used, double ram);
// "PASS", "FAIL", or "-" when unknown.
std::string verdict_word(const std::optional<bool>& v);

}  // namespace edgepack::report_detail
