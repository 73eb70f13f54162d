// A compress recipe: a YAML mapping with the settings of a CompressRequest, so a run is one file
// under version control (docs/compress.md). Keys: pipeline, data, eval_data, targets (a list or
// one id), out, target_file, budgets {max_latency_ms, max_size_mb, max_memory_mb,
// max_accuracy_drop, min_sqnr_db}, calib_samples, epochs, allow_unrecovered, host_repeat.
#pragma once
#include <string>

#include "compress/compress.h"

namespace edgepack {

// The request a recipe describes (defaults where it is silent; no model: the command line names
// it). A command line lays its given flags over this, so flags win. InputError naming the recipe
// for an unreadable file, a non-mapping, an unknown key or a value of the wrong type.
CompressRequest read_recipe(const std::string& path);

}  // namespace edgepack
