#include "core/compute.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <numeric>

#include "core/backend.h"
#include "core/compute_internal.h"
#include "core/error.h"
#include "core/kernel_args.h"
#include "core/profile.h"
#include "core/widen_bf16.h"

namespace ttt::compute {

using namespace detail;  // TTT_RUN_KERNEL, the argument checks (core/compute_internal.h)

namespace {

Shape without_last(const Shape& s) { return Shape(s.begin(), s.end() - 1); }

}  // namespace

Tensor unary(UnaryOp op, const Tensor& x, double a, double b) {
  check_float(unary_op_name(op), x);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  if (!skip_kernel(out)) TTT_RUN_KERNEL_AS(unary_op_name(op), x, unary, op, x, out, a, b);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& x, const Tensor& y) {
  const char* name = binary_op_name(op);
  check_same(name, x, y);
  check_float(name, x);
  Shape shape = broadcast_shapes(x.shape(), y.shape(), name);
  Tensor out = empty(shape, x.dtype(), x.device());
  if (skip_kernel(out)) return out;
  BroadcastArgs args = make_broadcast_args(shape, x.shape(), y.shape(), name);
  TTT_RUN_KERNEL_AS(name, x, binary, op, x, y, out, args);
  return out;
}

void binary_accumulate(BinaryOp op, const Tensor& x, const Tensor& y, const Tensor& out) {
  const char* name = binary_op_name(op);
  check_same(name, x, y);
  check_float(name, x);
  check_defined(name, out, "output");
  Shape shape = broadcast_shapes(x.shape(), y.shape(), name);
  TTT_CHECK(out.shape() == shape && out.dtype() == x.dtype() && out.device() == x.device() && x.dtype() != DType::bf16, name,
            " accumulating into ", out.describe(), ": needs the result's ", shape_str(shape),
            " in the inputs' dtype (f32 or f64)", " and device, inputs ", x.describe(), " and ", y.describe());
  if (skip_kernel(out)) return;
  BroadcastArgs args = make_broadcast_args(shape, x.shape(), y.shape(), name);
  args.accumulate = true;
  TTT_RUN_KERNEL_AS(name, x, binary, op, x, y, out, args);
}

Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  const char* name = op == ReduceOp::sum ? "sum" : "max";
  check_float(name, x);
  const int64_t rank = x.dim();
  if (dims.empty())
    for (int64_t d = 0; d < rank; ++d) dims.push_back(d);
  for (auto& d : dims) d = normalize_dim(d, rank, name);
  std::sort(dims.begin(), dims.end());
  TTT_CHECK(std::adjacent_find(dims.begin(), dims.end()) == dims.end(), name, "a dim is listed twice");
  std::vector<bool> reduced(rank, false);
  for (auto d : dims) reduced[d] = true;

  Shape out_shape;
  for (int64_t d = 0; d < rank; ++d) {
    if (!reduced[d])
      out_shape.push_back(x.shape()[d]);
    else if (keepdim)
      out_shape.push_back(1);
  }
  int64_t r = 1;
  for (auto d : dims) r *= x.shape()[d];
  TTT_CHECK(op != ReduceOp::max || r > 0, name, "max over an empty dim of ", x.describe());
  if (dims.empty()) return clone_data(x);  // a rank-0 tensor: nothing to reduce
  Tensor out = empty(out_shape, x.dtype(), x.device());
  if (out.device().is_meta() || out.numel() == 0) return out;

  // The kernel reduces the middle of [outer, r, inner]. A contiguous block of reduced dims fits
  // directly; otherwise move the reduced dims to the end first.
  Tensor src = x;
  DimView v;
  bool contiguous_block = dims.back() - dims.front() + 1 == static_cast<int64_t>(dims.size());
  if (contiguous_block) {
    for (int64_t d = 0; d < dims.front(); ++d) v.outer *= x.shape()[d];
    for (int64_t d = dims.back() + 1; d < rank; ++d) v.inner *= x.shape()[d];
    v.dim = r;
  } else {
    std::vector<int64_t> perm;
    for (int64_t d = 0; d < rank; ++d)
      if (!reduced[d]) perm.push_back(d);
    for (auto d : dims) perm.push_back(d);
    src = permute(x, perm);
    v.outer = out.numel();
    v.dim = r;
    v.inner = 1;
  }
  TTT_RUN_KERNEL_AS(name, x, reduce, op, src, out, v);
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  TTT_CHECK(lead >= 0, "sum_to", "cannot sum ", x.describe(), " to the larger shape ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead)
      dims.push_back(d);
    else if (shape[d - lead] == 1 && x.shape()[d] != 1)
      dims.push_back(d);
    else
      TTT_CHECK(shape[d - lead] == x.shape()[d], "sum_to", "cannot sum ", x.describe(), " to ", shape_str(shape));
  }
  if (dims.empty()) return view_shape(x, shape);
  return view_shape(reduce(ReduceOp::sum, x, dims, true), shape);
}

