// One forward run that returns chosen values by name: graph outputs or any intermediate value
// (feature matching reads hidden layers of both the student and the teacher).
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "core/executor.h"

namespace edgepack::distill {

// The executor's observer is replaced for the run. InputError naming a value that the run
// never produced.
std::vector<at::Tensor> run_values(Executor& executor, const std::map<std::string, at::Tensor>& feeds,
                                   const std::vector<std::string>& names);

}  // namespace edgepack::distill
