#include "nn/optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace ttt::nn {

namespace {
constexpr double kPi = 3.141592653589793;

// PyTorch's _annealing_cos: from start (pct 0) to end (pct 1) along half a cosine.
double anneal_cos(double start, double end, double pct) { return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1.0); }
}  // namespace

void validate(const Schedule& s) {
  TTT_CHECK(s.lr > 0, "schedule", "lr must be positive, got ", s.lr);
  TTT_CHECK(s.warmup_steps >= 0 && s.total_steps >= 1, "schedule", "need warmup_steps >= 0 and total_steps >= 1");
  TTT_CHECK(s.kind == ScheduleKind::constant || s.kind == ScheduleKind::one_cycle || s.warmup_steps < s.total_steps, "schedule",
            "warmup_steps (", s.warmup_steps, ") must be below total_steps (", s.total_steps, ")");
  TTT_CHECK(s.kind != ScheduleKind::one_cycle || (s.pct_start > 0 && s.pct_start < 1 && s.total_steps >= 2), "schedule",
            "one_cycle needs 0 < pct_start < 1 and total_steps >= 2");
}

double lr_at(const Schedule& s, int64_t step) {
  if (s.kind == ScheduleKind::one_cycle) {
    const double initial = s.lr / s.div_factor, final_lr = initial / s.final_div_factor;
    const double up_end = s.pct_start * static_cast<double>(s.total_steps) - 1.0;
    const double down_end = static_cast<double>(s.total_steps) - 1.0;
    const double t = static_cast<double>(step);
    if (t <= up_end) return anneal_cos(initial, s.lr, up_end > 0 ? t / up_end : 1.0);
    return anneal_cos(s.lr, final_lr, std::min(1.0, (t - up_end) / (down_end - up_end)));
  }
  if (step < s.warmup_steps) return s.lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  if (s.kind == ScheduleKind::constant) return s.lr;
  const double span = static_cast<double>(s.total_steps - s.warmup_steps);
  const double p = std::clamp(static_cast<double>(step - s.warmup_steps) / span, 0.0, 1.0);
  if (s.kind == ScheduleKind::cosine) return s.min_lr + (s.lr - s.min_lr) * (1.0 + std::cos(kPi * p)) / 2.0;
  return s.lr + (s.min_lr - s.lr) * p;  // linear
}

}  // namespace ttt::nn