namespace {

// The batched product C = op(A) op(B) as one kernel call: checks, the result's shape, the operands
// with any partly broadcast batch materialised, and the kernel's arguments.
struct MatmulPlan {
  Shape out_shape;
  Tensor a, b;
  MatmulArgs args;
};

MatmulPlan plan_matmul(const char* op, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check_same(op, a, b);
  check_float(op, a);
  TTT_CHECK(a.dim() >= 2 && b.dim() >= 2, op, "both inputs need at least 2 dims, got ", a.describe(), " and ", b.describe());
  const int64_t m = a.size(trans_a ? -1 : -2), ka = a.size(trans_a ? -2 : -1);
  const int64_t kb = b.size(trans_b ? -1 : -2), n = b.size(trans_b ? -2 : -1);
  TTT_CHECK(ka == kb, op, "inner dims differ: ", a.describe(), (trans_a ? " (transposed)" : ""), " x ", b.describe(),
            (trans_b ? " (transposed)" : ""), ": ", ka, " vs ", kb);
  Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(batch_a, batch_b, op);
  MatmulPlan plan;
  plan.out_shape = batch;
  plan.out_shape.push_back(m);
  plan.out_shape.push_back(n);

  // Each operand either has the full batch (stride = one matrix), one matrix for all (stride 0),
  // or a partial broadcast, which we materialise.
  auto batched = [&](const Tensor& t, const Shape& tb, int64_t& stride) {
    const int64_t mat = t.size(-1) * t.size(-2);
    if (numel_of(tb) == 1) {
      stride = 0;
      return t;
    }
    stride = mat;
    if (numel_of(tb) == numel_of(batch)) return t;
    Shape full = batch;
    full.push_back(t.size(-2));
    full.push_back(t.size(-1));
    return expand(t, full);
  };
  MatmulArgs& args = plan.args;
  args.batch = numel_of(batch);
  args.m = m;
  args.n = n;
  args.k = ka;
  args.trans_a = trans_a;
  args.trans_b = trans_b;
  plan.a = batched(a, batch_a, args.stride_a);
  plan.b = batched(b, batch_b, args.stride_b);
  args.stride_c = m * n;
  args.precision = matmul_precision();
  if (args.batch > 1 && args.stride_b == 0 && args.stride_a != 0 && !trans_a) {
    // one B for every batch entry (a Linear's weight) and A's rows stacked: one product of
    // [batch * m, k] rows, which reads B once (a batched product of batch x 1 rows, a streaming
    // step's, read the whole weight once per sequence)
    args.m = args.batch * m;
    args.batch = 1;
    args.stride_a = args.stride_c = 0;
  }
  return plan;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  MatmulPlan plan = plan_matmul("matmul", a, b, trans_a, trans_b);
  Tensor c = empty(plan.out_shape, a.dtype(), a.device());
  if (!skip_kernel(c)) TTT_RUN_KERNEL(a, matmul, plan.a, plan.b, c, plan.args);
  return c;
}

void matmul_accumulate(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, const Tensor& c) {
  MatmulPlan plan = plan_matmul("matmul_accumulate", a, b, trans_a, trans_b);
  check_defined("matmul_accumulate", c, "output");
  TTT_CHECK(c.shape() == plan.out_shape && c.dtype() == a.dtype() && c.device() == a.device(), "matmul_accumulate", "C ",
            c.describe(), " must be the product's ", shape_str(plan.out_shape), " in A's dtype and device (A is ", a.describe(),
            ")");
  plan.args.accumulate = true;
  if (!skip_kernel(c)) TTT_RUN_KERNEL(a, matmul, plan.a, plan.b, c, plan.args);
}

void matmul_region(const Tensor& a, const Tensor& b, const Tensor& c, const MatmulArgs& g) {
  check_same("matmul_region", a, b);
  check_float("matmul_region", a);
  check_defined("matmul_region", c, "output");
  // C has A's dtype, or f32 for bf16 operands (the products sum in f32 either way)
  TTT_CHECK(c.device() == a.device() && (c.dtype() == a.dtype() || (a.dtype() == DType::bf16 && c.dtype() == DType::f32)),
            "matmul_region", "C ", c.describe(), " must have A's dtype and device, or be f32 for bf16 A and B; A is ",
            a.describe());
  TTT_CHECK(g.m > 0 && g.n > 0 && g.k > 0 && g.batch > 0, "matmul_region", "needs positive sizes, got batch ", g.batch, ", m ",
            g.m, ", n ", g.n, ", k ", g.k);
  // A matrix of rows x cols stored with row length ld from `offset`, `batch` times `stride` apart.
  auto check_fits = [&](const char* what, const Tensor& t, int64_t rows, int64_t cols, int64_t ld, int64_t offset,
                        int64_t stride) {
    TTT_CHECK(ld >= cols && offset >= 0 && stride >= 0, "matmul_region", what, ": row length ", ld, " for ", cols,
              " columns, offset ", offset, ", batch stride ", stride);
    const int64_t last = offset + (g.batch - 1) * stride + (rows - 1) * ld + cols - 1;
    TTT_CHECK(last < t.numel(), "matmul_region", what, " reaches element ", last, " of ", t.describe());
  };
  check_fits("A", a, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, matmul_lda(g), g.offset_a, g.stride_a);
  check_fits("B", b, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, matmul_ldb(g), g.offset_b, g.stride_b);
  check_fits("C", c, g.m, g.n, matmul_ldc(g), g.offset_c, g.stride_c);
  MatmulArgs args = g;
  args.precision = matmul_precision();
  if (!skip_kernel(c)) TTT_RUN_KERNEL(a, matmul, a, b, c, args);
}

namespace {
std::atomic<MatmulPrecision> g_matmul_precision{MatmulPrecision::f32};
}
void set_matmul_precision(MatmulPrecision precision) { g_matmul_precision = precision; }
MatmulPrecision matmul_precision() { return g_matmul_precision.load(std::memory_order_relaxed); }

Tensor permute(const Tensor& x, const std::vector<int64_t>& perm) {
  check_defined("permute", x, "input");
  const int64_t rank = x.dim();
  TTT_CHECK(static_cast<int64_t>(perm.size()) == rank, "permute", "permutation of length ", perm.size(), " for ", x.describe());
  std::vector<bool> seen(rank, false);
  Shape out_shape(rank);
  Shape st = contiguous_strides(x.shape());
  GatherArgs args;
  TTT_CHECK(rank <= kMaxDims, "permute", "rank ", rank, " exceeds ", kMaxDims);
  args.rank = static_cast<int>(rank);
  for (int64_t i = 0; i < rank; ++i) {
    int64_t p = normalize_dim(perm[i], rank, "permute");
    TTT_CHECK(!seen[p], "permute", "dim ", p, " appears twice in the permutation");
    seen[p] = true;
    out_shape[i] = x.shape()[p];
    args.out_shape[i] = out_shape[i];
    args.in_stride[i] = st[p];
  }
  // dims of size 1 moved, the others in their order: the same elements in the same order, a view
  // (a streaming step's [B = 1, 1, 3, H, d] -> [3, B, H, 1, d] costs no copy)
  std::vector<int64_t> moved;
  for (int64_t i = 0; i < rank; ++i)
    if (x.shape()[static_cast<size_t>(perm[i] < 0 ? perm[i] + rank : perm[i])] != 1)
      moved.push_back(perm[i] < 0 ? perm[i] + rank : perm[i]);
  if (std::is_sorted(moved.begin(), moved.end())) return view_shape(x, out_shape);
  Tensor out = empty(out_shape, x.dtype(), x.device());
  args.numel = out.numel();
  if (!skip_kernel(out)) TTT_RUN_KERNEL(x, gather, x, out, args);
  return out;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  check_defined("expand", x, "input");
  const size_t r = shape.size();
  TTT_CHECK(x.shape().size() <= r, "expand", "cannot expand ", x.describe(), " to fewer dims ", shape_str(shape));
  TTT_CHECK(static_cast<int>(r) <= kMaxDims, "expand", "rank ", r, " exceeds ", kMaxDims);
  Shape st = contiguous_strides(x.shape());
  GatherArgs args;
  args.rank = static_cast<int>(r);
  const size_t lead = r - x.shape().size();
  for (size_t i = 0; i < r; ++i) {
    int64_t src = i < lead ? 1 : x.shape()[i - lead];
    TTT_CHECK(src == shape[i] || src == 1, "expand", "cannot expand ", x.describe(), " to ", shape_str(shape));
    args.out_shape[i] = shape[i];
    args.in_stride[i] = (i < lead || src == 1) ? 0 : st[i - lead];
  }
  Tensor out = empty(shape, x.dtype(), x.device());
  args.numel = out.numel();
  if (!skip_kernel(out)) TTT_RUN_KERNEL(x, gather, x, out, args);
  return out;
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
  check_defined("slice", x, "input");
  dim = normalize_dim(dim, x.dim(), "slice");
  const int64_t n = x.shape()[dim];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape out_shape = x.shape();
  out_shape[dim] = end - start;
  DimView v = dim_view(x.shape(), dim);
  if (v.outer == 1)  // a contiguous run of the storage: share it
    return Tensor::make(x.storage(), x.storage_offset() + start * v.inner, out_shape, x.dtype());
  Tensor out = empty(out_shape, x.dtype(), x.device());
  if (skip_kernel(out)) return out;
  BlockCopyArgs args{v.outer, v.inner, end - start, n, start, end - start, 0};
  TTT_RUN_KERNEL(x, copy_block, x, out, args);
  return out;
}

Tensor slice_backward(const Tensor& g, const Shape& full_shape, int64_t dim, int64_t start) {
  Tensor out = zeros(full_shape, g.dtype(), g.device());
  if (skip_kernel(g) || out.device().is_meta()) return out;
  DimView v = dim_view(full_shape, dim);
  BlockCopyArgs args{v.outer, v.inner, g.shape()[dim], g.shape()[dim], 0, v.dim, start};
  TTT_RUN_KERNEL(g, copy_block, g, out, args);
  return out;
}

Tensor cat(const std::vector<Tensor>& xs, int64_t dim) {
  TTT_CHECK(!xs.empty(), "cat", "needs at least one tensor");
  const Tensor& first = xs[0];
  check_defined("cat", first, "tensor 0");
  dim = normalize_dim(dim, first.dim(), "cat");
  Shape out_shape = first.shape();
  out_shape[dim] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    check_same("cat", first, xs[i]);
    bool ok = xs[i].dim() == first.dim();
    for (int64_t d = 0; ok && d < first.dim(); ++d) ok = d == dim || xs[i].shape()[d] == first.shape()[d];
    TTT_CHECK(ok, "cat", "tensor ", i, " ", xs[i].describe(), " does not match tensor 0 ", first.describe(), " outside dim ",
              dim);
    out_shape[dim] += xs[i].shape()[dim];
  }
  Tensor out = empty(out_shape, first.dtype(), first.device());
  if (out.device().is_meta()) return out;
  DimView v = dim_view(out_shape, dim);
  int64_t at = 0;
  for (const Tensor& x : xs) {
    int64_t count = x.shape()[dim];
    BlockCopyArgs args{v.outer, v.inner, count, count, 0, v.dim, at};
    if (x.numel() > 0) TTT_RUN_KERNEL(x, copy_block, x, out, args);
    at += count;
  }
  return out;
}

