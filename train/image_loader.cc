#include "train/image_loader.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/cuda/memory_ops.h"
#include "core/pinned_allocator.h"
#include "train/dataset.h"

namespace cudanet::train {

struct ImageLoader::Slot {
  std::int64_t batch = -1;  // the batch of the epoch this slot holds (-1: none)
  DataPtr images;           // batch_size samples of 3×crop×crop floats (pinned for a GPU)
  DataPtr labels;           // batch_size int64
  std::vector<char> ok;     // per sample: decoded
  std::int64_t remaining = 0;
  std::exception_ptr error;  // a worker's failure, re-thrown by next()
  Event copied;              // GPU: the copy out of this slot
  bool in_flight = false;    // a copy out of this slot may still run
};

struct ImageLoader::Task {
  std::int64_t batch = 0, k = 0, sample = 0, label = 0, generation = 0;
  std::uint64_t seed = 0;
  float* out = nullptr;
  std::string path;
};

namespace {

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  CUDANET_CHECK(in.good(), IoError, "cannot open '", path, "'");
  std::ostringstream s;
  s << in.rdbuf();
  CUDANET_CHECK(!in.bad(), IoError, "cannot read '", path, "'");
  return s.str();
}

}  // namespace

ImageLoader::ImageLoader(ImageList list, ImageLoaderOptions options)
    : list_(std::move(list)), options_(std::move(options)) {
  CUDANET_CHECK(options_.batch_size >= 1, ValueError,
                "ImageLoader: batch size must be positive, got ", options_.batch_size);
  CUDANET_CHECK(options_.prefetch >= 2, ValueError, "ImageLoader: prefetch must be >= 2, got ",
                options_.prefetch);
  CUDANET_CHECK(options_.workers >= 0, ValueError, "ImageLoader: negative worker count ",
                options_.workers);
  CUDANET_CHECK(list_.size() > 0 && list_.labels.size() == list_.paths.size(), ValueError,
                "ImageLoader: an empty image list (", list_.paths.size(), " paths, ",
                list_.labels.size(), " labels)");
  validate(options_.transform);
  if (!options_.read_file) options_.read_file = read_whole_file;
  if (!options_.warn) options_.warn = [](const std::string& m) { std::cerr << m << std::endl; };
  const int crop = options_.transform.crop;
  sample_floats_ = 3 * static_cast<std::int64_t>(crop) * crop;

  Allocator* host = &cpu_allocator();
  if (options_.device.is_cuda()) {
    copy_stream_ = cuda::copy_stream(options_.device.index());
    host = &pinned_allocator();
  }
  const auto b = static_cast<std::size_t>(options_.batch_size);
  for (int i = 0; i < options_.prefetch; ++i) {
    auto s = std::make_unique<Slot>();
    s->images =
        host->allocate(b * static_cast<std::size_t>(sample_floats_) * sizeof(float), copy_stream_);
    s->labels = host->allocate(b * sizeof(std::int64_t), copy_stream_);
    if (options_.device.is_cuda()) s->copied = Event(options_.device);
    slots_.push_back(std::move(s));
  }
  reset(0, 0);
  int n = options_.workers;
  if (n == 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { worker_loop(); });
}

ImageLoader::~ImageLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  done_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  for (auto& s : slots_) {
    if (!s->in_flight) continue;
    try {  // the pinned memory must outlive the copy reading it
      s->copied.synchronize();
    } catch (...) {  // a destructor cannot report it; the device is broken anyway
    }
  }
}

std::int64_t ImageLoader::num_batches() const {
  const std::int64_t n = list_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::int64_t ImageLoader::num_samples() const {
  return options_.drop_last ? num_batches() * options_.batch_size : list_.size();
}

Shape ImageLoader::sample_shape() const {
  return {3, options_.transform.crop, options_.transform.crop};
}

std::int64_t ImageLoader::skipped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return skipped_;
}

std::int64_t ImageLoader::batch_count(std::int64_t batch) const {
  return std::min(options_.batch_size, num_samples() - batch * options_.batch_size);
}

void ImageLoader::start_epoch(std::int64_t epoch) {
  CUDANET_CHECK(epoch >= 0, ValueError, "ImageLoader: negative epoch ", epoch);
  reset(epoch, 0);
}

