// parallel_for: a loop over [0, n) split into contiguous chunks on the machine's cores.
//
// Note: body(begin, end) runs once per chunk, on a process-wide pool of worker threads (created on
// first use, one fewer than the cores) and on the calling thread. Chunks hold at least `grain`
// items, so small loops stay on the calling thread. The chunks depend only on n, grain and the
// core count, and each item is handled by exactly one call: a body whose items are independent
// gives results that do not depend on the split. An exception from a body is rethrown on the
// calling thread after all chunks finish. A parallel_for inside another (or while another thread
// holds the pool) runs its chunks on the calling thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <functional>
#include <vector>

namespace cudanet {

namespace detail {
// The number of threads parallel_for may use (workers + the caller).
std::int64_t parallel_threads();
// Runs task(c) for every c in [0, chunks) on the pool and the calling thread; returns when all
// have finished. task must not throw.
void run_parallel(std::int64_t chunks, const std::function<void(std::int64_t)>& task);
}  // namespace detail

template <typename Body>
void parallel_for(std::int64_t n, std::int64_t grain, Body&& body) {
  if (n <= 0) return;
  const std::int64_t chunks =
      std::clamp<std::int64_t>(n / std::max<std::int64_t>(grain, 1), 1, detail::parallel_threads());
  if (chunks == 1) {
    body(std::int64_t{0}, n);
    return;
  }
  const std::int64_t size = (n + chunks - 1) / chunks;
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(chunks));
  detail::run_parallel(chunks, [&](std::int64_t c) {
    try {
      const std::int64_t begin = c * size, end = std::min(n, begin + size);
      if (begin < end) body(begin, end);
    } catch (...) {
      errors[static_cast<std::size_t>(c)] = std::current_exception();
    }
  });
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace cudanet
