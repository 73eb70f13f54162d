// Errors that cross the library boundary. The CLI maps them to `edgepack: error: ...` and an
// exit code: InputError (bad file, bad shape, bad option) -> 2, anything else -> 1.
#pragma once
#include <stdexcept>
#include <string>

namespace edgepack {

// A failure of the tool itself or of the computation (exit code 1).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The user gave us something we cannot use: a bad file, a wrong shape, an unknown option (exit 2).
class InputError : public Error {
 public:
  using Error::Error;
};

}  // namespace edgepack
