// The test binary's entry point: doctest's runner, after the passes are registered (as
// edgepack's own main does). A subprocess a test starts (tests/helpers.h:
// register_subprocess_entry) runs its entry point instead of the tests.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "compress/all_passes.h"
#include "tests/helpers.h"

int main(int argc, char** argv) {
  edgepack::register_all_passes();
  const int entry = edgepack::test::run_requested_subprocess_entry();
  if (entry >= 0) return entry;
  return doctest::Context(argc, argv).run();
}
