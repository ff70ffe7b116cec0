// parallel_for: a loop over [0, n) split into contiguous chunks on the machine's cores.
//
// Note: body(begin, end) runs once per chunk, the first chunk on the calling thread. Chunks hold at
// least `grain` items, so small loops stay on one thread (starting a thread costs tens of µs).
// The chunks never depend on anything but n, grain and the core count, and each item is handled
// by exactly one call: a body whose items are independent gives results that do not depend on the
// split. An exception from a body is rethrown on the calling thread after all chunks finish;
// when no thread can be started, the remaining chunks run on the calling thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace cudanet {

template <typename Body>
void parallel_for(std::int64_t n, std::int64_t grain, Body&& body) {
  if (n <= 0) return;
  const std::int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  const std::int64_t chunks =
      std::clamp<std::int64_t>(n / std::max<std::int64_t>(grain, 1), 1, cores);
  if (chunks == 1) {
    body(std::int64_t{0}, n);
    return;
  }
  const std::int64_t size = (n + chunks - 1) / chunks;
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(chunks));
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(chunks - 1));
  const auto run = [&](std::int64_t c) {
    try {
      const std::int64_t begin = c * size, end = std::min(n, begin + size);
      if (begin < end) body(begin, end);
    } catch (...) {
      errors[static_cast<std::size_t>(c)] = std::current_exception();
    }
  };
  std::int64_t next = 1;
  try {
    for (; next < chunks; ++next) pool.emplace_back(run, next);
  } catch (const std::system_error&) {  // no more threads to be had: the rest run here
  }
  for (std::int64_t c = next; c < chunks; ++c) run(c);
  run(0);
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace cudanet
