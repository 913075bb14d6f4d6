// A streaming step's kernels on the GPU, each reading the step's position or flags from the device
// (a CUDA graph replays them at every position).
//
// One query against a KV cache (compute::attention_decode). One block per (sequence, head); each of its warps takes every
// kWarps-th key, a lane holding d / 32 of the elements, and keeps an online softmax (running maximum m, sum l, and the weighted
// sum of values); the warps' partial results are then merged:
//   out = sum_w exp(m_w - M) acc_w / sum_w exp(m_w - M) l_w,  M = max_w m_w.
#include <cmath>

#include "core/backend.h"
#include "core/cuda/bf16.cuh"
#include "core/cuda/cuda_check.h"

namespace ttt::cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kMaxPerLane = 8;  // head dims up to 256

__device__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

template <class T>
__global__ void __launch_bounds__(kWarps * 32) attention_decode_kernel(const T* q, const T* k, const T* v, const void* position,
                                                                       bool i32, int64_t slots, int d, float scale, T* out) {
  const int64_t r = blockIdx.x;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t written = (i32 ? static_cast<const int32_t*>(position)[0] : static_cast<const int64_t*>(position)[0]) + 1;
  const int64_t count = written < slots ? written : slots;
  float qs[kMaxPerLane], acc[kMaxPerLane];
  for (int e = 0; e < kMaxPerLane; ++e) {
    const int i = lane + 32 * e;
    qs[e] = i < d ? load_f32(q[r * d + i]) * scale : 0.0f;
    acc[e] = 0.0f;
  }
  const T* kr = k + r * slots * d;
  const T* vr = v + r * slots * d;
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = warp; j < count; j += kWarps) {
    float s = 0.0f;
    for (int e = 0; e < kMaxPerLane; ++e) {
      const int i = lane + 32 * e;
      if (i < d) s += qs[e] * load_f32(kr[j * d + i]);
    }
    s = warp_sum(s);
    const float m_new = fmaxf(m, s), correction = expf(m - m_new), p = expf(s - m_new);
    l = l * correction + p;
    for (int e = 0; e < kMaxPerLane; ++e) {
      const int i = lane + 32 * e;
      acc[e] = acc[e] * correction + (i < d ? p * load_f32(vr[j * d + i]) : 0.0f);
    }
    m = m_new;
  }
  __shared__ float warp_max[kWarps], warp_total[kWarps];
  __shared__ float warp_acc[kWarps][kMaxPerLane * 32];
  if (lane == 0) warp_max[warp] = m, warp_total[warp] = l;
  for (int e = 0; e < kMaxPerLane; ++e) warp_acc[warp][lane + 32 * e] = acc[e];
  __syncthreads();
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float top = -INFINITY;
    for (int w = 0; w < kWarps; ++w) top = fmaxf(top, warp_max[w]);
    float total = 0.0f, sum = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (warp_max[w] > -INFINITY) {  // a warp that had no key adds nothing
        const float c = expf(warp_max[w] - top);
        total += c * warp_total[w];
        sum += c * warp_acc[w][i];
      }
    out[r * d + i] = store_as<T>(sum / total);
  }
}

// One thread per element of w0: w0[i][j] -= carry * sum_k x[k][i] y[k][j] over the mini-batch's
// tokens. carry is 0 at every token but a mini-batch's last, so the blocks return at once there
// (the graph replays the launch at every step; the work runs once a mini-batch).
__global__ void ttt_stream_commit_kernel(float* w0, const float* x, const float* y, const float* carry, int64_t p, int64_t q,
                                         int64_t t, int64_t n) {
  const float c = *carry;
  if (c == 0.0f) return;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(blockDim.x) * gridDim.x) {
    const int64_t j = e % q, i = (e / q) % p, r = e / (p * q);
    const float* xr = x + r * t * p + i;
    const float* yr = y + r * t * q + j;
    float sum = 0.0f;
    for (int64_t k = 0; k < t; ++k) sum += xr[k * p] * yr[k * q];
    w0[e] -= c * sum;
  }
}
}  // namespace

void attention_decode(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& position, double scale,
                      const Tensor& out) {
  const int64_t n = q.size(0), slots = k.size(1), d = q.size(2);
  dispatch_f32_bf16(q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    attention_decode_kernel<T><<<static_cast<unsigned>(n), kWarps * 32, 0, current_stream()>>>(
        q.data<T>(), k.data<T>(), v.data<T>(), position.raw_data(), position.dtype() == DType::i32, slots, static_cast<int>(d),
        static_cast<float>(scale), out.data<T>());
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void ttt_stream_commit(const Tensor& w0, const Tensor& x, const Tensor& y, const Tensor& carry) {
  ttt_stream_commit_kernel<<<grid_for(w0.numel()), kBlock, 0, current_stream()>>>(
      w0.data<float>(), x.data<float>(), y.data<float>(), carry.data<float>(), w0.size(-2), w0.size(-1), x.size(-2), w0.numel());
  TTT_CUDA_CHECK_LAUNCH();
}

}  // namespace ttt::cuda