void ImageLoader::seek(const LoaderPosition& p) {
  CUDANET_CHECK(p.epoch >= 0 && p.batch >= 0 && p.batch <= num_batches(), ValueError,
                "ImageLoader: position (epoch ", p.epoch, ", batch ", p.batch, ") is outside the ",
                num_batches(), " batches of an epoch");
  reset(p.epoch, p.batch);
}

void ImageLoader::quiesce() {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    ++generation_;
    next_task_ = end_task_ = 0;  // no new tasks until reset() sets the range again
    done_cv_.wait(lock, [&] { return active_ == 0; });
  }
  for (auto& s : slots_) {
    if (s->in_flight) s->copied.synchronize();
    s->in_flight = false;
  }
  ahead_.reset();
}

void ImageLoader::reset(std::int64_t epoch, std::int64_t batch) {
  quiesce();
  std::vector<std::int64_t> order;
  const std::int64_t n = list_.size();
  if (options_.shuffle) {
    order = random_permutation(n, options_.seed + static_cast<std::uint64_t>(epoch));
  } else {
    order.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    order_ = std::move(order);
    epoch_ = epoch;
    next_batch_ = batch;
    next_task_ = std::min(batch * options_.batch_size, num_samples());
    end_task_ = num_samples();
    released_ = batch;
    for (auto& s : slots_) {
      s->batch = -1;
      s->remaining = 0;
      s->error = nullptr;
    }
  }
  work_cv_.notify_all();
}

bool ImageLoader::take_task(Task& t) {
  std::unique_lock<std::mutex> lock(mutex_);
  const std::int64_t b = options_.batch_size;
  const auto depth = static_cast<std::int64_t>(slots_.size());
  work_cv_.wait(lock, [&] {
    return stop_ || (next_task_ < end_task_ && next_task_ / b < released_ + depth);
  });
  if (stop_) return false;
  const std::int64_t pos = next_task_++;
  t.batch = pos / b;
  t.k = pos % b;
  Slot& s = *slots_[static_cast<std::size_t>(t.batch % depth)];
  if (s.batch != t.batch) {  // the first sample of this batch: the slot was released for it
    s.batch = t.batch;
    s.remaining = batch_count(t.batch);
    s.ok.assign(static_cast<std::size_t>(b), 0);
    s.error = nullptr;
  }
  t.sample = order_[static_cast<std::size_t>(pos)];
  t.path = list_.paths[static_cast<std::size_t>(t.sample)];
  t.label = list_.labels[static_cast<std::size_t>(t.sample)];
  t.generation = generation_;
  t.seed = options_.seed ^ (0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(epoch_ + 1));
  t.out = static_cast<float*>(s.images.get()) + t.k * sample_floats_;
  static_cast<std::int64_t*>(s.labels.get())[t.k] = t.label;
  ++active_;
  return true;
}

void ImageLoader::finish_task(const Task& t, bool ok, std::exception_ptr error,
                              const std::string& why) {
  std::lock_guard<std::mutex> lock(mutex_);
  --active_;
  if (t.generation == generation_) {
    Slot& s = *slots_[static_cast<std::size_t>(t.batch % static_cast<std::int64_t>(slots_.size()))];
    if (error) {
      if (!s.error) s.error = error;
    } else {
      s.ok[static_cast<std::size_t>(t.k)] = ok ? 1 : 0;
      if (!ok) {
        ++skipped_;
        options_.warn("warning: skipping '" + t.path + "': " + why);
      }
    }
    --s.remaining;
  }
  done_cv_.notify_all();
}

void ImageLoader::worker_loop() {
  Task t;
  while (take_task(t)) {
    bool ok = false;
    std::exception_ptr error;
    std::string why;
    try {
      const std::string bytes = options_.read_file(t.path);
      decode_augment_jpeg(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(),
                          options_.transform, t.seed, static_cast<std::uint64_t>(t.sample), t.out);
      ok = true;
    } catch (const IoError& e) {
      why = e.message();
      if (options_.strict) {
        error = std::make_exception_ptr(IoError(
            detail::str("bad image '", t.path, "' (strict mode): ", why), __FILE__, __LINE__));
      }
    } catch (...) {
      error = std::current_exception();
    }
    finish_task(t, ok, error, why);
  }
}

