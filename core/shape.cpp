#include "core/shape.h"

#include "core/error.h"

namespace ttt {

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t e : s)
    if (__builtin_mul_overflow(n, e, &n))  // a shape of 2^40 x 2^40 must not wrap to a small count
      fail("shape", "the shape " + shape_str(s) + " has more than 2^63 elements");
  return n;
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

int64_t normalize_dim(int64_t dim, int64_t rank, const char* op) {
  int64_t d = dim < 0 ? dim + rank : dim;
  TTT_CHECK(d >= 0 && d < rank, op, "dim ", dim, " is out of range for a tensor of rank ", rank, " (valid: ", -rank, " .. ",
            rank - 1, ")");
  return d;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TTT_CHECK(da == db || da == 1 || db == 1, op, "shapes ", shape_str(a), " and ", shape_str(b), " cannot be broadcast (dim ", i,
              ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

}  // namespace ttt
