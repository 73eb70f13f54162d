// The HTML frame, its CSS, and the table / badge / card markup (see html_page.h). A restrained
// style, readable printed too; the CSS classes of svg_chart.cpp are styled here as well.
#include "export/html_page.h"

#include <fmt/format.h>

#include <cstddef>

#include "export/escape.h"
#include "export/report_json.h"

namespace edgepack::report_detail {

namespace {

const char* const kCss = R"(
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--pass:#1a7f37;--fail:#cf222e;--accent:#2f6fdf}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:#fff;font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:1000px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:17px;margin:32px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:18px 0 8px}
p{margin:8px 0}
.sub{color:var(--muted);margin:0 0 16px}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--soft);padding:1px 5px;border-radius:4px;word-break:break-all}
table{border-collapse:collapse;width:100%;margin:8px 0 4px;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);font-weight:600;font-size:13px}
td.num,th.num{text-align:right;white-space:nowrap}
tr.chosen td{background:#eef4ff}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;letter-spacing:.3px;color:#fff}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}.badge.unknown{background:var(--muted)}
.tag{display:inline-block;margin-left:6px;padding:0 6px;border-radius:8px;font-size:11px;background:var(--accent);color:#fff}
.verdict{padding:12px 16px;border-radius:8px;margin:12px 0 20px;font-size:15px;border:1px solid}
.verdict.pass{background:#e9f6ec;border-color:#9bd3a9;color:#11532a}
.verdict.fail{background:#fdecee;border-color:#f2a7ae;color:#8c1520}
.verdict.unknown{background:var(--soft);border-color:var(--line)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:12px;margin:8px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.4px}
.card .v{font-size:18px;font-weight:600;margin-top:2px}
.card .d{color:var(--muted);font-size:12.5px}
.note{color:var(--muted);font-size:13px}
figure.chart{margin:10px 0 14px}
figure.chart figcaption{font-weight:600;font-size:13px;margin-bottom:2px}
svg text{font-family:inherit;font-size:12px;fill:var(--fg)}
svg text.value{fill:var(--muted);font-variant-numeric:tabular-nums}
svg text.tick,svg text.axis,svg text.legend{fill:var(--muted);font-size:11px}
svg text.mlabel{fill:var(--fail);font-size:11px}
svg line.grid{stroke:#eaeef2}
svg line.base{stroke:#8c959f}
svg line.limit{stroke:var(--fail);stroke-width:2;stroke-dasharray:4 3}
.two{display:grid;grid-template-columns:1fr 1fr;gap:20px}
@media (max-width:800px){.two{grid-template-columns:1fr}}
footer{margin-top:36px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:10px}
@media print{main{max-width:none;padding:0}h2{break-after:avoid}figure,table{break-inside:avoid}}
)";

}  // namespace

std::string html_page(const std::string& title, const std::string& body) {
  return fmt::format(R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{}</title>
<style>{}</style>
</head>
<body>
<main>
{}
</main>
</body>
</html>
)",
                     h(title), kCss, body);
}

std::string html_table(const std::vector<Cell>& header, const std::vector<std::vector<Cell>>& rows,
                       const std::vector<std::string>& row_classes) {
  std::string out = "<table><thead><tr>";
  for (const Cell& c : header) out += c.num ? "<th class=\"num\">" + c.html + "</th>" : "<th>" + c.html + "</th>";
  out += "</tr></thead><tbody>\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string cls = i < row_classes.size() && !row_classes[i].empty() ? " class=\"" + row_classes[i] + "\"" : "";
    out += "<tr" + cls + ">";
    for (const Cell& c : rows[i]) out += c.num ? "<td class=\"num\">" + c.html + "</td>" : "<td>" + c.html + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n";
}

Cell t(const std::string& raw, bool num) { return {h(raw), num}; }
Cell code(const std::string& raw) { return {raw.empty() || raw == kDash ? kDash : "<code>" + h(raw) + "</code>", false}; }

std::string badge(const std::optional<bool>& v) {
  if (!v) return R"(<span class="badge unknown">-</span>)";
  return *v ? R"(<span class="badge pass">PASS</span>)" : R"(<span class="badge fail">FAIL</span>)";
}

std::string verdict_class(const std::optional<bool>& v) { return v ? (*v ? "pass" : "fail") : "unknown"; }

std::string card(const std::string& key, const std::string& value, const std::string& detail) {
  return fmt::format(R"(<div class="card"><div class="k">{}</div><div class="v">{}</div><div class="d">{}</div></div>)", h(key),
                     h(value), h(detail));
}

}  // namespace edgepack::report_detail
