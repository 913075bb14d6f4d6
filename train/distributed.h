// Several GPUs: data parallelism with one process per GPU (docs/training.md, "Several GPUs").
//   * who am I: rank, world size and local rank from the environment, in torchrun's convention
//     (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or Slurm's (SLURM_PROCID,
//     SLURM_NTASKS, SLURM_LOCALID, with MASTER_ADDR and MASTER_PORT); ttt-train's own launcher
//     (run.devices) sets torchrun's variables for the processes it starts;
//   * the rendezvous: rank 0 listens on MASTER_ADDR:MASTER_PORT and hands every other rank the
//     NCCL unique id (the only bytes that travel outside NCCL); NCCL does the rest.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace ttt {

struct DistributedEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  std::string source;  // "torchrun" or "slurm"; "" when this is the only process
  bool active() const { return world_size > 1; }
  std::string str() const;  // "rank 1 of 2 (local 1, torchrun, 127.0.0.1:29500)"
};

// Reads the variables through `get` (std::getenv by default); a partial or inconsistent set (a
// rank outside the world, RANK without WORLD_SIZE, a port that is not a number) is an error naming
// the variable.
using EnvReader = std::function<const char*(const char*)>;
DistributedEnv distributed_env(const EnvReader& get = {});

// The rendezvous over TCP: rank 0 accepts world_size - 1 connections on master_addr:master_port
// and sends each `payload`; every other rank connects (retrying until `timeout_s`) and returns
// what it received. Rank 0 returns `payload`. Errors (a port in use, a peer that never comes)
// name the address and the ranks still missing.
std::string rendezvous_broadcast(const DistributedEnv& env, const std::string& payload, double timeout_s = 120);

// A free TCP port on the loopback interface (for the launcher and the tests).
int free_local_port();

}  // namespace ttt