Tensor flip(const Tensor& x, int64_t dim) {
  check_defined("flip", x, "input");
  dim = normalize_dim(dim, x.dim(), "flip");
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  if (!skip_kernel(out)) TTT_RUN_KERNEL(x, flip, x, out, dim_view(x.shape(), dim));
  return out;
}

Tensor tri(const Tensor& x, int64_t k, bool lower) {
  const char* name = lower ? "tril" : "triu";
  check_float(name, x);
  TTT_CHECK(x.dim() >= 2, name, "needs at least 2 dims, got ", x.describe());
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  if (!skip_kernel(out)) TTT_RUN_KERNEL(x, tri, x, out, k, lower);
  return out;
}

namespace {
thread_local bool ids_checked = false;
}

EmbeddingIdsChecked::EmbeddingIdsChecked() : previous_(ids_checked) { ids_checked = true; }
EmbeddingIdsChecked::~EmbeddingIdsChecked() { ids_checked = previous_; }

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  check_float("embedding", weight);
  check_index("embedding", ids, weight);
  TTT_CHECK(weight.dim() == 2, "embedding", "weight must be [vocab, dim], got ", weight.describe());
  Shape out_shape = ids.shape();
  out_shape.push_back(weight.size(1));
  Tensor out = empty(out_shape, weight.dtype(), weight.device());
  if (skip_kernel(out)) return out;
  // Out-of-range ids would read outside the table: check them (one small host copy), except while a
  // CUDA graph is captured (no host copies then): the kernel gives such a row NaN, never a bad read.
  // kNoToken (-1) is no token: a zero row (Moshi's zero token).
  if (!ids_checked && !(ids.device().is_cuda() && cuda::capturing()))
    for (int64_t id : ids.to_vector<int64_t>())
      TTT_CHECK(id == kNoToken || (id >= 0 && id < weight.size(0)), "embedding", "id ", id, " is outside the table of ",
                weight.size(0), " rows (", weight.describe(), "; -1 is the only id allowed outside: no token)");
  TTT_RUN_KERNEL(weight, embedding, weight, ids, out);
  return out;
}

