#include "ttt/config.h"

#include "core/error.h"

namespace ttt {

std::vector<int64_t> TTTConfig::inner_dims() const {
  const int64_t d = head_dim();
  if (variant == TTTVariant::linear) return {d, d};
  if (variant == TTTVariant::mlp) return {d, mlp_expansion * d, d};
  return mlp_dims;
}

void validate(const TTTConfig& c, const std::string& where) {
  std::vector<std::string> problems;
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) problems.push_back(what);
  };
  need(c.width > 0 && c.heads > 0, "width and heads must be positive");
  need(c.heads > 0 && c.width % c.heads == 0,
       "width " + std::to_string(c.width) + " is not divisible by heads " + std::to_string(c.heads));
  need(c.mini_batch_size >= 1, "mini_batch_size must be at least 1");
  need(c.ttt_base_lr >= 0, "ttt_base_lr must be >= 0");
  need(c.rope_theta > 0, "rope_theta must be positive");
  need(c.rope_positions == RopePositions::none || c.head_dim() % 2 == 0, "RoPE needs an even head dim");
  need(c.scan_checkpoint_group >= 0, "scan_checkpoint_group must be >= 0");
  need(c.use_kernel || c.scan_precision == MatmulPrecision::f32,
       std::string("scan_precision ") + enum_name(c.scan_precision) +
           " is the fused scan's (use_kernel: true); the composed scan's products follow run.matmul_precision");
  need(!c.use_kernel || c.scan_form == ScanForm::dual,
       "use_kernel computes the dual form; scan_form primal needs use_kernel: false");
  need(c.variant != TTTVariant::mlp || c.mlp_expansion >= 1, "mlp_expansion must be >= 1");
  if (c.variant == TTTVariant::multilayer) {
    const auto& dims = c.mlp_dims;
    need(dims.size() >= 2, "multilayer needs mlp_dims with at least two entries [d, ..., d]");
    if (dims.size() >= 2 && c.heads > 0 && c.width % c.heads == 0)
      need(dims.front() == c.head_dim() && dims.back() == c.head_dim(),
           "mlp_dims must start and end at the head dim " + std::to_string(c.head_dim()) + " (width " + std::to_string(c.width) +
               " / heads " + std::to_string(c.heads) + ")");
    for (int64_t v : dims) need(v > 0, "mlp_dims entries must be positive");
  } else {
    need(c.mlp_dims.empty(), "mlp_dims is only for the multilayer variant");
  }
  if (problems.empty()) return;
  std::string msg = std::to_string(problems.size()) + " problem(s):";
  for (const auto& p : problems) msg += "\n  " + p;
  fail(where, msg);
}

}  // namespace ttt
