#include "distill/forward.h"

#include <fmt/format.h>

#include "core/error.h"

namespace edgepack::distill {

std::vector<at::Tensor> run_values(Executor& executor, const std::map<std::string, at::Tensor>& feeds,
                                   const std::vector<std::string>& names) {
  std::map<std::string, at::Tensor> seen;
  for (const std::string& n : names) seen[n];
  executor.set_observer([&seen](const std::string& name, const at::Tensor& t) {
    auto it = seen.find(name);
    if (it != seen.end()) it->second = t;
  });
  try {
    executor.run(feeds);
  } catch (...) {
    executor.set_observer(nullptr);
    throw;
  }
  executor.set_observer(nullptr);
  std::vector<at::Tensor> out;
  for (const std::string& n : names) {
    if (!seen[n].defined()) throw InputError(fmt::format("the model has no value named '{}'", n));
    out.push_back(seen[n]);
  }
  return out;
}

}  // namespace edgepack::distill
