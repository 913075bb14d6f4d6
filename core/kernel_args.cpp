#include "core/kernel_args.h"

#include "core/error.h"

namespace ttt {

BroadcastArgs make_broadcast_args(const Shape& out, const Shape& a, const Shape& b, const char* op) {
  BroadcastArgs args;
  args.numel = numel_of(out);
  args.same_shape = (a == out && b == out);
  const size_t r = out.size();
  // Right-align a and b against out; a dim of extent 1 gets stride 0.
  auto strides_for = [&](const Shape& s) {
    Shape padded(r, 1);
    for (size_t i = 0; i < s.size(); ++i) padded[r - s.size() + i] = s[i];
    Shape st = contiguous_strides(padded);
    for (size_t i = 0; i < r; ++i)
      if (padded[i] == 1) st[i] = 0;
    return st;
  };
  Shape sa = strides_for(a), sb = strides_for(b);
  // Merge dim i into dim i-1 when both inputs are contiguous across the pair.
  std::vector<int64_t> shape, va, vb;
  for (size_t i = 0; i < r; ++i) {
    if (out[i] == 1) continue;  // unit dims carry no index
    if (!shape.empty() && va.back() == sa[i] * out[i] && vb.back() == sb[i] * out[i]) {
      shape.back() *= out[i];
      va.back() = sa[i];
      vb.back() = sb[i];
    } else {
      shape.push_back(out[i]);
      va.push_back(sa[i]);
      vb.push_back(sb[i]);
    }
  }
  TTT_CHECK(shape.size() <= kMaxDims, op, "broadcast of ", shape_str(a), " and ", shape_str(b), " needs more than ", kMaxDims,
            " dims");
  args.rank = static_cast<int>(shape.size());
  for (int i = 0; i < args.rank; ++i) {
    args.shape[i] = shape[i];
    args.stride_a[i] = va[i];
    args.stride_b[i] = vb[i];
  }
  return args;
}

DimView dim_view(const Shape& s, int64_t dim) {
  DimView v;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
    if (i < dim)
      v.outer *= s[i];
    else if (i == dim)
      v.dim = s[i];
    else
      v.inner *= s[i];
  }
  return v;
}

}  // namespace ttt
