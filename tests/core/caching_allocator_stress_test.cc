// Randomised stress of the caching allocator on a fake backend: after every operation, live blocks
// never overlap (nor overlap freed blocks a stream may still use), every block lies in a segment
// of its own stream, and the statistics add up exactly.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <gtest/gtest.h>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "core/caching_allocator.h"
#include "core/error.h"
#include "tests/core/fake_backend.h"

namespace cudanet {
namespace {

using fakes::FakeBackend;

constexpr std::size_t kMiB = 1024 * 1024;

struct Range {
  std::uintptr_t begin;
  std::size_t size;
  std::uintptr_t stream;
};

// The test's own model of what the allocator must not hand out.
class StressHarness {
 public:
  StressHarness(std::size_t capacity, bool bypass, std::uint64_t seed)
      : fake_(capacity), core_(fake_, CachingAllocatorOptions{"fake:0", bypass}), rng_(seed) {}

  void run(int ops) {
    for (int op = 0; op < ops; ++op) {
      const double r = uniform();
      if (live_.empty() || (r < 0.5 && live_.size() < 160) || (r < 0.3)) {
        allocate();
      } else if (r < 0.85) {
        free(pick());
      } else if (r < 0.95) {
        const Range& range = live_[pick()];
        const std::uintptr_t stream = random_stream();
        core_.record_stream(reinterpret_cast<void*>(range.begin), stream);
        if (stream != range.stream) uses_[range.begin].push_back(stream);
      } else if (r < 0.999) {
        complete(random_stream());
      } else {
        core_.empty_cache();
      }
      check(op);
      if (::testing::Test::HasFatalFailure()) return;
    }
    while (!live_.empty()) free(live_.size() - 1);
    core_.empty_cache();
    check(ops);
    EXPECT_EQ(fake_.used_bytes(), 0u);
    EXPECT_EQ(fake_.live_events(), 0u);
  }

  std::int64_t ooms() const { return ooms_; }
  std::int64_t allocations() const { return allocations_; }

 private:
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  std::size_t pick() {
    return std::uniform_int_distribution<std::size_t>(0, live_.size() - 1)(rng_);
  }
  std::uintptr_t random_stream() { return kStreams[rng_() % 4]; }

  // 1 B to 30 MiB: half small (log-uniform up to 1 MiB), then 1-10 MiB, then 10-30 MiB.
  std::size_t random_size() {
    const double r = uniform();
    if (r < 0.55) return static_cast<std::size_t>(std::exp(uniform() * std::log(double(kMiB))));
    if (r < 0.9) return kMiB + rng_() % (9 * kMiB);
    return 10 * kMiB + rng_() % (20 * kMiB + 1);
  }

  void allocate() {
    const std::size_t nbytes = random_size();
    const std::uintptr_t stream = random_stream();
    void* p = nullptr;
    try {
      p = core_.malloc(nbytes, stream);
    } catch (const OutOfMemoryError&) {
      ++ooms_;
      return;
    }
    ++allocations_;
    const std::size_t size = core_.bypass() ? nbytes : CachingAllocatorCore::round_size(nbytes);
    const auto begin = reinterpret_cast<std::uintptr_t>(p);
    ASSERT_EQ(begin % (core_.bypass() ? 256 : 512), 0u);
    forget_guards_if_synchronized();
    for (const Range& other : live_) ASSERT_FALSE(overlaps(begin, size, other)) << "live block";
    for (const auto& [range, streams] : guarded_) {
      ASSERT_FALSE(overlaps(begin, size, range)) << "block still used by another stream";
    }
    void* segment = fake_.allocation_containing(p, size);
    ASSERT_NE(segment, nullptr) << "block outside every segment";
    const auto [it, fresh] = segment_streams_.emplace(segment, stream);
    ASSERT_EQ(it->second, stream) << "block from a segment of another stream";
    (void)fresh;
    live_.push_back({begin, size, stream});
    allocated_ += static_cast<std::int64_t>(size);
  }

  void free(std::size_t index) {
    const Range range = live_[index];
    live_[index] = live_.back();
    live_.pop_back();
    core_.free(reinterpret_cast<void*>(range.begin));
    allocated_ -= static_cast<std::int64_t>(range.size);
    auto uses = uses_.find(range.begin);
    if (uses != uses_.end()) {
      guarded_.push_back({range, uses->second});
      uses_.erase(uses);
    }
  }

