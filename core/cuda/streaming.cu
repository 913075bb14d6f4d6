// A streaming step's kernels on the GPU, each reading the step's position from the device (a CUDA
// graph replays them at every position): one query against a KV cache, and a TTT step's inner part.
//
// One query against a KV cache (compute::attention_decode). One block per (sequence, head); each of its warps takes every
// kWarps-th key, a lane holding d / 32 of the elements, and keeps an online softmax (running maximum m, sum l, and the weighted
// sum of values); the warps' partial results are then merged:
//   out = sum_w exp(m_w - M) acc_w / sum_w exp(m_w - M) l_w,  M = max_w m_w.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/backend.h"
#include "core/cuda/bf16.cuh"
#include "core/cuda/block_reduce.cuh"
#include "core/cuda/cuda_check.h"
#include "core/cuda/grid_stride.cuh"
#include "core/scalar_math.h"

namespace ttt::cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kMaxPerLane = 8;  // head dims up to 256

__device__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// The block's per-warp online softmaxes (maximum m_w, sum l_w, weighted sum of values acc_w, the
// latter a row of `stride` in shared memory) merged into the output row out[0, d) (see the top of the
// file); a warp that had no key (m_w = -inf) adds nothing. Every thread calls it, after a barrier.
template <int kWarpCount, class T>
__device__ void merge_warps(const float* warp_max, const float* warp_total, const float* warp_acc, int stride, int d, T* out) {
  float top = -INFINITY;
  for (int w = 0; w < kWarpCount; ++w) top = fmaxf(top, warp_max[w]);
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float total = 0.0f, sum = 0.0f;
    for (int w = 0; w < kWarpCount; ++w)
      if (warp_max[w] > -INFINITY) {
        const float c = expf(warp_max[w] - top);
        total += c * warp_total[w];
        sum += c * warp_acc[w * stride + i];
      }
    out[i] = store_as<T>(sum / total);
  }
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
  merge_warps<kWarps>(warp_max, warp_total, &warp_acc[0][0], kMaxPerLane * 32, d, out + r * d);
}

// The same for head dims 64 and 128 in 16-byte rows (Moshi's heads: 128 in the temporal transformer,
// 64 in the depformer): a warp takes four keys at once, eight lanes a key, each lane holding D / 8
// consecutive elements of the query, of the key and value it reads (both loaded before the score is
// summed, so their latencies overlap) and of its weighted sum of values; 16 warps a block, so 64
// keys are in flight where the kernel above has 8. Each group of eight lanes keeps its own online
// softmax; the four groups of a warp are merged by shuffles, the warps as above.
constexpr int kLanesPerKey = 8, kKeysPerWarp = 32 / kLanesPerKey, kPackedWarps = 16;

// dst[e] = src[e] as f32, E elements from 16-byte aligned src
template <class T, int E>
__device__ __forceinline__ void load_packs(const T* src, float (&dst)[E]) {
  constexpr int P = 16 / static_cast<int>(sizeof(T));
  static_assert(E % P == 0, "a lane's slice is whole 16-byte packs");
  for (int u = 0; u < E / P; ++u) {
    const uint4 pack = reinterpret_cast<const uint4*>(src)[u];
    const T* e = reinterpret_cast<const T*>(&pack);
    for (int i = 0; i < P; ++i) dst[u * P + i] = load_f32(e[i]);
  }
}