Tensor embedding_backward(const Tensor& grad, const Tensor& ids, int64_t vocab) {
  Tensor gw = zeros({vocab, grad.size(-1)}, grad.dtype(), grad.device());
  if (!skip_kernel(grad)) TTT_RUN_KERNEL(grad, embedding_backward, grad, ids, gw);
  return gw;
}

Tensor swiglu(const Tensor& x) {
  check_float("swiglu", x);
  TTT_CHECK(x.dim() >= 1 && x.size(-1) % 2 == 0, "swiglu", "needs an even last dim [..., 2h], got ", x.describe());
  Shape shape = x.shape();
  shape.back() /= 2;
  Tensor y = empty(shape, x.dtype(), x.device());
  if (!skip_kernel(y)) TTT_RUN_KERNEL(x, swiglu, x, y);
  return y;
}

Tensor swiglu_backward(const Tensor& grad, const Tensor& x) {
  Tensor gx = empty(x.shape(), x.dtype(), x.device());
  if (!skip_kernel(gx)) TTT_RUN_KERNEL(x, swiglu_backward, grad, x, gx);
  return gx;
}

Tensor softmax(const Tensor& x, const SoftmaxArgs& args) {
  const char* name = args.log ? "log_softmax" : args.queries > 0 ? "attention_softmax" : "softmax";
  check_float(name, x);
  TTT_CHECK(x.dim() >= 1, name, "needs at least 1 dim");
  TTT_CHECK(!args.log || (args.scale == 1.0 && args.queries == 0), name, "log-softmax takes no scale or mask");
  if (args.queries > 0)
    TTT_CHECK(x.dim() >= 2 && x.size(-2) == args.queries && x.size(-1) == args.queries, name,
              "a masked softmax takes square score matrices [..., ", args.queries, ", ", args.queries, "], got ", x.describe());
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  if (!skip_kernel(y)) TTT_RUN_KERNEL_AS(name, x, softmax, x, y, Tensor(), args);
  return y;
}

