// The worker pool behind parallel_for (core/parallel.h).
//
// Starting threads per loop cost more than the loops themselves (each new thread maps and faults
// in a stack: ~90 page faults per max-pool call on a LeNet-5 batch), so workers are started once
// and wait for work. One parallel region uses the pool at a time; the others run inline.
#include "core/parallel.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

namespace cudanet::detail {

namespace {

thread_local bool t_in_parallel_region = false;

// One parallel region: its task and chunk counters. Workers hold it by shared_ptr, so one that
// wakes late sees the finished counters of its own region, never a later region's.
struct Job {
  const std::function<void(std::int64_t)>* task;
  std::int64_t chunks;
  std::atomic<std::int64_t> next{0};
  std::int64_t remaining;  // guarded by the pool's mutex
};

class WorkerPool {
 public:
  WorkerPool() {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 1; i < cores; ++i) {
      try {
        threads_.emplace_back([this] { work(); });
      } catch (const std::system_error&) {  // fewer workers than cores: still correct
        break;
      }
    }
  }

  std::int64_t threads() const { return static_cast<std::int64_t>(threads_.size()) + 1; }

  // Runs task(c) for c in [0, chunks); the caller takes part. False when the pool is busy (or the
  // caller is itself inside a region): then nothing ran.
  bool run(std::int64_t chunks, const std::function<void(std::int64_t)>& task) {
    if (t_in_parallel_region || threads_.empty()) return false;
    std::unique_lock<std::mutex> region(region_mutex_, std::try_to_lock);
    if (!region.owns_lock()) return false;
    auto job = std::make_shared<Job>();
    job->task = &task;
    job->chunks = chunks;
    job->remaining = chunks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = job;
      ++generation_;
    }
    wake_.notify_all();
    take_chunks(*job);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return job->remaining == 0; });
    job_.reset();
    return true;
  }

 private:
  void take_chunks(Job& job) {
    t_in_parallel_region = true;
    std::int64_t finished = 0;
    for (std::int64_t c = job.next.fetch_add(1); c < job.chunks; c = job.next.fetch_add(1)) {
      (*job.task)(c);
      ++finished;
    }
    t_in_parallel_region = false;
    if (finished > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      job.remaining -= finished;
      if (job.remaining == 0) done_.notify_all();
    }
  }

  void work() {
    std::uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        job = job_;
      }
      if (job) take_chunks(*job);
    }
  }

  std::mutex region_mutex_;  // one parallel region at a time
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::shared_ptr<Job> job_;
  std::uint64_t generation_ = 0;
  std::vector<std::thread> threads_;
};

WorkerPool& pool() {
  static auto* const p = new WorkerPool();  // leaked: workers wait until the process ends
  return *p;
}

}  // namespace

std::int64_t parallel_threads() {
  return pool().threads();
}

void run_parallel(std::int64_t chunks, const std::function<void(std::int64_t)>& task) {
  if (!pool().run(chunks, task)) {
    for (std::int64_t c = 0; c < chunks; ++c) task(c);
  }
}

}  // namespace cudanet::detail