template <class T, int D>
__global__ void __launch_bounds__(kPackedWarps * 32)
    attention_decode_packed_kernel(const T* q, const T* k, const T* v, const void* position, bool i32, int64_t slots, float scale,
                                   T* out) {
  constexpr int E = D / kLanesPerKey;
  const int64_t r = blockIdx.x;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / kLanesPerKey, part = lane % kLanesPerKey;  // this lane's key of the four, its slice of it
  const int64_t written = (i32 ? static_cast<const int32_t*>(position)[0] : static_cast<const int64_t*>(position)[0]) + 1;
  const int64_t count = written < slots ? written : slots;
  float qs[E], acc[E];
  load_packs<T, E>(q + r * D + part * E, qs);
  for (int e = 0; e < E; ++e) qs[e] *= scale, acc[e] = 0.0f;
  const T* kr = k + r * slots * D + part * E;
  const T* vr = v + r * slots * D + part * E;
  float m = -INFINITY, l = 0.0f;
  for (int64_t first = warp * kKeysPerWarp; first < count; first += kPackedWarps * kKeysPerWarp) {
    const int64_t j = first + group;
    const bool valid = j < count;
    float ks[E], vs[E];
    float s = 0.0f;
    if (valid) {
      load_packs<T, E>(kr + j * D, ks);
      load_packs<T, E>(vr + j * D, vs);
      for (int e = 0; e < E; ++e) s += qs[e] * ks[e];
    }
    for (int o = 1; o < kLanesPerKey; o <<= 1) s += __shfl_xor_sync(0xffffffffu, s, o);  // the key's eight lanes
    if (!valid) continue;
    const float m_new = fmaxf(m, s), correction = expf(m - m_new), p = expf(s - m_new);
    l = l * correction + p;
    for (int e = 0; e < E; ++e) acc[e] = acc[e] * correction + p * vs[e];
    m = m_new;
  }
  // the warp's four groups onto a common maximum, then summed (a group that had no key adds nothing)
  float top = m;
  for (int o = kLanesPerKey; o < 32; o <<= 1) top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, o));
  const float c = m > -INFINITY ? expf(m - top) : 0.0f;
  l *= c;
  for (int o = kLanesPerKey; o < 32; o <<= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
  for (int e = 0; e < E; ++e) {
    acc[e] *= c;
    for (int o = kLanesPerKey; o < 32; o <<= 1) acc[e] += __shfl_xor_sync(0xffffffffu, acc[e], o);
  }
  __shared__ float warp_max[kPackedWarps], warp_total[kPackedWarps];
  __shared__ float warp_acc[kPackedWarps][D];
  if (group == 0) {
    for (int e = 0; e < E; ++e) warp_acc[warp][part * E + e] = acc[e];
    if (part == 0) warp_max[warp] = top, warp_total[warp] = l;
  }
  __syncthreads();
  merge_warps<kPackedWarps>(warp_max, warp_total, &warp_acc[0][0], D, D, out + r * D);
}

// ---- the streaming TTT step's inner part (compute::ttt_stream_step), one block per sequence and
// head. The token's vectors live in shared memory; the weights W0 and the mini-batch's rows X, eta G
// in global memory, read once per product. The order and the equations are core/cpu/streaming.cpp's.

// Threads a block: 1024 when the rows are fewer than the SMs (a layer at batch 1 has one block per
// head: each must keep many loads in flight), else 256 (blocks to spare); bench/generate_bench.sh
// measured both ways (docs/performance.md, "Streaming generation").
constexpr int kWideThreads = 1024, kNarrowThreads = 256;

struct StepLayers {
  float* w0[kMaxTttStepLayers];
  float* b0[kMaxTttStepLayers];
  float* xs[kMaxTttStepLayers];
  float* ds[kMaxTttStepLayers];
  int dim[kMaxTttStepLayers + 1];
  int count;
};

// y[q] = bias[q] + sum_p v[p] W[p][q] (W row-major in global memory, v and y in shared). Columns in
// packs of 4 when q allows (16-byte loads), the rows split among the threads left over, the
// splits' partial sums added at the end.
template <int kStepThreads>
__device__ void vector_times_matrix(const float* v, const float* W, const float* bias, int p, int q, float* y, float* partial) {
  const int width = q % 4 == 0 ? 4 : 1, groups = (q + width - 1) / width;
  const int splits = groups >= kStepThreads ? 1 : kStepThreads / groups;
  for (int t = threadIdx.x; t < groups * splits; t += kStepThreads) {
    const int c = t % groups, s = t / groups, col = c * width;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (width == 4) {
#pragma unroll 8
      for (int r = s; r < p; r += splits) {
        const float4 w = *reinterpret_cast<const float4*>(W + static_cast<int64_t>(r) * q + col);
        const float x = v[r];
        acc[0] += x * w.x, acc[1] += x * w.y, acc[2] += x * w.z, acc[3] += x * w.w;
      }
    } else {
#pragma unroll 8
      for (int r = s; r < p; r += splits) acc[0] += v[r] * W[static_cast<int64_t>(r) * q + col];
    }
    if (splits == 1) {
      for (int k = 0; k < width; ++k) y[col + k] = bias[col + k] + acc[k];
    } else {
      for (int k = 0; k < width; ++k) partial[s * q + col + k] = acc[k];
    }
  }
  __syncthreads();
  if (splits > 1) {
    for (int j = threadIdx.x; j < q; j += kStepThreads) {
      float sum = bias[j];
      for (int s = 0; s < splits; ++s) sum += partial[s * q + j];
      y[j] = sum;
    }
    __syncthreads();
  }
}

