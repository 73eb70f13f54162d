// edgepack: turns a large model into small, fast artifacts for edge devices.
#include <c10/util/Exception.h>
#include <google/protobuf/stubs/logging.h>

#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "compress/all_passes.h"
#include "cli/commands.h"
#include "core/close_match.h"
#include "core/error.h"
#include "core/executor.h"

namespace {

// LibTorch and protobuf may print their own diagnostics; ours are one line on stderr.
void silence_protobuf(google::protobuf::LogLevel, const char*, int, const std::string&) {}

int fail(int code, const std::string& message) {
  std::string line = message;
  if (auto nl = line.find('\n'); nl != std::string::npos) line.resize(nl);
  fmt::print(stderr, "edgepack: error: {}\n", line);
  return code;
}

// " (did you mean '--calib'?)" for each unknown --flag CLI11 names in `message`, among the
// flags of the subcommand being parsed and the global ones.
std::string unknown_flag_hints(CLI::App& app, const std::string& message) {
  std::vector<std::string> flags;
  std::vector<CLI::App*> scopes{&app};
  for (CLI::App* sub : app.get_subcommands()) scopes.push_back(sub);
  for (CLI::App* scope : scopes)
    for (const CLI::Option* o : scope->get_options())
      for (const std::string& name : o->get_lnames()) flags.push_back("--" + name);
  std::string hints;
  std::istringstream words(message);
  for (std::string word; words >> word;)
    if (word.rfind("--", 0) == 0) hints += edgepack::did_you_mean(word.substr(0, word.find('=')), flags);
  return hints;
}

}  // namespace

int main(int argc, char** argv) {
  edgepack::register_all_passes();
  google::protobuf::SetLogHandler(silence_protobuf);
  CLI::App app{"edgepack: turns a large trained model into small, fast artifacts for edge devices.\n"
               "Exit codes: 0 done, 1 runtime failure, 2 usage or bad input, 3 a gate not met.",
               "edgepack"};   // named: usage lines say "edgepack prune", not the path it was run by
  app.set_version_flag("--version", std::string("edgepack ") + EDGEPACK_VERSION);
  app.require_subcommand(1);
  app.fallthrough();   // --threads and -q also after the subcommand (subcommands inherit this)
  edgepack::cli::Globals globals;
  app.add_option("--threads", globals.threads, "Intra-op threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("-q,--quiet", globals.quiet, "Only errors on stderr");

  edgepack::cli::Action action;
  edgepack::cli::add_inspect(app, action, globals);
  edgepack::cli::add_run(app, action, globals);
  edgepack::cli::add_bench(app, action, globals);
  edgepack::cli::add_targets(app, action, globals);
  edgepack::cli::add_passes(app, action, globals);
  edgepack::cli::add_eval(app, action, globals);
  edgepack::cli::add_quantize(app, action, globals);
  edgepack::cli::add_prune(app, action, globals);
  edgepack::cli::add_distill(app, action, globals);
  edgepack::cli::add_compress(app, action, globals);
  edgepack::cli::add_report(app, action, globals);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError& e) {
    return fail(2, e.what() + unknown_flag_hints(app, e.what()));
  } catch (const CLI::ParseError& e) {
    return fail(2, e.what());
  }
  try {
    edgepack::set_threads(globals.threads);
    return action ? action() : 0;
  } catch (const edgepack::InputError& e) {
    return fail(2, e.what());
  } catch (const edgepack::Error& e) {
    return fail(1, e.what());
  } catch (const c10::Error& e) {
    return fail(1, e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return fail(1, "out of memory");
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
}
