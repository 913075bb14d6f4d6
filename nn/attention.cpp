#include "nn/attention.h"

#include <cmath>

#include "autograd/ops.h"
#include "core/compute.h"
#include "core/error.h"

namespace ttt::nn {

void KVCache::allocate(const Shape& one_half, DType dtype, Device device, bool zeroed) {
  Shape shape{2};
  shape.insert(shape.end(), one_half.begin(), one_half.end());
  kv = zeroed ? zeros(shape, dtype, device) : empty(shape, dtype, device);
  k = squeeze(slice(kv, 0, 0, 1), 0);
  v = squeeze(slice(kv, 0, 1, 2), 0);
}

MultiHeadAttention::MultiHeadAttention(int64_t width, int64_t heads_, int64_t context_, double theta, bool causal_,
                                       Generator& gen, Device device)
    : Module("MultiHeadAttention"), heads(heads_), context(context_), rope_theta(theta), causal(causal_) {
  TTT_CHECK(heads > 0 && width % heads == 0, "MultiHeadAttention", "width ", width, " is not divisible by heads ", heads);
  in_proj = register_module("in_proj", std::make_shared<Linear>(width, 3 * width, false, gen, device));
  out_proj = register_module("out_proj", std::make_shared<Linear>(width, width, false, gen, device));
}

Tensor MultiHeadAttention::forward(const Tensor& x) const {
  Scope scope(*this);
  TTT_CHECK(x.dim() == 3, "forward", "expected [B, S, C], got ", x.describe());
  const int64_t B = x.size(0), S = x.size(1), C = x.size(2), H = heads, d = C / H;
  // [B, S, 3C] -> three [B, H, S, d]: one split node, whose backward writes the three gradients
  // into one tensor (three slices would each fill a zero [3, B, H, S, d] and the engine add them)
  const std::vector<Tensor> qkv = unstack(permute(reshape(in_proj->forward(x), {B, S, 3, H, d}), {2, 0, 3, 1, 4}), 0);
  std::vector<double> steps(S);
  for (int64_t t = 0; t < S; ++t) steps[t] = static_cast<double>(t);
  Tensor positions = cached_constant(steps, {S}, DType::i64, x.device());
  Tensor q = rope(qkv[0], positions, rope_theta), k = rope(qkv[1], positions, rope_theta), v = qkv[2];
  // softmax(q k^T / sqrt(d)) v with query i blocked from the future (causal) and from keys at least
  // `context` steps away; causal products skip the blocks above the diagonal: [B, H, S, d]
  Tensor out = attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(d)), causal, context, 256, recompute_weights);
  return out_proj->forward(reshape(permute(out, {0, 2, 1, 3}), {B, S, C}));
}

Tensor MultiHeadAttention::step_add(Tensor residual, const Tensor& x, KVCache& cache, const Tensor& position) const {
  Scope scope(*this);
  TTT_CHECK(causal, "step", "a non-causal attention layer cannot stream (every position sees the future)");
  TTT_CHECK(x.dim() == 3 && x.size(1) == 1, "step", "expected one step [B, 1, C], got ", x.describe());
  const int64_t B = x.size(0), C = x.size(2), H = heads, d = C / H;
  const Tensor by_kind = permute(reshape(in_proj->forward(x), {B, 1, 3, H, d}), {2, 0, 3, 1, 4});  // [3, B, H, 1, d]
  const std::vector<Tensor> qk = unstack(rope(slice(by_kind, 0, 0, 2), position, rope_theta), 0);  // one kernel for both
  const Tensor &q = qk[0], &k = qk[1];
  if (!cache.kv.defined()) {
    TTT_CHECK(cache.slots > 0, "step", "the KV cache has no slots: start the stream with its length (HybridLM::start_stream)");
    cache.allocate({B, H, cache.slots, d}, k.dtype(), x.device(), true);
  }
  TTT_CHECK(cache.k.size(0) == B && cache.k.dtype() == k.dtype(), "step", "the KV cache ", cache.k.describe(),
            " was made for other steps than ", k.describe());
  compute::cache_write(cache.k, k, position);  // place position mod slots
  compute::cache_write(cache.v, squeeze(slice(by_kind, 0, 2, 3), 0), position);
  // softmax(q K^T / sqrt(d)) V over the places written (a window's last `context` steps): [B, H, 1, d]
  const Tensor out = compute::attention_decode(q, cache.k, cache.v, position, 1.0 / std::sqrt(static_cast<double>(d)));
  return out_proj->forward_add(std::move(residual), reshape(permute(out, {0, 2, 1, 3}), {B, 1, C}));
}

SwiGLU::SwiGLU(int64_t width, int64_t hidden_, Generator& gen, Device device) : Module("SwiGLU"), hidden(hidden_) {
  linear_in = register_module("linear_in", std::make_shared<Linear>(width, 2 * hidden, false, gen, device));
  linear_out = register_module("linear_out", std::make_shared<Linear>(hidden, width, false, gen, device));
}

Tensor SwiGLU::forward(const Tensor& x) const {
  Scope scope(*this);
  return linear_out->forward(swiglu(linear_in->forward(x)));  // silu(first half) * second half
}

Tensor SwiGLU::forward_add(Tensor residual, const Tensor& x) const {
  Scope scope(*this);
  return linear_out->forward_add(std::move(residual), swiglu(linear_in->forward(x)));
}

}  // namespace ttt::nn
