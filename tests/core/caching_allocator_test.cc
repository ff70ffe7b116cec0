// The caching allocator's pool logic on a fake backend of fixed capacity: rounding, pools,
// best fit, split and merge, streams and events, out-of-memory handling, statistics, bypass mode.
#include "core/caching_allocator.h"

#include <cstdint>
#include <gtest/gtest.h>
#include <limits>
#include <string>

#include "core/error.h"
#include "tests/core/fake_backend.h"

namespace cudanet {
namespace {

using fakes::FakeBackend;

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * 1024;
constexpr std::uintptr_t kStreamA = 0;  // the default stream
constexpr std::uintptr_t kStreamB = 0xB000;
constexpr std::uintptr_t kStreamC = 0xC000;

char* at(void* p) {
  return static_cast<char*>(p);
}
std::int64_t i64(std::size_t n) {
  return static_cast<std::int64_t>(n);
}

class CachingAllocatorTest : public ::testing::Test {
 protected:
  explicit CachingAllocatorTest(std::size_t capacity = 1024 * kMiB, bool bypass = false)
      : fake_(capacity), core_(fake_, CachingAllocatorOptions{"fake:0", bypass}) {}
  void TearDown() override { EXPECT_NO_THROW(core_.check_invariants()); }

  FakeBackend fake_;
  CachingAllocatorCore core_;
};

TEST_F(CachingAllocatorTest, RoundsRequestsTo512Bytes) {
  EXPECT_EQ(CachingAllocatorCore::round_size(1), 512u);
  EXPECT_EQ(CachingAllocatorCore::round_size(512), 512u);
  EXPECT_EQ(CachingAllocatorCore::round_size(513), 1024u);
  EXPECT_EQ(CachingAllocatorCore::round_size(kMiB + 1), kMiB + 512);
  void* a = core_.malloc(1, kStreamA);
  void* b = core_.malloc(513, kStreamA);
  void* c = core_.malloc(512, kStreamA);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % 512, 0u);
  EXPECT_EQ(at(b), at(a) + 512);  // carved one after the other from the same segment
  EXPECT_EQ(at(c), at(b) + 1024);
  const MemoryStats s = core_.stats();
  EXPECT_EQ(s.allocated_bytes.current, 512 + 1024 + 512);
  EXPECT_EQ(s.allocated_blocks.current, 3);
  EXPECT_EQ(s.reserved_bytes.current, i64(2 * kMiB));
  EXPECT_EQ(s.segments.current, 1);
  EXPECT_EQ(s.num_backend_mallocs, 1);
  core_.free(a);
  core_.free(b);
  core_.free(c);
  EXPECT_EQ(core_.stats().allocated_bytes.current, 0);
  EXPECT_EQ(core_.stats().reserved_bytes.current, i64(2 * kMiB));  // cached, not released
}

TEST_F(CachingAllocatorTest, ZeroBytesAndNullptr) {
  EXPECT_EQ(core_.malloc(0, kStreamA), nullptr);
  EXPECT_NO_THROW(core_.free(nullptr));
  EXPECT_NO_THROW(core_.record_stream(nullptr, kStreamB));
  EXPECT_EQ(core_.stats().allocated_blocks.current, 0);
  EXPECT_EQ(fake_.malloc_calls(), 0);
}

TEST_F(CachingAllocatorTest, UnknownPointerIsAnError) {
  void* p = core_.malloc(100, kStreamA);
  int local = 0;
  EXPECT_THROW(core_.free(&local), ValueError);
  EXPECT_THROW(core_.record_stream(&local, kStreamB), ValueError);
  core_.free(p);
  EXPECT_THROW(core_.free(p), ValueError);  // double free
}

TEST_F(CachingAllocatorTest, SmallAndLargePoolSegmentSizes) {
  EXPECT_EQ(CachingAllocatorCore::segment_size(512), 2 * kMiB);
  EXPECT_EQ(CachingAllocatorCore::segment_size(kMiB), 2 * kMiB);
  EXPECT_EQ(CachingAllocatorCore::segment_size(kMiB + 512), 20 * kMiB);
  EXPECT_EQ(CachingAllocatorCore::segment_size(10 * kMiB - 512), 20 * kMiB);
  EXPECT_EQ(CachingAllocatorCore::segment_size(10 * kMiB), 10 * kMiB);
  EXPECT_EQ(CachingAllocatorCore::segment_size(11 * kMiB + 512), 12 * kMiB);
  // Each request on its own stream, so that each gets its own segment.
  const struct {
    std::size_t request, segment;
  } cases[] = {{1, 2 * kMiB},          {kMiB, 2 * kMiB},
               {kMiB + 1, 20 * kMiB},  {10 * kMiB - 512, 20 * kMiB},
               {10 * kMiB, 10 * kMiB}, {11 * kMiB + 1, 12 * kMiB},
               {30 * kMiB, 30 * kMiB}};
  std::uintptr_t stream = 0x100;
  std::int64_t reserved = 0;
  for (const auto& c : cases) {
    void* p = core_.malloc(c.request, ++stream);
    EXPECT_EQ(fake_.allocation_size(p), c.segment) << "request " << c.request;
    reserved += i64(c.segment);
    EXPECT_EQ(core_.stats().reserved_bytes.current, reserved);
  }
  // A small request never comes from a large segment (and vice versa), even on the same stream.
  void* big = core_.malloc(2 * kMiB, kStreamA);
  core_.free(big);
  void* small = core_.malloc(kKiB, kStreamA);
  EXPECT_EQ(fake_.allocation_size(small), 2 * kMiB);
  EXPECT_EQ(core_.stats().segments.current, 9);
}

TEST_F(CachingAllocatorTest, BestFitTakesTheSmallestBlockThatFits) {
  // Free blocks of 4, 2 and 8 KiB, kept apart by live separators.
  void* a = core_.malloc(4 * kKiB, kStreamA);
  void* s1 = core_.malloc(512, kStreamA);
  void* b = core_.malloc(2 * kKiB, kStreamA);
  void* s2 = core_.malloc(512, kStreamA);
  void* c = core_.malloc(8 * kKiB, kStreamA);
  void* s3 = core_.malloc(512, kStreamA);
  core_.free(a);
  core_.free(b);
  core_.free(c);
  EXPECT_EQ(core_.malloc(2 * kKiB, kStreamA), b);             // exact fit
  EXPECT_EQ(core_.malloc(3 * kKiB, kStreamA), a);             // 4 KiB, split: 1 KiB stays free
  EXPECT_EQ(core_.malloc(5 * kKiB, kStreamA), c);             // 8 KiB, split
  EXPECT_EQ(core_.malloc(kKiB, kStreamA), at(a) + 3 * kKiB);  // the 1 KiB remainder of a
  EXPECT_EQ(core_.stats().allocated_bytes.current,
            i64(2 * kKiB + 3 * kKiB + 5 * kKiB + kKiB + 3 * 512));
  EXPECT_EQ(core_.stats().segments.current, 1);
  (void)s1, (void)s2, (void)s3;
}

TEST_F(CachingAllocatorTest, FreedNeighboursMergeBackIntoOneSegmentBlock) {
  void* p1 = core_.malloc(512 * kKiB, kStreamA);
  void* p2 = core_.malloc(512 * kKiB, kStreamA);
  void* p3 = core_.malloc(512 * kKiB, kStreamA);
  EXPECT_EQ(at(p2), at(p1) + 512 * kKiB);
  core_.free(p2);                               // between two live blocks: stays a block of its own
  core_.free(p1);                               // merges with p2
  EXPECT_EQ(core_.malloc(kMiB, kStreamA), p1);  // the merged 1 MiB block
  core_.free(p1);
  core_.empty_cache();  // p3 still lives: the segment stays
  EXPECT_EQ(core_.stats().reserved_bytes.current, i64(2 * kMiB));
  EXPECT_EQ(fake_.frees(), 0);
  core_.free(p3);  // merges with both sides: the whole segment is one free block again
  EXPECT_NO_THROW(core_.check_invariants());
  core_.empty_cache();
  const MemoryStats s = core_.stats();
  EXPECT_EQ(s.reserved_bytes.current, 0);
  EXPECT_EQ(s.segments.current, 0);
  EXPECT_EQ(s.num_backend_frees, 1);
  EXPECT_EQ(fake_.used_bytes(), 0u);
}

TEST_F(CachingAllocatorTest, SplitThresholdsPerPool) {
  // Small pool: a remainder of exactly 512 B is split off.
  void* a = core_.malloc(kMiB, kStreamA);
  void* b = core_.malloc(kMiB - 512, kStreamA);
  void* c = core_.malloc(512, kStreamA);
  EXPECT_EQ(at(c), at(a) + 2 * kMiB - 512);
  EXPECT_EQ(core_.stats().segments.current, 1);
  // Large pool: a remainder of 1 MiB or less is not split off; the block keeps it.
  void* d = core_.malloc(3 * kMiB, kStreamB);
  void* sep = core_.malloc(2 * kMiB, kStreamB);
  core_.free(d);
  void* e = core_.malloc(2 * kMiB + 512 * kKiB, kStreamB);
  EXPECT_EQ(e, d);  // best fit: the 3 MiB block, not the 15 MiB rest of the segment
  EXPECT_EQ(core_.stats().allocated_bytes.current, i64(2 * kMiB + 2 * kMiB + 2560 * kKiB));
  EXPECT_EQ(core_.stats().active_bytes.current, i64(2 * kMiB + 2 * kMiB + 3 * kMiB));  // + slack
  core_.free(e);
  void* f = core_.malloc(kMiB + 512, kStreamB);  // remainder > 1 MiB: split
  EXPECT_EQ(f, d);
  EXPECT_EQ(core_.malloc(kMiB + 512, kStreamB), at(d) + kMiB + 512);
  EXPECT_EQ(core_.stats().segments.current, 2);
  (void)b, (void)sep;
}

TEST_F(CachingAllocatorTest, FreedBlockIsReusedOnlyOnItsStream) {
  void* p = core_.malloc(4 * kKiB, kStreamA);
  core_.free(p);
  void* q = core_.malloc(4 * kKiB, kStreamB);
  EXPECT_NE(q, p);
  EXPECT_EQ(core_.stats().num_backend_mallocs, 2);  // stream B got a segment of its own
  EXPECT_EQ(core_.malloc(4 * kKiB, kStreamA), p);
  EXPECT_EQ(core_.stats().num_backend_mallocs, 2);
}

TEST_F(CachingAllocatorTest, RecordStreamDelaysReuseUntilEventsComplete) {
  void* p = core_.malloc(4 * kKiB, kStreamA);
  core_.record_stream(p, kStreamB);
  core_.record_stream(p, kStreamC);
  core_.record_stream(p, kStreamB);  // once per stream
  core_.record_stream(p, kStreamA);  // its own stream: nothing to record
  core_.free(p);
  EXPECT_EQ(fake_.live_events(), 2u);
  MemoryStats s = core_.stats();
  EXPECT_EQ(s.allocated_bytes.current, 0);
  EXPECT_EQ(s.active_bytes.current, i64(4 * kKiB));  // freed, but still used on B and C
  EXPECT_EQ(s.active_blocks.current, 1);

  void* q = core_.malloc(4 * kKiB, kStreamA);
  EXPECT_NE(q, p);
  fake_.complete_events(kStreamB);
  void* r = core_.malloc(4 * kKiB, kStreamA);
  EXPECT_NE(r, p);  // C has not finished yet
  EXPECT_EQ(fake_.live_events(), 1u);
  fake_.complete_events(kStreamC);
  EXPECT_EQ(core_.malloc(4 * kKiB, kStreamA), p);  // polled on malloc, back in the pool
  EXPECT_EQ(fake_.live_events(), 0u);
  s = core_.stats();
  EXPECT_EQ(s.allocated_bytes.current, i64(12 * kKiB));
  EXPECT_EQ(s.active_bytes.current, i64(12 * kKiB));
  EXPECT_EQ(s.num_backend_mallocs, 1);
}

// A block used on stream B and freed while B is being captured into a CUDA graph: no event is
// recorded on B then (it would be a node of the graph, and polling it would invalidate the
// capture). The block waits; after the capture the next malloc records the event, and once that
// completes the block is reused as usual.
TEST_F(CachingAllocatorTest, FreeDuringACaptureOfAUseStreamDefersItsEvents) {
  void* a = core_.malloc(kKiB, kStreamA);
  core_.record_stream(a, kStreamB);
  fake_.begin_capture(kStreamB);
  core_.free(a);
  EXPECT_EQ(fake_.live_events(), 0u);
  core_.check_invariants();
  void* b = core_.malloc(kKiB, kStreamA);  // during the capture: a is not reused
  EXPECT_NE(b, a);
  EXPECT_EQ(fake_.live_events(), 0u);
  EXPECT_EQ(core_.stats().active_blocks.current, 2);  // b, and a awaiting the capture's end
  fake_.end_capture();
  void* c = core_.malloc(kKiB, kStreamA);  // records a's event on B; a waits for it
  EXPECT_NE(c, a);
  EXPECT_EQ(fake_.live_events(), 1u);
  core_.check_invariants();
  fake_.complete_events(kStreamB);
  EXPECT_EQ(core_.malloc(kKiB, kStreamA), a);
  EXPECT_EQ(fake_.live_events(), 0u);
  core_.check_invariants();
}

TEST_F(CachingAllocatorTest, EmptyCacheWaitsForPendingEvents) {
  void* p = core_.malloc(100 * kKiB, kStreamA);
  core_.record_stream(p, kStreamB);
  core_.free(p);
  core_.empty_cache();
  EXPECT_EQ(fake_.synchronizations(), 1);
  EXPECT_EQ(fake_.live_events(), 0u);
  const MemoryStats s = core_.stats();
  EXPECT_EQ(s.active_bytes.current, 0);
  EXPECT_EQ(s.reserved_bytes.current, 0);
  EXPECT_EQ(s.num_backend_frees, 1);
  core_.empty_cache();  // nothing pending: no synchronisation
  EXPECT_EQ(fake_.synchronizations(), 1);
}

class CachingAllocatorOomTest : public CachingAllocatorTest {
 protected:
  CachingAllocatorOomTest() : CachingAllocatorTest(64 * kMiB) {}
};

TEST_F(CachingAllocatorOomTest, ReleasesCachedSegmentsAndRetries) {
  void* a = core_.malloc(15 * kMiB, kStreamA);  // a 16 MiB segment
  void* b = core_.malloc(5 * kMiB, kStreamA);   // a 20 MiB segment
  core_.free(b);                                // cached
  void* c = core_.malloc(30 * kMiB, kStreamA);  // 28 MiB free: flush the cache, then retry
  ASSERT_NE(c, nullptr);
  const MemoryStats s = core_.stats();
  EXPECT_EQ(s.num_alloc_retries, 1);
  EXPECT_EQ(s.num_ooms, 0);
  EXPECT_EQ(s.num_backend_mallocs, 3);
  EXPECT_EQ(s.num_backend_frees, 1);
  EXPECT_EQ(s.reserved_bytes.current, i64(46 * kMiB));
  EXPECT_EQ(s.reserved_bytes.peak, i64(46 * kMiB));
  EXPECT_EQ(s.allocated_bytes.current, i64(15 * kMiB + 30 * kMiB));
  EXPECT_EQ(s.active_bytes.current, i64(16 * kMiB + 30 * kMiB));  // a keeps 1 MiB unsplit
  EXPECT_EQ(fake_.malloc_calls(), 4);
  EXPECT_EQ(fake_.used_bytes(), 46 * kMiB);
  (void)a;
}

// A CUDA graph captured on stream B keeps the addresses of the blocks its capture freed: neither
// empty_cache() nor an out-of-memory flush may hand B's free segments back while B is retained.
TEST_F(CachingAllocatorOomTest, RetainedStreamKeepsItsSegmentsThroughFlushes) {
  void* graph_temp = core_.malloc(5 * kMiB, kStreamB);  // a 20 MiB segment of B
  core_.free(graph_temp);                               // free between replays
  void* other = core_.malloc(5 * kMiB, kStreamA);       // a 20 MiB segment of A
  core_.free(other);
  core_.retain_stream_segments(kStreamB);
  core_.retain_stream_segments(kStreamB);  // nests
  core_.empty_cache();                     // A's segment goes, B's stays
  EXPECT_EQ(core_.stats().reserved_bytes.current, i64(20 * kMiB));
  EXPECT_EQ(fake_.frees(), 1);
  // 44 MiB left of 64: a 50 MiB request flushes the cache, keeps B's segment and fails.
  EXPECT_THROW(core_.malloc(50 * kMiB, kStreamA), OutOfMemoryError);
  EXPECT_EQ(fake_.frees(), 1);
  EXPECT_EQ(core_.malloc(5 * kMiB, kStreamB), graph_temp);  // still B's cached block
  core_.free(graph_temp);
  core_.release_stream_segments(kStreamB);
  core_.empty_cache();  // still retained once
  EXPECT_EQ(core_.stats().segments.current, 1);
  core_.release_stream_segments(kStreamB);
  void* big = core_.malloc(50 * kMiB, kStreamA);  // now the flush may take B's segment
  EXPECT_NE(big, nullptr);
  EXPECT_EQ(fake_.frees(), 2);
  EXPECT_THROW(core_.release_stream_segments(kStreamB), ValueError);
  core_.free(big);
}

TEST_F(CachingAllocatorOomTest, RetryFindsBlockFreedByPendingEvents) {
  void* a = core_.malloc(40 * kMiB, kStreamA);
  void* b = core_.malloc(20 * kMiB, kStreamA);
  core_.record_stream(b, kStreamB);
  core_.free(b);                                // awaiting an event on B
  void* c = core_.malloc(20 * kMiB, kStreamA);  // backend full: wait for events, reuse b
  EXPECT_EQ(c, b);
  EXPECT_EQ(fake_.synchronizations(), 1);
  EXPECT_EQ(core_.stats().num_alloc_retries, 1);
  EXPECT_EQ(core_.stats().num_backend_mallocs, 2);
  (void)a;
}

// While a graph capture records the stream, waiting for events (a device synchronisation) or
// returning segments (cudaFree) would invalidate the capture: the error comes at once and says
// why. The same request outside the capture waits, flushes and succeeds.
TEST_F(CachingAllocatorOomTest, DuringACaptureFailsAtOnceWithoutWaitingOrFreeing) {
  void* a = core_.malloc(40 * kMiB, kStreamA);
  void* b = core_.malloc(5 * kMiB, kStreamA);  // a 20 MiB segment: 60 of 64 MiB reserved
  core_.record_stream(b, kStreamB);
  core_.free(b);  // awaiting an event on B; 15 MiB of its segment are free
  fake_.begin_capture(kStreamA);
  try {
    core_.malloc(16 * kMiB, kStreamA);
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    EXPECT_NE(e.message().find("a CUDA graph capture was recording the stream"), std::string::npos)
        << e.message();
    EXPECT_NE(e.message().find("tried to allocate 16.00 MiB"), std::string::npos) << e.message();
  }
  EXPECT_EQ(fake_.synchronizations(), 0);
  EXPECT_EQ(fake_.frees(), 0);
  EXPECT_EQ(core_.stats().num_alloc_retries, 0);
  EXPECT_EQ(core_.stats().num_ooms, 1);
  core_.check_invariants();
  fake_.end_capture();
  EXPECT_EQ(core_.malloc(16 * kMiB, kStreamA), b);  // waits for B's event, takes b's segment
  EXPECT_EQ(fake_.synchronizations(), 1);
  (void)a;
}

TEST_F(CachingAllocatorOomTest, ThrowsOutOfMemoryErrorStatingTheNumbers) {
  void* a = core_.malloc(40 * kMiB, kStreamA);
  void* b = core_.malloc(kKiB, kStreamA);  // 2 MiB segment, 1 KiB allocated
  try {
    core_.malloc(30 * kMiB, kStreamA);
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    const std::string m = e.message();
    EXPECT_EQ(e.requested_bytes(), 30 * kMiB);
    EXPECT_NE(m.find("fake:0"), std::string::npos) << m;
    EXPECT_NE(m.find("tried to allocate 30.00 MiB (31457280 bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("device total 64.00 MiB (67108864 bytes)"), std::string::npos) << m;
    EXPECT_NE(m.find("device free 22.00 MiB (23068672 bytes)"), std::string::npos) << m;
    EXPECT_NE(m.find("allocated by cudanet 40.00 MiB (41944064 bytes)"), std::string::npos) << m;
    EXPECT_NE(m.find("reserved by cudanet 42.00 MiB (44040192 bytes)"), std::string::npos) << m;
    EXPECT_NE(std::string(e.file()).find("caching_allocator.cc"), std::string::npos);
  }
  MemoryStats s = core_.stats();
  EXPECT_EQ(s.num_ooms, 1);
  EXPECT_EQ(s.num_alloc_retries, 1);
  EXPECT_EQ(s.allocated_bytes.current, i64(40 * kMiB + kKiB));
  EXPECT_EQ(fake_.malloc_calls(), 4);  // a, b, then the failed request and its retry
  // Still usable afterwards, and a request larger than any device fails without a backend call.
  void* c = core_.malloc(10 * kMiB, kStreamA);
  EXPECT_NE(c, nullptr);
  EXPECT_THROW(core_.malloc(std::numeric_limits<std::size_t>::max(), kStreamA), OutOfMemoryError);
  s = core_.stats();
  EXPECT_EQ(s.num_ooms, 2);
  EXPECT_EQ(fake_.malloc_calls(), 5);
  (void)a, (void)b;
}

TEST_F(CachingAllocatorTest, PeaksAndTheirReset) {
  void* a = core_.malloc(3 * kMiB, kStreamA);
  void* b = core_.malloc(kMiB, kStreamA);
  core_.free(a);
  MemoryStats s = core_.stats();
  EXPECT_EQ(s.allocated_bytes.current, i64(kMiB));
  EXPECT_EQ(s.allocated_bytes.peak, i64(4 * kMiB));
  EXPECT_EQ(s.allocated_blocks.peak, 2);
  EXPECT_EQ(s.active_bytes.peak, i64(4 * kMiB));
  EXPECT_EQ(s.reserved_bytes.peak, i64(22 * kMiB));
  EXPECT_EQ(s.segments.peak, 2);
  core_.reset_peak_stats();
  s = core_.stats();
  EXPECT_EQ(s.allocated_bytes.peak, i64(kMiB));
  EXPECT_EQ(s.allocated_blocks.peak, 1);
  EXPECT_EQ(s.reserved_bytes.peak, i64(22 * kMiB));
  EXPECT_EQ(s.num_backend_mallocs, 2);  // counters are not peaks: kept
  core_.free(b);
}

TEST_F(CachingAllocatorTest, MemorySummaryIsATable) {
  void* p = core_.malloc(3 * kMiB, kStreamA);
  const std::string summary = core_.memory_summary();
  EXPECT_NE(summary.find("fake:0"), std::string::npos) << summary;
  EXPECT_NE(summary.find("| allocated memory   |     3.00 MiB |     3.00 MiB |"), std::string::npos)
      << summary;
  EXPECT_NE(summary.find("| reserved memory    |    20.00 MiB |    20.00 MiB |"), std::string::npos)
      << summary;
  EXPECT_NE(summary.find("retries / OOMs"), std::string::npos) << summary;
  core_.free(p);
}

TEST_F(CachingAllocatorTest, DestructionReturnsEverythingToTheBackend) {
  FakeBackend fake(64 * kMiB);
  {
    CachingAllocatorCore core(fake);
    void* p = core.malloc(kMiB, kStreamA);
    core.record_stream(p, kStreamB);
    core.free(p);
    core.malloc(12 * kMiB, kStreamB);  // still held: the core must outlive it
  }
  EXPECT_EQ(fake.used_bytes(), 0u);
  EXPECT_EQ(fake.live_events(), 0u);
}

class CachingAllocatorBypassTest : public CachingAllocatorTest {
 protected:
  CachingAllocatorBypassTest() : CachingAllocatorTest(4 * kMiB, /*bypass=*/true) {}
};

TEST_F(CachingAllocatorBypassTest, EveryRequestGoesToTheBackendWithItsExactSize) {
  EXPECT_TRUE(core_.bypass());
  void* p = core_.malloc(1000, kStreamA);
  EXPECT_EQ(fake_.allocation_size(p), 1000u);
  MemoryStats s = core_.stats();
  EXPECT_EQ(s.allocated_bytes.current, 1000);
  EXPECT_EQ(s.reserved_bytes.current, 1000);
  core_.free(p);
  EXPECT_EQ(fake_.frees(), 1);
  void* q = core_.malloc(1000, kStreamA);
  EXPECT_EQ(fake_.mallocs(), 2);
  core_.record_stream(q, kStreamB);
  core_.free(q);  // returned to the backend only once B has finished
  EXPECT_EQ(fake_.frees(), 1);
  fake_.complete_events(kStreamB);
  core_.free(core_.malloc(1, kStreamA));
  EXPECT_EQ(fake_.frees(), 3);
  s = core_.stats();
  EXPECT_EQ(s.num_backend_mallocs, 3);
  EXPECT_EQ(s.num_backend_frees, 3);
  EXPECT_EQ(s.reserved_bytes.current, 0);
  EXPECT_EQ(s.reserved_bytes.peak, 1000);
  EXPECT_THROW(core_.malloc(5 * kMiB, kStreamA), OutOfMemoryError);
  EXPECT_EQ(core_.stats().num_ooms, 1);
  EXPECT_EQ(core_.stats().num_alloc_retries, 1);
  EXPECT_NE(core_.memory_summary().find("bypass"), std::string::npos);
}

TEST(FormatBytes, UsesBinaryUnits) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(20 * kMiB), "20.00 MiB");
  EXPECT_EQ(format_bytes(std::uint64_t{3} << 30), "3.00 GiB");
}

}  // namespace
}  // namespace cudanet