SoftmaxOut softmax_with_lse(const Tensor& x, const SoftmaxArgs& args) {
  check_float("softmax_with_lse", x);
  TTT_CHECK(!args.log && x.dim() >= 1, "softmax_with_lse", "a softmax (not log-softmax) over the last dim of ", x.describe());
  SoftmaxOut r{empty(x.shape(), x.dtype(), x.device()), empty(without_last(x.shape()), stat_dtype(x), x.device())};
  if (!skip_kernel(r.y)) TTT_RUN_KERNEL_AS("softmax_with_lse", x, softmax, x, r.y, r.lse, args);
  return r;
}

namespace {
std::atomic<bool> g_flash_attention{true};  // set_flash_attention(false): the composed attention (tests compare them)
thread_local bool g_meta_as_cuda = false;   // MetaAsCuda
}  // namespace

void set_flash_attention(bool on) { g_flash_attention = on; }

MetaAsCuda::MetaAsCuda(bool on) : before_(g_meta_as_cuda) { g_meta_as_cuda = on; }
MetaAsCuda::~MetaAsCuda() { g_meta_as_cuda = before_; }

bool flash_attention_applies(const Tensor& q) {
  const bool cuda = q.defined() && (q.device().is_cuda() || (q.device().is_meta() && g_meta_as_cuda));
  const bool dtype = q.defined() && (q.dtype() == DType::bf16 || q.dtype() == DType::f32);
  return g_flash_attention.load(std::memory_order_relaxed) && cuda && dtype && q.dim() >= 2 &&
         (q.size(-1) == 64 || q.size(-1) == 128) && q.size(-2) > 0 && q.numel() > 0;
}

