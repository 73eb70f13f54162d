// edgepack report DIR [--json]: re-renders every report of a `compress` folder from its JSON
// alone: DIR/<target>/report.md and report.html from each DIR/<target>/manifest.json, and
// DIR/summary.md and summary.html from DIR/summary.json (docs/compress.md).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/output_lock.h"
#include "export/report.h"

namespace edgepack::cli {

namespace {

namespace fs = std::filesystem;

// A manifest of a 500 000-node model is tens of MB; past this it is not one of ours.
constexpr uint64_t kMaxJsonBytes = 512ull << 20;

struct ReportArgs {
  std::string dir;
  bool json = false;
};

nlohmann::json load_json(const fs::path& path, const std::string& what) {
  const std::string bytes = read_file(path.string(), what, kMaxJsonBytes);
  try {
    return nlohmann::json::parse(bytes);
  } catch (const nlohmann::json::exception& e) {
    // nlohmann prefixes "[json.exception.parse_error.101] "; the position and cause follow.
    std::string why = e.what();
    if (auto close = why.find("] "); why.rfind("[json.exception", 0) == 0 && close != std::string::npos)
      why = why.substr(close + 2);
    throw InputError(fmt::format("malformed JSON in '{}': {}", path.string(), why));
  }
}

// Renders with the file named in any refusal (a wrong schema says which file holds it).
template <typename F>
std::string render(F f, const nlohmann::json& doc, const fs::path& path) {
  try {
    return f(doc);
  } catch (const InputError& e) {
    throw InputError(fmt::format("'{}': {}", path.string(), e.what()));
  }
}

struct Output {
  fs::path path;
  std::string bytes;
};

int report(const ReportArgs& a, const Globals& globals) {
  const fs::path dir = a.dir;
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw InputError(fmt::format("no such folder '{}'", a.dir));
  if (!fs::is_directory(dir, ec)) throw InputError(fmt::format("'{}' is not a folder", a.dir));
  const fs::path summary_path = dir / "summary.json";
  if (!fs::is_regular_file(summary_path, ec))
    throw InputError(fmt::format("'{}' has no summary.json (not a folder written by edgepack compress)", a.dir));

  auto log = [&globals](const std::string& line) {
    if (!globals.quiet) fmt::print(stderr, "edgepack: {}\n", line);
  };
  // Serialised with other runs writing into the folder, like every artifact writer.
  OutputLock lock(dir.string(), lock_wait_seconds(), log);

  // Everything is read and rendered before anything is written: bad input in one manifest
  // leaves every report as it was, not half the folder re-rendered.
  std::vector<Output> outputs;
  const nlohmann::json summary = load_json(summary_path, "summary");
  outputs.push_back({dir / "summary.md", render(render_summary_markdown, summary, summary_path)});
  outputs.push_back({dir / "summary.html", render(render_summary_html, summary, summary_path)});

  // Target folders in name order; hidden ones (a compress run's temporaries) are not targets.
  std::vector<fs::path> targets;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || !e.is_directory(ec)) continue;
    if (fs::is_regular_file(e.path() / "manifest.json", ec)) targets.push_back(e.path());
  }
  std::sort(targets.begin(), targets.end());
  for (const fs::path& t : targets) {
    const fs::path manifest_path = t / "manifest.json";
    const nlohmann::json manifest = load_json(manifest_path, "manifest");
    outputs.push_back({t / "report.md", render(render_report_markdown, manifest, manifest_path)});
    outputs.push_back({t / "report.html", render(render_report_html, manifest, manifest_path)});
  }
  // A target the summary lists without its manifest: its report cannot be re-rendered.
  if (summary.is_object() && summary.contains("targets") && summary["targets"].is_array())
    for (const nlohmann::json& entry : summary["targets"]) {
      if (!entry.is_object() || !entry.contains("dir") || !entry["dir"].is_string()) continue;
      const std::string sub = entry["dir"].get<std::string>();
      if (!fs::is_regular_file(dir / sub / "manifest.json", ec))
        warn(globals, fmt::format("summary.json lists '{}' but '{}' is missing; its report was not re-rendered", sub,
                                  (dir / sub / "manifest.json").string()));
    }

  nlohmann::json written = nlohmann::json::array();
  for (const Output& o : outputs) {
    write_file_atomic(o.path.string(), o.bytes);
    written.push_back(o.path.string());
  }
  if (a.json) {
    fmt::print("{}\n", nlohmann::json{{"dir", a.dir}, {"targets", targets.size()}, {"written", written}}.dump(2));
  } else if (!globals.quiet) {
    for (const Output& o : outputs) fmt::print("wrote {}\n", o.path.string());
  }
  return 0;
}

}  // namespace

void add_report(CLI::App& app, Action& action, const Globals& globals) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Re-render report.md/report.html of every target and summary.md/summary.html of a compress folder from its JSON");
  cmd->add_option("dir", args->dir, "Folder written by edgepack compress (holds summary.json)")->required();
  cmd->add_flag("--json", args->json, "Print the files written as JSON");
  cmd->callback([&action, &globals, args] { action = [&globals, args] { return report(*args, globals); }; });
}

}  // namespace edgepack::cli