Batch ImageLoader::issue(std::int64_t batch, bool wait, bool* ready) {
  const auto depth = static_cast<std::int64_t>(slots_.size());
  Slot& s = *slots_[static_cast<std::size_t>(batch % depth)];
  {
    std::unique_lock<std::mutex> lock(mutex_);
    auto done = [&] { return s.batch == batch && (s.remaining == 0 || s.error); };
    if (!wait && (!done() || s.error)) {  // an error is reported when the batch is due
      *ready = false;
      return {};
    }
    done_cv_.wait(lock, [&] { return stop_ || done(); });
    if (s.error) std::rethrow_exception(s.error);
  }
  if (ready) *ready = true;
  // Every sample of the slot is final and no worker touches it: move the good ones to the front.
  auto* images = static_cast<float*>(s.images.get());
  auto* labels = static_cast<std::int64_t*>(s.labels.get());
  std::int64_t n = 0;
  for (std::int64_t k = 0; k < batch_count(batch); ++k) {
    if (!s.ok[static_cast<std::size_t>(k)]) continue;
    if (n != k) {
      std::memmove(images + n * sample_floats_, images + k * sample_floats_,
                   static_cast<std::size_t>(sample_floats_) * sizeof(float));
      labels[n] = labels[k];
    }
    ++n;
  }
  Batch out;
  out.index = batch;
  out.epoch = epoch_;
  if (n == 0) return out;
  const int crop = options_.transform.crop;
  const Shape shape{n, 3, crop, crop};
  const std::size_t image_bytes = static_cast<std::size_t>(n * sample_floats_) * sizeof(float);
  const std::size_t label_bytes = static_cast<std::size_t>(n) * sizeof(std::int64_t);
  if (options_.device.is_cpu()) {
    out.images = Tensor::empty(shape, DType::kFloat32);
    out.labels = Tensor::empty({n}, DType::kInt64);
    std::memcpy(out.images.data_ptr(), images, image_bytes);
    std::memcpy(out.labels.data_ptr(), labels, label_bytes);
    return out;
  }
  {  // memory of the copy stream, so the copy never overwrites a block compute still reads
    cuda::StreamGuard guard(copy_stream_);
    out.images = Tensor::empty(shape, DType::kFloat32, options_.device);
    out.labels = Tensor::empty({n}, DType::kInt64, options_.device);
  }
  cuda::copy_host_to_device(out.images.data_ptr(), images, image_bytes, copy_stream_, false);
  cuda::copy_host_to_device(out.labels.data_ptr(), labels, label_bytes, copy_stream_, false);
  s.copied.record(copy_stream_);
  s.in_flight = true;
  // The consumer's stream waits for the copy only when next() hands the batch out: a batch
  // issued early must not hold up the work queued before then (the current batch's step).
  return out;
}

void ImageLoader::release_through(std::int64_t batch) {
  if (batch < released_) return;
  const auto depth = static_cast<std::int64_t>(slots_.size());
  for (std::int64_t b = released_; b <= batch; ++b) {
    Slot& s = *slots_[static_cast<std::size_t>(b % depth)];
    if (s.in_flight) s.copied.synchronize();
    s.in_flight = false;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = batch + 1;
  }
  work_cv_.notify_all();
}

bool ImageLoader::next(Batch& out) {
  for (;;) {
    release_through(next_batch_ - 1);
    if (next_batch_ >= num_batches()) return false;
    const std::int64_t b = next_batch_;
    Batch batch;
    if (ahead_ && ahead_->index == b) {
      batch = std::move(*ahead_);
      ahead_.reset();
    } else {
      batch = issue(b, /*wait=*/true, nullptr);
    }
    if (options_.device.is_cuda() && batch.size() > 0) {
      // Work queued from now on (the consumer's step on this batch) waits for its copy; the block
      // is used on that stream too. Done here rather than in issue(): the early copy of the next
      // batch, queued below, then overlaps this batch's step instead of delaying it.
      const Stream compute = current_stream(options_.device);
      compute.wait(
          slots_[static_cast<std::size_t>(b % static_cast<std::int64_t>(slots_.size()))]->copied);
      batch.images.storage().record_stream(compute);
      batch.labels.storage().record_stream(compute);
    }
    ++next_batch_;
    if (options_.device.is_cuda() && next_batch_ < num_batches()) {
      bool ready = false;
      Batch early = issue(next_batch_, /*wait=*/false, &ready);
      if (ready) ahead_ = std::make_unique<Batch>(std::move(early));
    }
    if (batch.size() == 0) continue;  // every file of this batch was skipped
    out = std::move(batch);
    return true;
  }
}

}  // namespace cudanet::train
