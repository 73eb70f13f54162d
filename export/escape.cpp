// HTML and Markdown escaping of untrusted strings (see escape.h and report.h). Control
// characters never reach a page: they become spaces (in HTML, line breaks and tabs stay).
#include "export/escape.h"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string_view>

#include "export/report_json.h"

namespace edgepack {

namespace {

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7F; }

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += is_control(c) && ch != '\n' && ch != '\t' ? ' ' : ch;
    }
  }
  return out;
}

// Backslash-escapes what Markdown would read as markup. `<` only before what could open an
// HTML tag and `&` only before what could spell an entity: a reason like "0.9 ms <= 33 ms"
// stays readable in a CI log. Line breaks become spaces (they would end a table row).
std::string markdown_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    const auto c = static_cast<unsigned char>(ch);
    const char next = i + 1 < s.size() ? s[i + 1] : '\0';
    const bool alpha_next = std::isalpha(static_cast<unsigned char>(next)) != 0;
    if (is_control(c)) {
      out += ' ';
    } else if (std::string_view("\\`*_[]|~").find(ch) != std::string_view::npos ||
               (ch == '<' && (alpha_next || next == '/' || next == '!' || next == '?')) ||
               (ch == '&' && (alpha_next || next == '#'))) {
      out += '\\';
      out += ch;
    } else {
      out += ch;
    }
  }
  return out;
}

namespace report_detail {

std::string md_code(const std::string& s, bool in_table) {
  if (s.empty() || s == kDash) return kDash;
  std::string body;
  size_t run = 0, longest = 0;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    run = ch == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
    if (is_control(c)) body += ' ';
    else if (ch == '|' && in_table) body += "\\|";
    else body += ch;
  }
  const std::string fence(longest + 1, '`');
  const bool pad = body.front() == '`' || body.back() == '`' || body.front() == ' ';
  return pad ? fence + " " + body + " " + fence : fence + body + fence;
}

}  // namespace report_detail

}  // namespace edgepack
