// Data parallel over PyTorch c10d: ProcessGroupGloo on CPU, rendezvous through a TCPStore
// served by rank 0. The same environment as torchrun (RANK, WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT) joins a job across machines; launch_local_ranks starts N ranks on loopback.
// c10d stays inside data_parallel.cpp: this header needs no torch distributed headers.
#pragma once
#include <ATen/core/Tensor.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edgepack::distill {

struct DistributedOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // Rendezvous and every collective: a peer that neither answers nor closes its connection
  // within this time fails the job (one that dies closes it, which fails at once).
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
};

// From RANK, WORLD_SIZE, MASTER_ADDR (default 127.0.0.1), MASTER_PORT (default 29500) and
// EDGEPACK_DIST_TIMEOUT (seconds); nullopt when WORLD_SIZE is unset. InputError on bad values.
std::optional<DistributedOptions> distributed_from_env();

// One rank's view of the group. World size 1 needs no network and every call is a no-op.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Sum over ranks, in place. A list travels as one buffer of the first tensor's dtype.
  // Error naming this rank when a peer died or timed out.
  virtual void all_reduce_sum(std::vector<at::Tensor>& tensors) = 0;
  // Rank `root`'s values into every rank's tensors, in place.
  virtual void broadcast(std::vector<at::Tensor>& tensors, int root) = 0;
  virtual void barrier() = 0;

  // Blocks until all ranks have joined (or the timeout passes: Error).
  static std::unique_ptr<Communicator> connect(const DistributedOptions& options);
  static std::unique_ptr<Communicator> single();
};

// Runs `argv` (argv[0] the program, "/proc/self/exe" for this binary) as `nproc` processes with
// RANK=0..nproc-1, LOCAL_RANK, WORLD_SIZE=nproc, MASTER_ADDR=127.0.0.1 and MASTER_PORT (a free
// loopback port when `port` is 0) added to the environment, and waits for them. When one fails
// the others are stopped (SIGTERM, then SIGKILL after 5 s) and Error names the first rank that
// failed and how. Returns when all exit 0.
void launch_local_ranks(int nproc, const std::vector<std::string>& argv, int port = 0);

}  // namespace edgepack::distill
