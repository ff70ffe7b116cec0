// parallel_for: every item exactly once, small loops inline, exceptions reach the caller.
#include "core/parallel.h"

#include <atomic>
#include <gtest/gtest.h>
#include <stdexcept>
#include <thread>
#include <vector>

namespace cudanet {
namespace {

TEST(ParallelFor, VisitsEveryItemExactlyOnce) {
  for (std::int64_t n : {0, 1, 7, 1000, 100003}) {
    std::vector<std::atomic<int>> seen(static_cast<std::size_t>(n));
    parallel_for(n, 10, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) seen[static_cast<std::size_t>(i)]++;
    });
    for (std::int64_t i = 0; i < n; ++i)
      ASSERT_EQ(seen[static_cast<std::size_t>(i)].load(), 1) << i;
  }
}

TEST(ParallelFor, SmallLoopsRunOnTheCallingThread) {
  const auto caller = std::this_thread::get_id();
  int calls = 0;
  parallel_for(100, 1000, [&](std::int64_t begin, std::int64_t end) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(begin, 0);
    EXPECT_EQ(end, 100);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
}

TEST(ParallelFor, ExceptionsFromAnyChunkReachTheCaller) {
  EXPECT_THROW(parallel_for(1 << 20, 1,
                            [&](std::int64_t begin, std::int64_t end) {
                              if (begin <= (1 << 19) && (1 << 19) < end) {
                                throw std::runtime_error("chunk failed");
                              }
                            }),
               std::runtime_error);
}

}  // namespace
}  // namespace cudanet
