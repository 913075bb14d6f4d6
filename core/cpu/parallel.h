// Loops whose iterations are independent, split over the machine's cores: [0, n) in contiguous
// chunks, one thread each (this thread takes the first), small loops inline. For element-wise
// fills whose values do not depend on the split (the counter-based random fills: element i is a
// function of i alone), so the numbers are the same on any machine.
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace ttt::cpu {

// fn(begin, end) over chunks of at least min_chunk elements; fn must not throw.
template <class Fn>
void parallel_chunks(int64_t n, int64_t min_chunk, Fn&& fn) {
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t chunks = std::min(cores, std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk)));
  if (chunks <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t per = (n + chunks - 1) / chunks;
  std::vector<std::thread> threads;
  for (int64_t c = 1; c < chunks && c * per < n; ++c)
    threads.emplace_back([&fn, c, per, n] { fn(c * per, std::min(n, (c + 1) * per)); });
  fn(int64_t{0}, std::min(n, per));
  for (std::thread& t : threads) t.join();
}

}  // namespace ttt::cpu
