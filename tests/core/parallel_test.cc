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

TEST(ParallelFor, NestedLoopsRunInlineAndStillVisitEverything) {
  std::vector<std::atomic<int>> seen(64 * 100);
  parallel_for(64, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      parallel_for(100, 1, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t j = b; j < e; ++j) seen[static_cast<std::size_t>(i * 100 + j)]++;
      });
    }
  });
  for (std::size_t k = 0; k < seen.size(); ++k) ASSERT_EQ(seen[k].load(), 1) << k;
}

TEST(ParallelFor, ConcurrentCallersEachGetTheirWholeLoop) {
  constexpr int kCallers = 4;
  std::vector<std::int64_t> sums(kCallers, 0);
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        std::atomic<std::int64_t> sum{0};
        parallel_for(10000, 100, [&](std::int64_t begin, std::int64_t end) {
          std::int64_t local = 0;
          for (std::int64_t i = begin; i < end; ++i) local += i;
          sum += local;
        });
        sums[static_cast<std::size_t>(t)] += sum.load();
      }
    });
  }
  for (std::thread& c : callers) c.join();
  for (std::int64_t s : sums) EXPECT_EQ(s, 50 * (10000LL * 9999 / 2));
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
