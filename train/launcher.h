// run.devices: [a, b, ...] on one host: ttt-train starts one copy of itself per GPU, each with
// torchrun's variables (RANK = LOCAL_RANK = its index, WORLD_SIZE, MASTER_ADDR 127.0.0.1 and a
// free MASTER_PORT), and waits for them (train/distributed.h). Signals it receives go to every
// copy (they stop together after a step, rank 0 checkpoints); a copy that fails ends the others
// (SIGTERM, then SIGKILL after a grace period) and its exit code is the run's.
#pragma once
#include "train/trainer.h"

namespace ttt {

int launch_local_workers(const TrainConfig& config, const TrainOptions& options);

}  // namespace ttt