// y[p] = sum_q g[q] W[p][q]: a warp per 4 rows of W at once (their loads in flight together;
// 16-byte loads when q allows), then a warp sum per row.
template <int kStepThreads>
__device__ void vector_times_matrix_t(const float* g, const float* W, int p, int q, float* y) {
  constexpr int kRows = 4;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r0 = warp * kRows; r0 < p; r0 += kStepThreads / 32 * kRows) {
    float acc[kRows] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (q % 4 == 0) {
      for (int c = lane * 4; c < q; c += 128) {
        const float g0 = g[c], g1 = g[c + 1], g2 = g[c + 2], g3 = g[c + 3];
#pragma unroll
        for (int k = 0; k < kRows; ++k)
          if (r0 + k < p) {
            const float4 w = *reinterpret_cast<const float4*>(W + static_cast<int64_t>(r0 + k) * q + c);
            acc[k] += g0 * w.x + g1 * w.y + g2 * w.z + g3 * w.w;
          }
      }
    } else {
      for (int c = lane; c < q; c += 32)
#pragma unroll
        for (int k = 0; k < kRows; ++k)
          if (r0 + k < p) acc[k] += g[c] * W[static_cast<int64_t>(r0 + k) * q + c];
    }
#pragma unroll
    for (int k = 0; k < kRows; ++k) {
      float v = acc[k];
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      if (lane == 0 && r0 + k < p) y[r0 + k] = v;
    }
  }
  __syncthreads();
}

// LN statistics of v [d] in shared memory: (mean, sigma = sqrt(biased variance + eps)).
template <int kStepThreads>
__device__ float2 norm_stats(const float* v, int d, float eps) {
  float s = 0.0f;
  for (int j = threadIdx.x; j < d; j += kStepThreads) s += v[j];
  const float mean = block_sum(s) / static_cast<float>(d);
  float ss = 0.0f;
  for (int j = threadIdx.x; j < d; j += kStepThreads) ss += (v[j] - mean) * (v[j] - mean);
  return make_float2(mean, sqrtf(block_sum(ss) / static_cast<float>(d) + eps));
}

