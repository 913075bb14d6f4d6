// Attention as one op: out = softmax(scale q k^T, masked) v, forward and backward side by side.
//
// Causal attention never uses the scores above the diagonal, so the products run on blocks of
// T rows: with the S x S matrices cut into n = ceil(S / T) block rows, block (i, j) is computed
// only when j <= i, about (n + 1) / (2n) of the full products (9/16 at S = 2048, T = 256). The
// blocks above the block diagonal of the [.., S, S] buffers (scores, P, dP, dS) are never written
// or read: the products skip them, and the masked softmax stays inside the computed blocks in
// both directions (SoftmaxArgs::block, core/kernel_args.h). The op's output and gradients are
// fully defined; only its internal buffers have holes.
//
// CUDA with head dim 64 or 128, bf16 or f32, runs the flash kernels instead (compute::flash_attention,
// core/cuda/flash_attention.cu and flash_attention_f32.cu): no [S, S] buffer at all, the weights
// rebuilt tile by tile in backward from each row's lse (so `recompute` changes nothing there).
// What that costs or saves against these block products: docs/performance.md.
#include <algorithm>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/compute.h"
#include "core/error.h"

namespace ttt {

namespace {

// n matrices [S, S] or [S, d] per tensor; the causal part cut into block rows of T.
struct Blocks {
  int64_t n = 0, S = 0, d = 0, T = 0;
  int64_t count() const { return (S + T - 1) / T; }
  int64_t begin(int64_t i) const { return i * T; }
  int64_t end(int64_t i) const { return std::min(S, (i + 1) * T); }
};

// Where one operand of a block product lies in its [.., S, S] or [.., S, d] tensor: its row
// length, the element its block starts at, and the distance between batch entries.
struct Part {
  int64_t ld, offset, stride;
};

// c's block = op(a's block) op(b's block), [m, k] x [k, n], for every batch entry
// (compute::matmul_region).
void block_product(const Blocks& bl, int64_t m, int64_t n, int64_t k, const Tensor& a, Part pa, bool ta, const Tensor& b, Part pb,
                   bool tb, const Tensor& c, Part pc) {
  MatmulArgs g;
  g.batch = bl.n;
  g.m = m, g.n = n, g.k = k;
  g.trans_a = ta, g.trans_b = tb;
  g.lda = pa.ld, g.offset_a = pa.offset, g.stride_a = pa.stride;
  g.ldb = pb.ld, g.offset_b = pb.offset, g.stride_b = pb.stride;
  g.ldc = pc.ld, g.offset_c = pc.offset, g.stride_c = pc.stride;
  compute::matmul_region(a, b, c, g);
}

// out[.., block i rows, 0:end(i)] = x[block i rows] y[0:end(i)]^T for every block row i: the lower
// block triangle of x y^T (x, y [.., S, d]; out [.., S, S]).
void lower_scores(const Tensor& x, const Tensor& y, const Tensor& out, const Blocks& b) {
  const int64_t S = b.S, d = b.d;
  for (int64_t i = 0; i < b.count(); ++i) {
    const int64_t r0 = b.begin(i);
    block_product(b, b.end(i) - r0, b.end(i), d, x, {d, r0 * d, S * d}, false, y, {d, 0, S * d}, true, out, {S, r0 * S, S * S});
  }
}

// out[block i rows] = p[block i rows, 0:end(i)] z[0:end(i)]: p's lower block triangle times z
// (p [.., S, S], z and out [.., S, d]).
void lower_times(const Tensor& p, const Tensor& z, const Tensor& out, const Blocks& b) {
  const int64_t S = b.S, d = b.d;
  for (int64_t i = 0; i < b.count(); ++i) {
    const int64_t r0 = b.begin(i);
    block_product(b, b.end(i) - r0, d, b.end(i), p, {S, r0 * S, S * S}, false, z, {d, 0, S * d}, false, out, {d, r0 * d, S * d});
  }
}

// out[block j rows] = p[begin(j):S, block j cols]^T z[begin(j):S]: the transpose of p's lower block
// triangle times z (the rows of block column j start at its diagonal block).
void lower_t_times(const Tensor& p, const Tensor& z, const Tensor& out, const Blocks& b) {
  const int64_t S = b.S, d = b.d;
  for (int64_t j = 0; j < b.count(); ++j) {
    const int64_t c0 = b.begin(j);
    block_product(b, b.end(j) - c0, d, S - c0, p, {S, c0 * S + c0, S * S}, true, z, {d, c0 * d, S * d}, false, out,
                  {d, c0 * d, S * d});
  }
}

Shape scores_shape(const Tensor& q) {
  Shape s = q.shape();
  s.back() = q.size(-2);
  return s;
}

// P again, from q, k and forward's row log-sum-exp: one more product, no max or sum pass.
Tensor rebuilt_weights(const Tensor& q, const Tensor& k, const Tensor& lse, const SoftmaxArgs& args, const Blocks& b) {
  Tensor scores = empty(scores_shape(q), q.dtype(), q.device());
  lower_scores(q, k, scores, b);
  return compute::softmax_from_lse(scores, lse, args);
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, bool causal, int64_t context, int64_t block,
                 bool recompute) {
  TTT_CHECK(q.defined() && k.defined() && v.defined(), "attention", "q, k and v must be defined");
  TTT_CHECK(q.dim() >= 2 && q.shape() == k.shape() && q.shape() == v.shape(), "attention",
            "q, k and v must have one shape [..., S, d], got ", q.describe(), ", ", k.describe(), ", ", v.describe());
  TTT_CHECK(block > 0, "attention", "block must be positive, got ", block);
  Blocks b;
  b.S = q.size(-2), b.d = q.size(-1);
  b.n = b.S * b.d > 0 ? q.numel() / (b.S * b.d) : 0;
  b.T = causal ? block : b.S;  // without the causal mask every block is needed: one block
  SoftmaxArgs args = attention_softmax_args(b.S, scale, causal, context);
  args.block = causal ? b.T : 0;  // the softmax stays inside the computed blocks too

  if (compute::flash_attention_applies(q)) {  // one fused kernel each way, no [S, S] buffers
    compute::FlashOut f = compute::flash_attention(q, k, v, args);
    return record(f.out, "attention", {q, k, v},
                  [q = q.detach(), k = k.detach(), v = v.detach(), out = f.out.detach(), lse = f.lse, args](const Tensor& g) {
                    compute::FlashGrads d = compute::flash_attention_backward(q, k, v, out, lse, g, args);
                    return std::vector<Tensor>{d.q, d.k, d.v};
                  });
  }
  Tensor out = empty(q.shape(), q.dtype(), q.device());  // every row is written by lower_times
  if (b.n == 0 || b.S == 0 || b.d == 0) return out;      // nothing to attend to (an empty batch or sequence)
  // P = softmax(scale q k^T, masked): blocked entries 0. With `recompute`, only each row's
  // log-sum-exp is kept for backward ([.., S] instead of [.., S, S]), which rebuilds P from it.
  Tensor p, lse;
  {
    Tensor scores = empty(scores_shape(q), q.dtype(), q.device());
    lower_scores(q, k, scores, b);
    compute::SoftmaxOut r = compute::softmax_with_lse(scores, args);
    p = r.y, lse = r.lse;
  }
  lower_times(p, v, out, b);
  if (recompute) p = Tensor();
  return record(out, "attention", {q, k, v}, [q = q.detach(), k = k.detach(), v = v.detach(), p, lse, args, b](const Tensor& g) {
    const Tensor pw = p.defined() ? p : rebuilt_weights(q, k, lse, args, b);
    Tensor ds;
    {  // dP = g v^T, freed once dS = softmax's backward (scaled, 0 where blocked) has it
      Tensor dp = empty(pw.shape(), pw.dtype(), pw.device());
      lower_scores(g, v, dp, b);
      ds = compute::softmax_backward(dp, pw, args);
    }
    Tensor dq = empty(q.shape(), q.dtype(), q.device());
    Tensor dk = empty(k.shape(), k.dtype(), k.device());
    Tensor dv = empty(v.shape(), v.dtype(), v.device());
    lower_times(ds, k, dq, b);    // dq = dS k
    lower_t_times(ds, q, dk, b);  // dk = dS^T q
    lower_t_times(pw, g, dv, b);  // dv = P^T g
    return std::vector<Tensor>{dq, dk, dv};
  });
}

}  // namespace ttt
