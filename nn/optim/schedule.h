// Learning-rate schedules: lr_at(schedule, step) for optimizer step 0, 1, 2, ...
//   constant       lr (after an optional linear warm-up)
//   cosine         linear warm-up over warmup_steps from lr/warmup_steps to lr, then cosine decay
//                  to min_lr at total_steps: min_lr + (lr - min_lr) (1 + cos(pi p)) / 2
//   linear         the same warm-up, then a straight line to min_lr at total_steps
//   one_cycle      PyTorch's OneCycleLR (cosine annealing, two phases): from lr/div_factor up to
//                  lr over the first pct_start of total_steps, then down to
//                  lr/(div_factor*final_div_factor)
#pragma once
#include <cstdint>
#include <string>

#include "core/enum_names.h"

namespace ttt::nn {

enum class ScheduleKind { constant, cosine, linear, one_cycle };

struct Schedule {
  ScheduleKind kind = ScheduleKind::constant;
  double lr = 1e-3;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double min_lr = 0.0;
  double pct_start = 0.3, div_factor = 25.0, final_div_factor = 1e4;
};

// Throws for inconsistent numbers (naming them).
void validate(const Schedule& s);
double lr_at(const Schedule& s, int64_t step);

}  // namespace ttt::nn

namespace ttt {
template <>
struct EnumNames<nn::ScheduleKind> {
  static constexpr const char* what = "schedule.kind";
  static constexpr std::pair<nn::ScheduleKind, const char*> names[] = {{nn::ScheduleKind::constant, "constant"},
                                                                       {nn::ScheduleKind::cosine, "cosine"},
                                                                       {nn::ScheduleKind::linear, "linear"},
                                                                       {nn::ScheduleKind::one_cycle, "one_cycle"}};
};
}  // namespace ttt