template <int kStepThreads>
__global__ void __launch_bounds__(kStepThreads)
    ttt_stream_step_kernel(const float* xq, const float* xk, const float* target, const float* eta, const float* positional,
                           const int64_t* position, const float* ln_weight, const float* ln_bias, StepLayers layers, int b,
                           int heads, float eps, float* out) {
  extern __shared__ float shared[];
  const int64_t r = blockIdx.x;
  const int L = layers.count, d = layers.dim[0], i = static_cast<int>(*position % b);
  const float w_pos = positional[i];
  const float* gamma = ln_weight + (r % heads) * d;
  const float* beta = ln_bias + (r % heads) * d;
  int widest = 0;
  for (int l = 0; l <= L; ++l) widest = max(widest, layers.dim[l]);
  // shared memory: x_l, z_l, g_l per layer, then the query's two vectors, its row weights, partial sums
  float *x[kMaxTttStepLayers], *z[kMaxTttStepLayers], *g[kMaxTttStepLayers];
  float* next = shared;
  for (int l = 0; l < L; ++l) {
    x[l] = next, next += layers.dim[l];
    z[l] = next, next += layers.dim[l + 1];
    g[l] = next, next += layers.dim[l + 1];
  }
  float* h = next;
  float* h_next = h + widest;
  float* coefficient = h_next + widest;
  float* partial = coefficient + b;
  auto w0 = [&](int l) { return layers.w0[l] + r * layers.dim[l] * layers.dim[l + 1]; };
  auto b0 = [&](int l) { return layers.b0[l] + r * layers.dim[l + 1]; };
  auto xs = [&](int l, int j) { return layers.xs[l] + (r * b + j) * layers.dim[l]; };
  auto ds = [&](int l, int j) { return layers.ds[l] + (r * b + j) * layers.dim[l + 1]; };

  // the key path at W0: x_0 = k, z_l = x_l W0_l + b0_l, x_l+1 = gelu(z_l)
  for (int j = threadIdx.x; j < d; j += kStepThreads) x[0][j] = xk[r * d + j], h[j] = xq[r * d + j];
  __syncthreads();
  for (int l = 0; l < L; ++l) {
    vector_times_matrix<kStepThreads>(x[l], w0(l), b0(l), layers.dim[l], layers.dim[l + 1], z[l], partial);
    if (l + 1 < L) {
      for (int j = threadIdx.x; j < layers.dim[l + 1]; j += kStepThreads) x[l + 1][j] = math::gelu(z[l][j]);
      __syncthreads();
    }
  }
  // E10 at the last layer: (D gy - sum gy - xhat sum(gy xhat)) / (D sigma), gy = (gamma xhat + beta - target) gamma
  const float2 st = norm_stats<kStepThreads>(z[L - 1], d, eps);
  float s_gy = 0.0f, s_gy_xhat = 0.0f;
  for (int j = threadIdx.x; j < d; j += kStepThreads) {
    const float xhat = (z[L - 1][j] - st.x) / st.y, gy = (gamma[j] * xhat + beta[j] - target[r * d + j]) * gamma[j];
    g[L - 1][j] = gy;
    s_gy += gy, s_gy_xhat += gy * xhat;
  }
  s_gy = block_sum(s_gy);
  s_gy_xhat = block_sum(s_gy_xhat);
  for (int j = threadIdx.x; j < d; j += kStepThreads) {
    const float xhat = (z[L - 1][j] - st.x) / st.y;
    g[L - 1][j] = (static_cast<float>(d) * g[L - 1][j] - s_gy - xhat * s_gy_xhat) / (static_cast<float>(d) * st.y);
  }
  __syncthreads();
  // E11: g_l = (g_l+1 W0_l+1^T) o gelu'(z_l)
  for (int l = L - 2; l >= 0; --l) {
    vector_times_matrix_t<kStepThreads>(g[l + 1], w0(l + 1), layers.dim[l + 1], layers.dim[l + 2], g[l]);
    for (int j = threadIdx.x; j < layers.dim[l + 1]; j += kStepThreads) g[l][j] *= math::gelu_grad(z[l][j]);
    __syncthreads();
  }
  // the token's row i: X_l[i] = x_l, DS_l[i] = eta g_l (visible to the block after the barrier)
  const float step = eta[r];
  for (int l = 0; l < L; ++l) {
    for (int j = threadIdx.x; j < layers.dim[l]; j += kStepThreads) xs(l, i)[j] = x[l][j];
    for (int j = threadIdx.x; j < layers.dim[l + 1]; j += kStepThreads) ds(l, i)[j] = step * g[l][j];
  }
  __syncthreads();
  // the query, dual form: zq_l = h W0_l + b0_l - w_pos sum_{j <= i} (h . X_l[j] + 1) DS_l[j]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int l = 0; l < L; ++l) {
    const int p = layers.dim[l], q = layers.dim[l + 1];
    for (int j = warp; j <= i; j += kStepThreads / 32) {
      const float* xj = xs(l, j);
      float dot = 0.0f;
#pragma unroll 4
      for (int c = lane; c < p; c += 32) dot += h[c] * xj[c];
      for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
      if (lane == 0) coefficient[j] = w_pos * (dot + 1.0f);
    }
    vector_times_matrix<kStepThreads>(h, w0(l), b0(l), p, q, h_next, partial);  // its barriers also publish the coefficients
    for (int c = threadIdx.x; c < q; c += kStepThreads) {
      float v = h_next[c];
      const float* column = ds(l, 0) + c;
#pragma unroll 8
      for (int j = 0; j <= i; ++j) v -= coefficient[j] * column[static_cast<int64_t>(j) * q];  // loads in flight together
      h_next[c] = l + 1 < L ? math::gelu(v) : v;
    }
    __syncthreads();
    for (int c = threadIdx.x; c < q; c += kStepThreads) h[c] = h_next[c];
    __syncthreads();
  }
  // out = q + LN(h) gamma + beta (E14)
  const float2 hs = norm_stats<kStepThreads>(h, d, eps);
  for (int j = threadIdx.x; j < d; j += kStepThreads) out[r * d + j] = xq[r * d + j] + (h[j] - hs.x) / hs.y * gamma[j] + beta[j];
  // E15 (the commit) is ttt_step_commit_kernel's: spread over every SM, not this block's one
}

// E15 at a mini-batch's last token, for inner layer l of every row: W0_l -= w_pos X_l^T DS_l,
// b0_l -= w_pos sum_j DS_l[j]. One thread per element of the weights and biases; every other
// token the blocks return at once (the graph replays the launch at every step).
__global__ void ttt_step_commit_kernel(StepLayers layers, int l, int b, const float* positional, const int64_t* position,
                                       int64_t rows) {
  if (*position % b != b - 1) return;
  const float w_pos = positional[b - 1];
  const int64_t p = layers.dim[l], q = layers.dim[l + 1], weights = rows * p * q;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < weights + rows * q; e += int64_t(blockDim.x) * gridDim.x) {
    const bool bias = e >= weights;
    const int64_t k = bias ? e - weights : e, r = bias ? k / q : k / (p * q), col = k % q, row = bias ? 0 : (k / q) % p;
    const float* x = layers.xs[l] + r * b * p + row;
    const float* dy = layers.ds[l] + r * b * q + col;
    float sum = 0.0f;
    for (int j = 0; j < b; ++j) sum += (bias ? 1.0f : x[j * p]) * dy[j * q];
    (bias ? layers.b0[l][k] : layers.w0[l][k]) -= w_pos * sum;
  }
}
}  // namespace

