// CPU kernel that reduces along a dim: sum or max. Sums accumulate in double.
#include <cmath>
#include <limits>

#include "core/backend.h"
#include "core/cpu/dispatch.h"

namespace ttt::cpu {

void reduce(ReduceOp op, const Tensor& x, const Tensor& out, const DimView& v) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t i = 0; i < v.inner; ++i) {
        const T* p = px + o * v.dim * v.inner + i;
        if (op == ReduceOp::sum) {
          double acc = 0;
          for (int64_t r = 0; r < v.dim; ++r) acc += p[r * v.inner];
          po[o * v.inner + i] = static_cast<T>(acc);
        } else {
          T m = p[0];
          for (int64_t r = 1; r < v.dim; ++r) m = p[r * v.inner] > m ? p[r * v.inner] : m;
          po[o * v.inner + i] = m;
        }
      }
  });
}

}  // namespace ttt::cpu