FlashOut flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const SoftmaxArgs& mask) {
  TTT_CHECK(flash_attention_applies(q), "flash_attention", "takes bf16 or f32 [..., S, 64 or 128] on CUDA, got ", q.describe());
  check_same("flash_attention", q, k);
  check_same("flash_attention", q, v);
  TTT_CHECK(k.shape() == q.shape() && v.shape() == q.shape(), "flash_attention", "q, k and v must have one shape, got ",
            q.describe(), ", ", k.describe(), ", ", v.describe());
  FlashOut r{empty(q.shape(), q.dtype(), q.device()), empty(without_last(q.shape()), DType::f32, q.device())};
  if (q.device().is_meta()) return r;  // sized only (MetaAsCuda)
  profile::KernelTimer timer("flash_attention", q.device());
  cuda::flash_attention(q, k, v, mask, matmul_precision(), r.out, r.lse);
  return r;
}

FlashGrads flash_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                                    const Tensor& grad, const SoftmaxArgs& mask) {
  check_same("flash_attention_backward", q, grad);
  FlashGrads g{empty(q.shape(), q.dtype(), q.device()), empty(k.shape(), k.dtype(), k.device()),
               empty(v.shape(), v.dtype(), v.device())};
  Tensor d_rows = empty(lse.shape(), DType::f32, q.device());
  if (q.device().is_meta()) return g;
  profile::KernelTimer timer("flash_attention_backward", q.device());
  cuda::flash_attention_backward(q, k, v, out, lse, grad, mask, matmul_precision(), g.q, g.k, g.v, d_rows);
  return g;
}

Tensor softmax_from_lse(const Tensor& x, const Tensor& lse, const SoftmaxArgs& args) {
  check_float("softmax_from_lse", x);
  TTT_CHECK(lse.defined() && lse.device() == x.device() && lse.dtype() == stat_dtype(x), "softmax_from_lse", "lse must be ",
            dtype_name(stat_dtype(x)), " on ", x.device().str(), " for ", x.describe(), ", got ", lse.describe());
  TTT_CHECK(!args.log && x.dim() >= 1 && lse.shape() == without_last(x.shape()), "softmax_from_lse", "needs one lse per row of ",
            x.describe(), ", got ", lse.describe());
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  if (!skip_kernel(y)) TTT_RUN_KERNEL(x, softmax_from_lse, x, lse, y, args);
  return y;
}

Tensor softmax_backward(const Tensor& grad, const Tensor& y, const SoftmaxArgs& args) {
  Tensor gx = empty(y.shape(), y.dtype(), y.device());
  if (!skip_kernel(gx)) TTT_RUN_KERNEL(y, softmax_backward, grad, y, gx, args);
  return gx;
}

static void check_norm_param(const char* op, const Tensor& p, const Tensor& x, const char* what) {
  if (!p.defined()) return;
  check_same(op, x, p);
  TTT_CHECK(p.dim() == 1 && p.size(0) == x.size(-1), op, what, " must be [", x.size(-1), "] for input ", x.describe(), ", got ",
            p.describe());
}

LayerNormOut layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  check_float("layer_norm", x);
  TTT_CHECK(x.dim() >= 1, "layer_norm", "needs at least 1 dim");
  check_norm_param("layer_norm", weight, x, "weight");
  check_norm_param("layer_norm", bias, x, "bias");
  LayerNormOut r{empty(x.shape(), x.dtype(), x.device()), empty(without_last(x.shape()), stat_dtype(x), x.device()),
                 empty(without_last(x.shape()), stat_dtype(x), x.device())};
  if (!skip_kernel(r.y)) TTT_RUN_KERNEL(x, layer_norm, x, weight, bias, eps, r.y, r.mean, r.rstd);
  return r;
}

LayerNormGrads layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                   const Tensor& rstd, bool want_weight, bool want_bias) {
  const int64_t d = x.size(-1);
  LayerNormGrads g{empty(x.shape(), x.dtype(), x.device()), want_weight ? zeros({d}, x.dtype(), x.device()) : Tensor(),
                   want_bias ? zeros({d}, x.dtype(), x.device()) : Tensor()};
  if (!skip_kernel(g.x)) TTT_RUN_KERNEL(x, layer_norm_backward, grad, x, weight, mean, rstd, g.x, g.weight, g.bias);
  return g;
}

RmsNormOut rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  check_float("rms_norm", x);
  TTT_CHECK(x.dim() >= 1, "rms_norm", "needs at least 1 dim");
  check_norm_param("rms_norm", weight, x, "weight");
  RmsNormOut r{empty(x.shape(), x.dtype(), x.device()), empty(without_last(x.shape()), stat_dtype(x), x.device())};
  if (!skip_kernel(r.y)) TTT_RUN_KERNEL(x, rms_norm, x, weight, eps, r.y, r.rstd);
  return r;
}