  void complete(std::uintptr_t stream) {
    fake_.complete_events(stream);
    for (auto& [range, streams] : guarded_) {
      std::vector<std::uintptr_t> left;
      for (std::uintptr_t s : streams) {
        if (s != stream) left.push_back(s);
      }
      streams.swap(left);
    }
    guarded_.erase(std::remove_if(guarded_.begin(), guarded_.end(),
                                  [](const auto& g) { return g.second.empty(); }),
                   guarded_.end());
  }

  // A backend synchronisation (empty_cache, out-of-memory retry) completes every event.
  void forget_guards_if_synchronized() {
    if (fake_.synchronizations() != synchronizations_) guarded_.clear();
    synchronizations_ = fake_.synchronizations();
  }

  static bool overlaps(std::uintptr_t begin, std::size_t size, const Range& r) {
    return begin < r.begin + r.size && r.begin < begin + size;
  }

  void check(int op) {
    forget_guards_if_synchronized();
    const MemoryStats s = core_.stats();
    ASSERT_EQ(s.allocated_bytes.current, allocated_) << "op " << op;
    ASSERT_EQ(s.allocated_blocks.current, static_cast<std::int64_t>(live_.size())) << "op " << op;
    ASSERT_GE(s.active_bytes.current, s.allocated_bytes.current) << "op " << op;
    ASSERT_EQ(s.reserved_bytes.current, static_cast<std::int64_t>(fake_.used_bytes()));
    ASSERT_EQ(s.segments.current, static_cast<std::int64_t>(fake_.live_allocations()));
    ASSERT_EQ(s.num_backend_mallocs, fake_.mallocs());
    ASSERT_EQ(s.num_backend_frees, fake_.frees());
    ASSERT_EQ(s.num_ooms, ooms_);
    ASSERT_LE(s.allocated_bytes.current, s.allocated_bytes.peak);
    if (op % 1000 == 0) {
      ASSERT_NO_THROW(core_.check_invariants()) << "op " << op;
    }
  }

  static constexpr std::uintptr_t kStreams[4] = {0, 0x1000, 0x2000, 0x3000};
  FakeBackend fake_;
  CachingAllocatorCore core_;
  std::mt19937_64 rng_;
  std::vector<Range> live_;
  std::map<std::uintptr_t, std::vector<std::uintptr_t>> uses_;  // live block -> other streams
  std::vector<std::pair<Range, std::vector<std::uintptr_t>>> guarded_;
  std::map<void*, std::uintptr_t> segment_streams_;
  std::int64_t allocated_ = 0;
  std::int64_t synchronizations_ = 0;
  std::int64_t ooms_ = 0;
  std::int64_t allocations_ = 0;
};

TEST(CachingAllocatorStress, RandomOperationsKeepTheInvariants) {
  const auto start = std::chrono::steady_clock::now();
  StressHarness harness(1024 * kMiB, /*bypass=*/false, /*seed=*/20240607);
  harness.run(120000);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ stress   ] 120000 ops, %lld allocations, %lld out-of-memory, %.2f s\n",
              static_cast<long long>(harness.allocations()), static_cast<long long>(harness.ooms()),
              seconds);
  EXPECT_GT(harness.allocations(), 40000);
}

TEST(CachingAllocatorStress, RandomOperationsInBypassMode) {
  StressHarness harness(1024 * kMiB, /*bypass=*/true, /*seed=*/7);
  harness.run(20000);
}

TEST(CachingAllocatorStress, ThreadsShareOneAllocator) {
  FakeBackend fake(4096 * kMiB);
  CachingAllocatorCore core(fake);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&core, t] {
      std::mt19937 rng(t);
      std::vector<void*> mine;
      const auto stream = static_cast<std::uintptr_t>(t);
      for (int i = 0; i < 20000; ++i) {
        if (mine.size() < 64 && (mine.empty() || rng() % 2 == 0)) {
          mine.push_back(core.malloc(1 + rng() % (4 * kMiB), stream));
        } else {
          const std::size_t k = rng() % mine.size();
          core.free(mine[k]);
          mine[k] = mine.back();
          mine.pop_back();
        }
      }
      for (void* p : mine) core.free(p);
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_NO_THROW(core.check_invariants());
  const MemoryStats s = core.stats();
  EXPECT_EQ(s.allocated_bytes.current, 0);
  EXPECT_EQ(s.active_blocks.current, 0);
  EXPECT_EQ(s.reserved_bytes.current, static_cast<std::int64_t>(fake.used_bytes()));
}

}  // namespace
}  // namespace cudanet
