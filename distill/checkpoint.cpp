#include "distill/checkpoint.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>

#include "core/error.h"

namespace edgepack::distill {
namespace {

const char* kParam = "param/";
const char* kOptim = "optim/";

bool take_prefix(const std::string& name, const char* prefix, std::string* rest) {
  const std::string p(prefix);
  if (name.compare(0, p.size(), p) != 0) return false;
  *rest = name.substr(p.size());
  return true;
}

}  // namespace

std::string checkpoint_path(const std::string& folder) { return (std::filesystem::path(folder) / "checkpoint.npz").string(); }

void save_checkpoint(const std::string& folder, const Checkpoint& c) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) throw Error(fmt::format("cannot create work folder '{}': {}", folder, ec.message()));
  nlohmann::json meta = {{"epoch", c.epoch}, {"step", c.step}, {"rng_state", c.rng_state}, {"settings", c.settings}};
  const std::string text = meta.dump();
  NamedArrays arrays;
  arrays.emplace_back("meta", at::from_blob(const_cast<char*>(text.data()), {static_cast<int64_t>(text.size())}, at::kByte).clone());
  for (const auto& [name, t] : c.parameters) arrays.emplace_back(kParam + name, t.detach().contiguous());
  for (const auto& [name, t] : c.optimizer) arrays.emplace_back(kOptim + name, t.detach().contiguous());
  write_npz(checkpoint_path(folder), arrays);
}

std::optional<Checkpoint> load_checkpoint(const std::string& folder) {
  const std::string path = checkpoint_path(folder);
  if (!std::filesystem::exists(path)) return std::nullopt;
  Checkpoint c;
  bool has_meta = false;
  for (auto& [name, t] : read_npz(path)) {
    std::string rest;
    if (name == "meta") {
      const at::Tensor bytes = t.contiguous();
      const auto meta = nlohmann::json::parse(std::string(static_cast<const char*>(bytes.data_ptr()), bytes.numel()),
                                              nullptr, /*allow_exceptions=*/false);
      if (meta.is_discarded() || !meta.contains("epoch"))
        throw InputError(fmt::format("checkpoint '{}' has unreadable metadata", path));
      c.epoch = meta.at("epoch").get<int64_t>();
      c.step = meta.at("step").get<int64_t>();
      c.rng_state = meta.at("rng_state").get<std::string>();
      c.settings = meta.at("settings");
      has_meta = true;
    } else if (take_prefix(name, kParam, &rest)) {
      c.parameters.emplace_back(rest, t);
    } else if (take_prefix(name, kOptim, &rest)) {
      c.optimizer.emplace_back(rest, t);
    }
  }
  if (!has_meta) throw InputError(fmt::format("checkpoint '{}' has no metadata", path));
  return c;
}

}  // namespace edgepack::distill
