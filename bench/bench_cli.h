// What every bench program shares with the CLI: options declared with CLI11 (so --help teaches,
// and a bad value or an unknown flag is one line and exit 2) and failures as one line on stderr,
// never "terminate called after throwing".
#pragma once
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <exception>
#include <functional>

#include "core/error.h"

namespace edgepack::bench {

// Parses argv into the options `app` declares, then runs `body`. Exit codes: 0 after --help,
// 2 for a parse error or an InputError, 1 for any other failure, each said as
// "NAME: error: ..." on stderr.
inline int run_bench(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  const std::string name = app.get_name();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "{}: error: {}\n", name, e.what());
    return 2;
  }
  try {
    return body();
  } catch (const InputError& e) {
    fmt::print(stderr, "{}: error: {}\n", name, e.what());
    return 2;
  } catch (const c10::Error& e) {
    fmt::print(stderr, "{}: error: {}\n", name, e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: error: {}\n", name, e.what());
    return 1;
  }
}

}  // namespace edgepack::bench