RmsNormGrads rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& rstd, bool want_weight) {
  RmsNormGrads g{empty(x.shape(), x.dtype(), x.device()), want_weight ? zeros({x.size(-1)}, x.dtype(), x.device()) : Tensor()};
  if (!skip_kernel(g.x)) TTT_RUN_KERNEL(x, rms_norm_backward, grad, x, weight, rstd, g.x, g.weight);
  return g;
}

L2NormalizeOut l2_normalize(const Tensor& x, double eps) {
  check_float("l2_normalize", x);
  TTT_CHECK(x.dim() >= 1 && x.size(-1) > 0, "l2_normalize", "needs a non-empty last dim, got ", x.describe());
  L2NormalizeOut r{empty(x.shape(), x.dtype(), x.device()), empty(without_last(x.shape()), stat_dtype(x), x.device())};
  if (!skip_kernel(r.y)) TTT_RUN_KERNEL(x, l2_normalize, x, eps, r.y, r.den);
  return r;
}

Tensor l2_normalize_backward(const Tensor& grad, const Tensor& y, const Tensor& den, double eps) {
  Tensor gx = empty(y.shape(), y.dtype(), y.device());
  if (!skip_kernel(gx)) TTT_RUN_KERNEL(y, l2_normalize_backward, grad, y, den, eps, gx);
  return gx;
}

// The per-head weight and bias [H, d] of the TTT layer's row norms, for x [..., H, L, d].
static void check_head_params(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_same(op, x, weight);
  check_same(op, x, bias);
  const Shape per_head{x.size(-3), x.size(-1)};
  TTT_CHECK(weight.shape() == per_head && bias.shape() == per_head, op, "weight and bias must be [H, d] = ", shape_str(per_head),
            " for ", x.describe(), ", got ", weight.describe(), " and ", bias.describe());
}

// t [..., H, L, d] summed over every dim but H and d, as a gradient of a [H, d] parameter
// (undefined stays undefined: a gradient not wanted).
static Tensor per_head_sum(const Tensor& t) {
  if (!t.defined()) return t;
  return view_shape(sum_to(t, {t.size(-3), 1, t.size(-1)}), {t.size(-3), t.size(-1)});
}

HeadNormOut unbiased_head_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  check_float("unbiased_head_norm", x);
  TTT_CHECK(x.dim() >= 3 && x.size(-1) >= 2, "unbiased_head_norm",
            "expected x [..., H, L, d] with d >= 2 (the std is unbiased), got ", x.describe());
  check_head_params("unbiased_head_norm", x, weight, bias);
  HeadNormOut r{empty(x.shape(), x.dtype(), x.device()), empty(without_last(x.shape()), stat_dtype(x), x.device()),
                empty(without_last(x.shape()), stat_dtype(x), x.device())};
  if (!skip_kernel(r.y)) TTT_RUN_KERNEL(x, unbiased_head_norm, x, weight, bias, eps, r.y, r.mean, r.std_dev);
  return r;
}

// The weight's gradient is the per-head sum of g xhat over every other dim, the bias's that of g.
HeadNormGrads unbiased_head_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                          const Tensor& std_dev, double eps, bool want_weight, bool want_bias) {
  Tensor gx = empty(x.shape(), x.dtype(), x.device());
  Tensor gxhat = want_weight ? empty(x.shape(), x.dtype(), x.device()) : Tensor();  // undefined: not written
  if (!skip_kernel(gx)) TTT_RUN_KERNEL(x, unbiased_head_norm_backward, grad, x, weight, mean, std_dev, eps, gx, gxhat);
  return {gx, per_head_sum(gxhat), want_bias ? per_head_sum(grad) : Tensor()};
}

LnL2GradOut ln_l2_grad(const Tensor& z, const Tensor& target, const Tensor& weight, const Tensor& bias, double eps) {
  check_float("ln_l2_grad", z);
  check_same("ln_l2_grad", z, target);
  TTT_CHECK(z.dim() >= 3 && target.shape() == z.shape(), "ln_l2_grad", "expected z and target [..., H, L, d] of one shape, got ",
            z.describe(), " and ", target.describe());
  check_head_params("ln_l2_grad", z, weight, bias);
  LnL2GradOut r{empty(z.shape(), z.dtype(), z.device()), empty(without_last(z.shape()), stat_dtype(z), z.device()),
                empty(without_last(z.shape()), stat_dtype(z), z.device())};
  if (!skip_kernel(r.g)) TTT_RUN_KERNEL(z, ln_l2_grad, z, target, weight, bias, eps, r.g, r.mean, r.rstd);
  return r;
}

