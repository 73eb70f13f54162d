// Target profiles: what an edge device offers a model (compute, memory bandwidth, RAM, power),
// with the source and confidence of every number so that an estimate can say how much to trust
// it. Built-in profiles come from shared/targets-reference.md; users add or override profiles
// with a JSON or YAML file (schema in docs/targets.md and at apply_target_file below).
//
// INT8 TOPS convention: `int8_tops` holds the headline figure of the reference table (the
// brief's figure where it gives one) and `int8_kind` says what that figure counts. Vendors do
// not count alike: NVIDIA quotes sparse INT8 (dense is half), Horizon quotes "equivalent" TOPS.
// The cost model needs a dense rate: dense_int8_tops() takes `int8_dense_tops` when the profile
// has one, else the headline, halved when it is sparse. jetson-agx-orin therefore holds 200
// (sparse, the brief) and 138 dense (the 64 GB module's 275 sparse / 2).
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <vector>

namespace edgepack {

// One number and where it comes from. `confidence` is one of kConfidenceLevels.
struct Figure {
  double value = 0;
  std::string source;
  std::string confidence;
};

// From firmest to weakest: the product brief (authoritative for this project), measured on
// the machine itself (the `host` target, core/host_profile.h), a vendor datasheet, a vendor
// press release, a third-party summary, derived from other figures, an estimate, or given by
// the user without a stated confidence.
inline const std::vector<std::string> kConfidenceLevels = {"brief", "measured", "datasheet", "press", "third-party",
                                                           "derived", "estimate", "user"};

// The brief's device classes: terminal < 8 TOPS and < 5 W; edge 5-30 TOPS and 4-15 W; cloud
// > 30 TOPS and > 50 W.
enum class DeviceClass { Terminal, Edge, Cloud };
enum class TopsKind { Dense, Sparse, Equivalent };

const char* to_string(DeviceClass c);
const char* to_string(TopsKind k);
// Classes overlap and some devices fit none exactly; a device is terminal or cloud only when it
// meets both bounds of that class, and edge otherwise. Built-ins set their class explicitly.
DeviceClass classify(double int8_tops, double power_w);

struct TargetProfile {
  std::string id;                        // lower-case, [a-z0-9._-]
  std::string name;
  DeviceClass device_class = DeviceClass::Edge;
  Figure int8_tops;
  TopsKind int8_kind = TopsKind::Dense;
  std::optional<Figure> int8_dense_tops; // only where the headline is not dense
  std::optional<Figure> fp16_tops;
  std::optional<Figure> fp32_tops;
  Figure bandwidth_gbps;                 // peak DRAM bandwidth, GB/s (1e9 bytes/s)
  Figure ram_mb;                         // MiB available to the model's board configuration
  Figure power_w;                        // the power envelope the TOPS figure needs
  // Fixed time the runtime spends on every node whatever its size (dispatch, allocation,
  // thread hand-off), microseconds. Measured for `host`; datasheets do not give it, so the
  // built-ins leave it out and the cost model then counts 0.
  std::optional<Figure> node_overhead_us;
  std::string accelerator;
  std::vector<std::string> precisions;   // e.g. int8, fp16, fp32
  std::string artifact_format;           // e.g. onnx-qdq
  std::string notes;

  // Dense INT8 TOPS for the cost model (see the convention above), with its figure's
  // confidence in `confidence` when given.
  double dense_int8_tops(std::string* confidence = nullptr) const;
  // The distinct confidences of INT8 TOPS, bandwidth, RAM and power, e.g. "brief / estimate".
  std::string confidence_summary() const;
};

// The 16 devices of targets-reference.md, in its order.
const std::vector<TargetProfile>& builtin_targets();

// Adds the profiles of a user file (.json, or .yaml/.yml) to `targets`, or overrides the
// profile of the same id. File schema:
//   targets:                       # list, required
//     - id: my-board               # required
//       name: My board             # required for a new profile
//       class: edge                # terminal | edge | cloud; default: classify(int8_tops, power_w)
//       int8_tops: 5               # required for a new profile
//       int8_kind: dense           # dense | sparse | equivalent; default dense
//       int8_dense_tops: 2.5       # optional; fp16_tops, fp32_tops, node_overhead_us likewise
//       bandwidth_gbps: 10         # required for a new profile
//       ram_mb: 2048               # required for a new profile
//       power_w: 5                 # required for a new profile
//       accelerator: "NPU"         # optional text; notes likewise
//       precisions: [int8, fp32]   # default [int8, fp32]
//       artifact_format: onnx-qdq  # default onnx-qdq
//       source: "vendor datasheet" # default source of this entry's figures; default "user file <path>"
//       confidence: datasheet      # default confidence of this entry's figures; default "user"
// A figure is a number, or {value, source, confidence} to set them for that figure alone.
// An override changes only the keys it gives. Unknown keys, missing required figures, wrong
// types and unknown enum values are InputErrors naming the file, the profile id and the key.
void apply_target_file(std::vector<TargetProfile>& targets, const std::string& path);

// Built-ins, then the user's configuration: each entry of $EDGEPACK_TARGETS (paths joined by ':';
// a folder stands for its *.json, *.yaml and *.yml files in name order), then `user_file` when
// not empty. Later files override earlier ones key by key.
std::vector<TargetProfile> load_targets(const std::string& user_file = "");
// The files $EDGEPACK_TARGETS names, expanded as above (InputError for an entry that does not
// exist); empty when it is unset.
std::vector<std::string> configured_target_files();

// InputError listing the known ids when `id` is not among `targets`.
const TargetProfile& find_target(const std::vector<TargetProfile>& targets, const std::string& id);
const TargetProfile& find_target(const std::string& id);  // among the built-ins

// In the user-file schema above (figures as {value, source, confidence}), so that
// {"targets": [profiles...]} reads back through apply_target_file.
void to_json(nlohmann::json& j, const Figure& f);
void to_json(nlohmann::json& j, const TargetProfile& p);

}  // namespace edgepack