void attention_decode(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& position, double scale,
                      const Tensor& out) {
  const int64_t n = q.size(0), slots = k.size(1), d = q.size(2);
  dispatch_f32_bf16(q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const bool packed = aligned16(q.data<T>()) && aligned16(k.data<T>()) && aligned16(v.data<T>());
    auto launch_packed = [&](auto head_dim) {
      attention_decode_packed_kernel<T, decltype(head_dim)::value>
          <<<static_cast<unsigned>(n), kPackedWarps * 32, 0, current_stream()>>>(
              q.data<T>(), k.data<T>(), v.data<T>(), position.raw_data(), position.dtype() == DType::i32, slots,
              static_cast<float>(scale), out.data<T>());
    };
    if (packed && d == 128) return launch_packed(std::integral_constant<int, 128>{});
    if (packed && d == 64) return launch_packed(std::integral_constant<int, 64>{});
    attention_decode_kernel<T><<<static_cast<unsigned>(n), kWarps * 32, 0, current_stream()>>>(
        q.data<T>(), k.data<T>(), v.data<T>(), position.raw_data(), position.dtype() == DType::i32, slots, static_cast<int>(d),
        static_cast<float>(scale), out.data<T>());
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void ttt_stream_step(const TttStepArgs& a) {
  StepLayers layers;
  const int L = static_cast<int>(a.w0.size());
  layers.count = L;
  int64_t floats = 0;
  for (int l = 0; l < L; ++l) {
    layers.w0[l] = a.w0[l].data<float>();
    layers.b0[l] = a.b0[l].data<float>();
    layers.xs[l] = a.xs[l].data<float>();
    layers.ds[l] = a.ds[l].data<float>();
    layers.dim[l] = static_cast<int>(a.w0[l].size(-2));
    layers.dim[l + 1] = static_cast<int>(a.w0[l].size(-1));
    floats += a.w0[l].size(-2) + 2 * a.w0[l].size(-1);  // x_l, z_l, g_l
  }
  int widest = 0;
  for (int l = 0; l <= L; ++l) widest = std::max(widest, layers.dim[l]);
  const int b = static_cast<int>(a.positional.numel());
  const int64_t n = a.xq.size(0);
  static const int sms = [] {
    int device = 0, count = 0;
    TTT_CUDA_CHECK(cudaGetDevice(&device));
    TTT_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    return count;
  }();
  auto launch = [&](auto kernel, int threads) {
    floats += 2 * widest + b + threads * 4;  // the query's two vectors, its row weights, the partial sums
    const size_t bytes = static_cast<size_t>(floats) * sizeof(float);
    allow_dynamic_shared_memory(reinterpret_cast<const void*>(kernel), bytes, "ttt_stream_step");
    kernel<<<static_cast<unsigned>(n), threads, bytes, current_stream()>>>(
        a.xq.data<float>(), a.xk.data<float>(), a.target.data<float>(), a.eta.data<float>(), a.positional.data<float>(),
        a.position.data<int64_t>(), a.ln_weight.data<float>(), a.ln_bias.data<float>(), layers, b,
        static_cast<int>(a.ln_weight.size(0)), static_cast<float>(a.eps), a.out.data<float>());
  };
  if (n < sms)
    launch(ttt_stream_step_kernel<kWideThreads>, kWideThreads);
  else
    launch(ttt_stream_step_kernel<kNarrowThreads>, kNarrowThreads);
  TTT_CUDA_CHECK_LAUNCH();
  for (int l = 0; l < L; ++l) {  // after the step kernel: the query has read W0 as it was
    // a few blocks per SM, striding: at the other tokens every block returns at once, and a grid of
    // one block per 256 elements (262,144 at batch 8) took longer to retire than the step's kernel
    const unsigned blocks = std::min(grid_for(n * (layers.dim[l] + 1) * layers.dim[l + 1]), static_cast<unsigned>(4 * sms));
    ttt_step_commit_kernel<<<blocks, kBlock, 0, current_stream()>>>(layers, l, b, a.positional.data<float>(),
                                                                    a.position.data<int64_t>(), n);
    TTT_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace ttt::cuda
