// Training checkpoints: one `.npz` per work folder, replaced atomically after every epoch, so a
// run killed at any moment (even SIGKILL during the write) leaves the last complete epoch.
// Members: "param/<name>" (trained tensors), "optim/<slot>" (optimizer state) and "meta" (UTF-8
// JSON as uint8: epoch, schedule step, RNG state, and a fingerprint of the run's settings).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "core/npy.h"

namespace edgepack::distill {

struct Checkpoint {
  int64_t epoch = 0;             // epochs completed
  int64_t step = 0;              // optimizer steps taken: the schedule position
  std::string rng_state;         // the shuffling engine, as std::mt19937_64 streams it
  nlohmann::json settings;       // what must match to resume (options, data digest, model)
  NamedArrays parameters;        // by initializer (or projection) name
  NamedArrays optimizer;         // Optimizer::state()
};

// <folder>/checkpoint.npz
std::string checkpoint_path(const std::string& folder);
// Creates the folder when needed; atomic replace.
void save_checkpoint(const std::string& folder, const Checkpoint& checkpoint);
// nullopt when the folder has no checkpoint; InputError when the file is unreadable.
std::optional<Checkpoint> load_checkpoint(const std::string& folder);

}  // namespace edgepack::distill
