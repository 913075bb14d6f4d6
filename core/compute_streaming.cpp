// compute's ops for streaming generation (core/compute.h): index arithmetic on the device, the KV
// cache's ring, one query against it, the fused TTT step, and sampling. Each reads its position or
// draw counter from device memory, so a CUDA graph can replay a generated step.
#include <algorithm>

#include "core/compute.h"
#include "core/compute_internal.h"
#include "core/kernel_args.h"

namespace ttt::compute {

using namespace detail;

namespace {
void check_position(const char* op, const Tensor& position, const Tensor& like) {
  check_index(op, position, like);
  TTT_CHECK(position.numel() == 1, op, "the position must hold one index, got ", position.describe());
}
}  // namespace

Tensor index_step(const Tensor& x, int64_t add, int64_t modulus) {
  check_defined("index_step", x, "input");
  TTT_CHECK(x.dtype() == DType::i64 && modulus >= 0, "index_step", "expected i64 indices and a modulus >= 0, got ", x.describe(),
            " and ", modulus);
  Tensor out = empty(x.shape(), DType::i64, x.device());
  if (!skip_kernel(out)) TTT_RUN_KERNEL(x, index_step, x, add, modulus, out);
  return out;
}

void cache_write(const Tensor& cache, const Tensor& rows, const Tensor& position) {
  check_same("cache_write", cache, rows);
  check_position("cache_write", position, cache);
  TTT_CHECK(cache.dim() >= 2 && rows.dim() == cache.dim() && rows.size(-2) == 1 && rows.size(-1) == cache.size(-1) &&
                rows.numel() * cache.size(-2) == cache.numel(),
            "cache_write", "expected rows [..., 1, d] for cache [..., slots, d], got ", rows.describe(), " for ",
            cache.describe());
  if (!skip_kernel(cache)) TTT_RUN_KERNEL(cache, cache_write, cache, rows, position);
}

Tensor attention_decode(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& position, double scale) {
  check_same("attention_decode", q, k);
  check_same("attention_decode", k, v);
  check_float("attention_decode", q);
  check_position("attention_decode", position, q);
  const int64_t d = q.size(-1);
  TTT_CHECK(q.dim() >= 2 && q.size(-2) == 1 && k.shape() == v.shape() && k.dim() == q.dim() && k.size(-1) == d &&
                q.numel() * k.size(-2) == k.numel() && d <= 256,
            "attention_decode", "expected q [..., 1, d <= 256] and k, v [..., slots, d], got ", q.describe(), ", ", k.describe(),
            ", ", v.describe());
  Tensor out = empty(q.shape(), q.dtype(), q.device());
  if (skip_kernel(out)) return out;
  const int64_t n = q.numel() / d, slots = k.size(-2);
  TTT_RUN_KERNEL(q, attention_decode, view_shape(q, {n, 1, d}), view_shape(k, {n, slots, d}), view_shape(v, {n, slots, d}),
                 position, scale, view_shape(out, {n, 1, d}));
  return out;
}

void ttt_stream_step(const TttStepArgs& a) {
  const char* op = "ttt_stream_step";
  check_float(op, a.xq);
  for (const Tensor* t : {&a.xk, &a.target, &a.eta, &a.positional, &a.ln_weight, &a.ln_bias, &a.out}) check_same(op, a.xq, *t);
  check_position(op, a.position, a.xq);
  const size_t L = a.w0.size();
  TTT_CHECK(L >= 1 && L <= kMaxTttStepLayers && a.b0.size() == L && a.xs.size() == L && a.ds.size() == L, op, "expected 1 to ",
            kMaxTttStepLayers, " inner layers with weights, biases and rows each, got ", L);
  const int64_t n = a.xq.size(0), d = a.xq.size(-1), b = a.positional.numel();
  TTT_CHECK(a.xq.dim() == 2 && a.xk.shape() == a.xq.shape() && a.target.shape() == a.xq.shape() &&
                a.out.shape() == a.xq.shape() && a.eta.numel() == n && a.ln_weight.dim() == 2 && a.ln_weight.size(1) == d &&
                n % a.ln_weight.size(0) == 0 && a.ln_bias.shape() == a.ln_weight.shape() && b >= 1,
            op, "expected xq, xk, target, out [n, d], eta [n], ln weight and bias [H, d], got ", a.xq.describe(), ", ",
            a.xk.describe(), ", ", a.target.describe(), ", ", a.out.describe(), ", ", a.eta.describe(), ", ",
            a.ln_weight.describe());
  int64_t width = d;
  for (size_t l = 0; l < L; ++l) {
    for (const Tensor* t : {&a.w0[l], &a.b0[l], &a.xs[l], &a.ds[l]}) check_same(op, a.xq, *t);
    const int64_t p = a.w0[l].size(-2), q = a.w0[l].size(-1);
    TTT_CHECK(p == width && a.w0[l].numel() == n * p * q && a.b0[l].numel() == n * q && a.xs[l].numel() == n * b * p &&
                  a.ds[l].numel() == n * b * q && q <= kMaxTttStepWidth,
              op, "inner layer ", l, ": expected weights [n, ", width, ", q <= ", kMaxTttStepWidth, "], biases [n, q], rows [n, ",
              b, ", ", width, "] and [n, ", b, ", q], got ", a.w0[l].describe(), ", ", a.b0[l].describe(), ", ",
              a.xs[l].describe(), ", ", a.ds[l].describe());
    width = q;
  }
  TTT_CHECK(width == d && d <= kMaxTttStepWidth, op, "the inner model must map width ", d, " back to it, got ", width);
  if (!skip_kernel(a.out)) TTT_RUN_KERNEL(a.xq, ttt_stream_step, a);
}

Tensor sample_tokens(const Tensor& logits, const Tensor& counter, const SampleArgs& args, Tensor out) {
  check_float("sample_tokens", logits);
  TTT_CHECK(logits.dim() == 2 && logits.size(1) > 0, "sample_tokens", "expected logits [B, V], got ", logits.describe());
  TTT_CHECK(counter.dtype() == DType::i64 && counter.numel() == 1 && counter.device() == logits.device(), "sample_tokens",
            "the draw counter must be i64 [1] on ", logits.device().str(), ", got ", counter.describe());
  TTT_CHECK(args.greedy || args.temperature > 0, "sample_tokens", "temperature must be > 0 (or greedy), got ", args.temperature);
  TTT_CHECK(args.top_k >= 0 && args.top_p > 0 && args.top_p <= 1, "sample_tokens", "top_k must be >= 0 and top_p in (0, 1], got ",
            args.top_k, " and ", args.top_p);
  if (out.defined())
    TTT_CHECK(out.dtype() == DType::i64 && out.shape() == Shape{logits.size(0)} && out.device() == logits.device(),
              "sample_tokens", "the ids go into i64 [", logits.size(0), "] on ", logits.device().str(), ", got ", out.describe());
  else
    out = empty({logits.size(0)}, DType::i64, logits.device());
  if (skip_kernel(out)) return out;
  const int64_t V = logits.size(1);
  if (logits.device().is_cuda() && !samples_on_gpu(args, V)) {
    TTT_CHECK(!cuda::capturing(), "sample_tokens", std::min(args.top_k > 0 ? args.top_k : V, V), " candidates (top_k ",
              args.top_k, ", vocabulary ", V, ") exceed the GPU sampler's ", kMaxSampleCandidates,
              "; such a draw runs on the CPU, which a CUDA graph cannot");
    const Tensor host_counter = to_device(counter, Device::cpu());
    const Tensor ids = sample_tokens(to_device(logits, Device::cpu()), host_counter, args);
    copy_into(counter, host_counter);
    copy_into(out, ids);
    return out;
  }
  TTT_RUN_KERNEL(logits, sample_tokens, logits, counter, out, args);
  return out;
}

bool samples_on_gpu(const SampleArgs& args, int64_t vocab) {
  return args.greedy || std::min(args.top_k > 0 ? args.top_k : vocab, vocab) <= kMaxSampleCandidates;
}

}  // namespace ttt::compute
