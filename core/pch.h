// Precompiled header for the library, the CLI and the tests: the heavy third-party headers.
#pragma once
#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <string>
#include <vector>