// The kernel writes each row's share of the weight's and bias's gradients; they sum per head.
LnL2GradGrads ln_l2_grad_backward(const Tensor& grad, const Tensor& z, const Tensor& target, const Tensor& weight,
                                  const Tensor& bias, const LnL2GradOut& f, bool want_target, bool want_weight, bool want_bias) {
  auto maybe = [&](bool want) { return want ? empty(z.shape(), z.dtype(), z.device()) : Tensor(); };
  Tensor gz = empty(z.shape(), z.dtype(), z.device()), gt = maybe(want_target), gw = maybe(want_weight), gb = maybe(want_bias);
  if (!skip_kernel(gz))
    TTT_RUN_KERNEL(z, ln_l2_grad_backward, grad, z, target, weight, bias, f.g, f.mean, f.rstd, gz, gt, gw, gb);
  return {gz, gt, per_head_sum(gw), per_head_sum(gb)};
}

CrossEntropyRows cross_entropy_rows(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  check_float("cross_entropy", logits);
  check_index("cross_entropy", targets, logits);
  TTT_CHECK(logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0), "cross_entropy",
            "expected logits [N, V] and targets [N], got ", logits.describe(), " and ", targets.describe());
  const int64_t n = logits.size(0);
  Tensor row_loss = empty({n}, stat_dtype(logits), logits.device());  // the loss of bf16 logits is f32
  Tensor row_valid = empty({n}, stat_dtype(logits), logits.device());
  Tensor lse = empty({n}, stat_dtype(logits), logits.device());
  if (!skip_kernel(row_loss)) {
    if (logits.device().is_cpu())  // targets outside [0, V) that are not ignore_index are user errors
      for (int64_t t : targets.to_vector<int64_t>())
        TTT_CHECK(t == ignore_index || (t >= 0 && t < logits.size(1)), "cross_entropy", "target ", t, " is outside [0, ",
                  logits.size(1), ") and is not the ignore index ", ignore_index);
    TTT_RUN_KERNEL(logits, cross_entropy, logits, targets, ignore_index, row_loss, row_valid, lse);
  }
  return {row_loss, row_valid, lse};
}

Tensor cross_entropy_rows_backward(const Tensor& logits, const Tensor& targets, int64_t ignore_index, const Tensor& lse,
                                   const Tensor& grad_rows) {
  Tensor g = empty(logits.shape(), logits.dtype(), logits.device());
  if (skip_kernel(g)) return g;
  // softmax - onehot per row (0 on ignored rows), then each row times its incoming gradient
  TTT_RUN_KERNEL(logits, cross_entropy_backward, logits, targets, ignore_index, lse, scalar_tensor(1, lse.dtype(), lse.device()),
                 g);
  return binary(BinaryOp::mul, g, view_shape(to_dtype(grad_rows, g.dtype()), {logits.size(0), 1}));
}

CrossEntropyOut cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  const CrossEntropyRows rows = cross_entropy_rows(logits, targets, ignore_index);
  Tensor count = reduce(ReduceOp::sum, rows.valid, {}, false);
  Tensor total = reduce(ReduceOp::sum, rows.loss, {}, false);
  Tensor loss = binary(BinaryOp::div, total, binary(BinaryOp::maximum, count, scalar_tensor(1, count.dtype(), count.device())));
  return {loss, rows.lse, count};
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, int64_t ignore_index, const Tensor& lse,
                              const Tensor& count, const Tensor& grad_loss) {
  Tensor scale =
      binary(BinaryOp::div, grad_loss, binary(BinaryOp::maximum, count, scalar_tensor(1, count.dtype(), count.device())));
  Tensor g = empty(logits.shape(), logits.dtype(), logits.device());
  if (!skip_kernel(g)) TTT_RUN_KERNEL(logits, cross_entropy_backward, logits, targets, ignore_index, lse, scale, g);
  return g;
}

Tensor rope(const Tensor& x, const Tensor& positions, double theta, bool inverse) {
  check_float("rope", x);
  check_index("rope", positions, x);
  TTT_CHECK(x.dim() >= 2 && x.size(-1) % 2 == 0, "rope", "expected [..., L, d] with even d, got ", x.describe());
  TTT_CHECK(positions.dim() == 1 && positions.size(0) == x.size(-2), "rope", "positions must be [L] = [", x.size(-2), "] for ",
            x.describe(), ", got ", positions.describe());
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  if (!skip_kernel(out)) TTT_RUN_KERNEL(x, rope, x, positions, theta, inverse, out);
  return out;
}

}  // namespace ttt::compute
