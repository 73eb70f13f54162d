// Debian's libtorch builds c10d with Gloo (the symbols are in libtorch_cpu.so), but its CMake
// config does not export USE_C10D_GLOO, and ProcessGroupGloo.hpp is empty without it.
#define USE_C10D_GLOO 1
#include "distill/data_parallel.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/error.h"

namespace edgepack::distill {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > 1 << 30) throw InputError(fmt::format("{}='{}' is not a non-negative integer", name, v));
  return static_cast<int>(x);
}

class Single : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(std::vector<at::Tensor>&) override {}
  void broadcast(std::vector<at::Tensor>&, int) override {}
  void barrier() override {}
};

class Gloo : public Communicator {
 public:
  explicit Gloo(const DistributedOptions& o) : rank_(o.rank), world_(o.world_size), timeout_(o.timeout) {
    run("rendezvous", [&] {
      c10d::TCPStoreOptions so;
      so.port = static_cast<uint16_t>(o.master_port);
      so.isServer = o.rank == 0;
      so.numWorkers = o.world_size;
      so.waitWorkers = false;
      so.timeout = o.timeout;
      store_ = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
      auto options = c10d::ProcessGroupGloo::Options::create();
      options->timeout = o.timeout;
      // The interface that routes to the master, so remote ranks reach this one the same way.
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(o.master_addr == "localhost" ? "127.0.0.1" : o.master_addr));
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, o.rank, o.world_size, options);
    });
  }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  void all_reduce_sum(std::vector<at::Tensor>& tensors) override {
    packed(tensors, [&](std::vector<at::Tensor>& one) { run("all-reduce", [&] { group_->allreduce(one)->wait(); }); });
  }
  void broadcast(std::vector<at::Tensor>& tensors, int root) override {
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    packed(tensors, [&](std::vector<at::Tensor>& one) { run("broadcast", [&] { group_->broadcast(one, bo)->wait(); }); });
  }
  void barrier() override {
    run("barrier", [&] { group_->barrier()->wait(); });
  }

 private:
  // c10d reads a tensor list as one tensor per device; ours are many tensors on the CPU, so they
  // travel as one flat buffer (one collective instead of many, too).
  template <typename F>
  static void packed(std::vector<at::Tensor>& tensors, F f) {
    if (tensors.empty()) return;
    if (tensors.size() == 1 && tensors[0].is_contiguous()) return f(tensors);
    std::vector<at::Tensor> flat;
    for (const at::Tensor& t : tensors) flat.push_back(t.reshape(-1).to(tensors[0].scalar_type()));
    std::vector<at::Tensor> buffer{at::cat(flat)};
    f(buffer);
    int64_t offset = 0;
    for (at::Tensor& t : tensors) {
      t.copy_(buffer[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
  template <typename F>
  void run(const char* what, F f) {
    try {
      f();
    } catch (const std::exception& e) {
      std::string msg = e.what();
      msg = msg.substr(0, msg.find('\n'));
      throw Error(fmt::format("data parallel: rank {} of {}: {} failed (a peer rank exited, or did not answer within "
                              "{} s): {}",
                              rank_, world_, what, timeout_.count() / 1000.0, msg));
    }
  }
  int rank_, world_;
  std::chrono::milliseconds timeout_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(fmt::format("socket: {}", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw Error(fmt::format("cannot find a free loopback port: {}", std::strerror(errno)));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string describe(int status) {
  if (WIFEXITED(status)) return fmt::format("exit code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return "unknown status";
}

}  // namespace

std::optional<DistributedOptions> distributed_from_env() {
  if (!std::getenv("WORLD_SIZE")) return std::nullopt;
  DistributedOptions o;
  o.world_size = env_int("WORLD_SIZE", 1);
  o.rank = env_int("RANK", 0);
  if (o.world_size < 1 || o.rank >= o.world_size)
    throw InputError(fmt::format("RANK={} must be below WORLD_SIZE={}", o.rank, o.world_size));
  if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr) o.master_addr = addr;
  o.master_port = env_int("MASTER_PORT", 29500);
  if (o.master_port == 0 || o.master_port > 65535) throw InputError(fmt::format("MASTER_PORT={} is not a port", o.master_port));
  o.timeout = std::chrono::seconds(env_int("EDGEPACK_DIST_TIMEOUT", 120));
  return o;
}

std::unique_ptr<Communicator> Communicator::single() { return std::make_unique<Single>(); }

std::unique_ptr<Communicator> Communicator::connect(const DistributedOptions& options) {
  if (options.world_size <= 1) return single();
  return std::make_unique<Gloo>(options);
}

void launch_local_ranks(int nproc, const std::vector<std::string>& argv, int port) {
  if (nproc < 1) throw InputError(fmt::format("--nproc must be at least 1, got {}", nproc));
  if (argv.empty()) throw InputError("launch_local_ranks: no program given");
  if (port == 0) port = free_loopback_port();
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<pid_t> pids;
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) throw Error(fmt::format("fork: {}", std::strerror(errno)));
    if (pid == 0) {
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::execv(args[0], args.data());
      std::fprintf(stderr, "edgepack: error: cannot start rank %d: %s\n", rank, std::strerror(errno));
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  // Polls our own children only (never waitpid(-1): the caller may have others).
  std::string failure;
  size_t running = pids.size();
  auto kill_at = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    for (size_t rank = 0; rank < pids.size(); ++rank) {
      int status = 0;
      if (pids[rank] <= 0 || ::waitpid(pids[rank], &status, WNOHANG) != pids[rank]) continue;
      pids[rank] = -1;
      --running;
      if (failure.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        failure = fmt::format("rank {} of {} failed ({})", rank, nproc, describe(status));
        for (pid_t p : pids)
          if (p > 0) ::kill(p, SIGTERM);
        kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      }
    }
    if (running > 0 && std::chrono::steady_clock::now() > kill_at) {
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGKILL);
      kill_at = std::chrono::steady_clock::time_point::max();
    }
    if (running > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!failure.empty()) throw Error(failure);
}

}  // namespace edgepack::distill
