// One token per row of logits on the GPU (compute::sample_tokens), one block per row, nothing sent
// to the host: the step of a CUDA-graph generation samples inside the graph. The order and the
// draw are the CPU's (core/sampling_math.h), so a seed picks the same tokens on both backends.
//
// Greedy: a block-wide maximum of the candidate keys. Sampling: the K-th largest key found by a
// radix select (passes of an 8-bit digit histogram from the top byte down, 4 for the logit and 4
// for the id only when a tie is cut; exactly K keys are >= the threshold), those K gathered into
// shared memory and sorted (bitonic), their weights exp((logit - max) / T) computed in parallel,
// and one thread walks them with the draw.
#include <algorithm>

#include "core/backend.h"
#include "core/cuda/bf16.cuh"
#include "core/cuda/cuda_check.h"
#include "core/philox.h"
#include "core/sampling_math.h"

namespace ttt::cuda {

namespace {

constexpr int kThreads = 1024;
constexpr int kCandidates = static_cast<int>(kMaxSampleCandidates);

template <class T>
__device__ uint64_t key_at(const T* row, int64_t v) {
  return sampling::candidate_key(load_f32(row[v]), v);
}

__device__ uint64_t block_max(uint64_t x, uint64_t* scratch) {
  for (int o = 16; o > 0; o >>= 1) x = max(x, __shfl_down_sync(0xffffffffu, x, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  if (warp == 0) {
    x = lane < blockDim.x / 32 ? scratch[lane] : 0;
    for (int o = 16; o > 0; o >>= 1) x = max(x, __shfl_down_sync(0xffffffffu, x, o));
    if (lane == 0) scratch[0] = x;
  }
  __syncthreads();
  return scratch[0];
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    sample_kernel(const T* logits, int64_t V, const int64_t* counter, int64_t* out, SampleArgs a, int K) {
  __shared__ uint64_t keys[kCandidates];
  __shared__ double weights[kCandidates];
  __shared__ unsigned histogram[256];
  __shared__ uint64_t scratch[32];
  __shared__ uint64_t prefix;
  __shared__ int64_t remaining;
  __shared__ int gathered;
  __shared__ bool settled;
  const T* row = logits + blockIdx.x * V;
  const int tid = threadIdx.x;

  if (a.greedy) {
    uint64_t best = 0;
    for (int64_t v = tid; v < V; v += kThreads) best = max(best, key_at(row, v));
    best = block_max(best, scratch);
    if (tid == 0) out[blockIdx.x] = sampling::candidate_id(best);
    return;
  }

  // the K-th largest key, one byte at a time: among the keys that share the bytes chosen so far,
  // count each value of the next byte and keep the byte where the K-th largest falls. Once the
  // logit's 4 bytes are chosen, if every key with that logit is needed (no tie is cut) the K keys
  // are those with a logit at least that one, and the id's 4 bytes need no pass.
  if (tid == 0) prefix = 0, remaining = K, settled = false;
  uint64_t mask = 0;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int i = tid; i < 256; i += kThreads) histogram[i] = 0;
    __syncthreads();
    for (int64_t v = tid; v < V; v += kThreads) {
      const uint64_t k = key_at(row, v);
      if ((k & mask) == prefix) atomicAdd(&histogram[(k >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (tid < 32) {  // warp 0 finds the byte: lane l sums digits 255 - 8 l down to 248 - 8 l, then a scan
      const int lane = tid;
      unsigned chunk = 0;
      for (int k = 0; k < 8; ++k) chunk += histogram[255 - 8 * lane - k];
      unsigned before = chunk;  // inclusive sum over the lanes of larger digits
      for (int o = 1; o < 32; o <<= 1) {
        const unsigned t = __shfl_up_sync(0xffffffffu, before, o);
        if (lane >= o) before += t;
      }
      before -= chunk;
      const unsigned need = static_cast<unsigned>(remaining);
      const unsigned owner = __ffs(__ballot_sync(0xffffffffu, before < need && need <= before + chunk)) - 1;
      if (static_cast<unsigned>(lane) == owner) {
        unsigned left = need - before;
        int digit = 255 - 8 * lane;
        for (; histogram[digit] < left; --digit) left -= histogram[digit];
        prefix |= static_cast<uint64_t>(digit) << shift;
        remaining = left;
        if (shift == 32 && histogram[digit] == left) settled = true;  // all keys with this logit are in
      }
    }
    mask |= uint64_t{255} << shift;
    __syncthreads();
    if (settled) break;
  }
  const uint64_t threshold = prefix;  // the K-th largest key (settled: its logit with id bytes 0)

  // the K candidates, then zero keys up to a power of two, sorted in decreasing order
  int padded = 1;
  while (padded < K) padded <<= 1;
  if (tid == 0) gathered = 0;
  __syncthreads();
  for (int64_t v = tid; v < V; v += kThreads) {
    const uint64_t k = key_at(row, v);
    if (k >= threshold) keys[atomicAdd(&gathered, 1)] = k;
  }
  for (int i = K + tid; i < padded; i += kThreads) keys[i] = 0;
  __syncthreads();
  for (int size = 2; size <= padded; size <<= 1)
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int i = tid; i < padded; i += kThreads) {
        const int j = i ^ stride;
        if (j > i) {
          const bool descending = (i & size) == 0;
          if ((keys[i] < keys[j]) == descending) {
            const uint64_t t = keys[i];
            keys[i] = keys[j];
            keys[j] = t;
          }
        }
      }
      __syncthreads();
    }

  const double top = load_f32(row[sampling::candidate_id(keys[0])]);
  for (int i = tid; i < K; i += kThreads)
    weights[i] = exp((static_cast<double>(load_f32(row[sampling::candidate_id(keys[i])])) - top) / a.temperature);
  __syncthreads();
  if (tid == 0) {
    const double u = philox::uniform53(static_cast<uint64_t>(*counter + blockIdx.x), a.seed);
    out[blockIdx.x] = sampling::candidate_id(keys[sampling::choose_candidate(weights, K, a.top_p, u)]);
  }
}

__global__ void advance_kernel(int64_t* counter, int64_t by) { *counter += by; }

}  // namespace

void sample_tokens(const Tensor& logits, const Tensor& counter, const Tensor& out, const SampleArgs& a) {
  const int64_t B = logits.size(0), V = logits.size(1);
  const int K = static_cast<int>(a.top_k > 0 ? std::min(a.top_k, V) : V);
  dispatch_f32_bf16(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    sample_kernel<T><<<static_cast<unsigned>(B), kThreads, 0, current_stream()>>>(
        static_cast<const T*>(logits.raw_data()), V, counter.data<int64_t>(), out.data<int64_t>(), a, K);
  });
  TTT_CUDA_CHECK_LAUNCH();
  advance_kernel<<<1, 1, 0, current_stream()>>>(counter.data<int64_t>(), B);
  TTT_CUDA_CHECK_LAUNCH();
}

}  // namespace ttt::cuda
