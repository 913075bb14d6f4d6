// Shapes are plain vectors of extents, outermost first. Helpers for counting, printing,
// normalising negative dims and broadcasting (NumPy rules: align right, 1 stretches).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ttt {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& s);
std::string shape_str(const Shape& s);                             // "[2, 3]"
int64_t normalize_dim(int64_t dim, int64_t rank, const char* op);  // -1 -> rank-1, with a range check
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
Shape contiguous_strides(const Shape& s);  // row-major element strides

}  // namespace ttt
