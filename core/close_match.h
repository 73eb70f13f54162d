// "Did you mean": the known names closest to a mistyped one, for error messages (target ids,
// --exclude names, pass names). Case-insensitive Levenshtein distance; a name counts as close
// within max(2, a third of its length) edits, or when one contains the other.
#pragma once
#include <string>
#include <vector>

namespace edgepack {

// Up to `limit` of `known` closest to `word`, closest first; empty when none is close.
std::vector<std::string> close_matches(const std::string& word, const std::vector<std::string>& known, size_t limit = 3);

// " (did you mean 'a' or 'b'?)", or "" when nothing is close: appended to an error message.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& known);

std::string to_lower(std::string s);

}  // namespace edgepack
