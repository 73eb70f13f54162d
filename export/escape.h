// Escaping for the report outputs. Every string taken from the JSON may come from an untrusted
// model (layer names, paths), so it goes into a page only through one of these: html_escape
// for the HTML pages, markdown_escape or a code span (md_code) for the Markdown.
//
// html_escape and markdown_escape are public (declared in export/report.h); this header adds
// the code span and the one-letter names the renderers use. Internal to export/.
#pragma once
#include <string>

#include "export/report.h"

namespace edgepack::report_detail {

// A string as an inline code span: long enough backtick fences for backticks inside, and `|`
// escaped where the span sits in a GFM table (which splits cells before parsing spans).
// "-" for an empty or unknown ("-") string.
std::string md_code(const std::string& s, bool in_table = true);

inline std::string h(const std::string& s) { return html_escape(s); }
inline std::string md(const std::string& s) { return markdown_escape(s); }

}  // namespace edgepack::report_detail
