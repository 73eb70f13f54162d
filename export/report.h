// Human-readable reports rendered from the JSON artifacts of `compress` (docs/compress.md):
// report.md / report.html per target from manifest.json (schema edgepack.manifest/1), and
// summary.md / summary.html from summary.json (schema edgepack.summary/1).
//
// The renderers read nothing but the JSON, so `edgepack report DIR` can re-render a folder
// long after the run (or after a newer edgepack changed the layout). They are written for
// manifests that are partly unknown: a missing, null or wrongly typed field renders as "-"
// and never throws. The only refusal is a document of another schema (InputError naming the
// schema found), since rendering a summary as a manifest would silently show nothing.
//
// Every string taken from the JSON (layer names come from untrusted models) is escaped for
// its output: HTML-escaped in the HTML pages, Markdown-escaped (or put in code spans) in the
// Markdown. The HTML pages are self-contained: inline CSS and SVG, no scripts, no URLs.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <string>

namespace edgepack {

inline constexpr const char* kManifestSchema = "edgepack.manifest/1";
inline constexpr const char* kSummarySchema = "edgepack.summary/1";

// One target's report: verdict and failed gates, target envelope and budgets, the plan and
// its candidates, before/after, gates, passes, top layers by MACs and by bytes, provenance.
std::string render_report_markdown(const nlohmann::json& manifest);
// The same content as one HTML page, with SVG charts: latency/size/memory against the
// budgets and the target's RAM, per-layer MACs and bytes, accuracy before/after.
std::string render_report_html(const nlohmann::json& manifest);

// All targets side by side: pipeline, size, latency, memory vs RAM, accuracy, PASS/FAIL.
// A target entry may carry "budgets" (as in the manifest; else the summary's top-level
// "budgets" is used) for the chart's limit markers.
std::string render_summary_markdown(const nlohmann::json& summary);
// The same table as an HTML page, with an SVG chart of latency, size and memory per target
// against each target's budgets and RAM; each target links to its `DIR/report.html`.
std::string render_summary_html(const nlohmann::json& summary);

// Escapes for the outputs above (exposed for tests and for other writers of reports).
std::string html_escape(const std::string& text);
std::string markdown_escape(const std::string& text);

}  // namespace edgepack
