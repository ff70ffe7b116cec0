// ImageLoader: batches of decoded, augmented JPEGs from an ImageList, made by worker threads.
//
//   ImageLoader loader(scan_image_folder(dir), {.batch_size = 256, .device = Device::cuda()});
//   loader.start_epoch(epoch);            // or seek(position) to resume
//   Batch b;
//   while (loader.next(b)) { ... b.images [B, 3, crop, crop], b.labels [B] ... }
//
// Note: how it works, and what it guarantees.
//  - The epoch order is random_permutation(size, seed + epoch) (or 0..n-1 without shuffling), and
//    the crop and mirror of a sample depend only on (seed, epoch, sample): a run resumed at
//    (epoch, batch) with seek() sees exactly the batches an uninterrupted run would have seen,
//    whatever the number of workers.
//  - Workers take samples one at a time in epoch order and decode each straight into its place in
//    a batch slot of pinned host memory. There are `prefetch` slots: workers run at most that many
//    batches ahead of the consumer (a bounded queue), so memory stays fixed.
//  - For a GPU device the batch is copied on the device's copy stream into memory allocated for
//    that stream, and the compute stream (current when next() hands the batch out) waits for the
//    copy (an event), so the copy overlaps the work already queued. When the next batch is already
//    decoded its copy is queued at once too, so it runs while the current batch trains (the
//    compute stream waits for it only when that batch is handed out). A slot is reused only after
//    its copy finished.
//  - A file that cannot be read or is not a valid JPEG is skipped, counted in skipped(), and
//    reported through the warn callback (default: a line on stderr); its batch is one sample
//    shorter (a batch whose samples all failed is skipped). With strict = true the first such file
//    stops the epoch: next() throws IoError naming it.
//  - Any other exception in a worker is re-thrown by next() in the consumer's thread. The
//    destructor stops and joins the workers whatever state they are in; it never hangs.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/allocator.h"
#include "core/stream.h"
#include "train/data_loader.h"
#include "train/image_folder.h"
#include "train/image_transform.h"

namespace cudanet::train {

struct ImageLoaderOptions {
  std::int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;
  std::uint64_t seed = 0;
  Device device = Device::cpu();
  int workers = 0;   // decoding threads; 0: one per core
  int prefetch = 3;  // batch slots (batches decoded ahead of the consumer), >= 2
  ImageTransform transform;
  bool strict = false;  // a bad file is an error instead of a skipped sample
  // Reads a whole file (default: from disk; IoError when it cannot). Tests inject failures here.
  std::function<std::string(const std::string& path)> read_file;
  // Receives one line per skipped file (default: written to stderr). Called from worker threads,
  // one call at a time.
  std::function<void(const std::string& message)> warn;
};

class ImageLoader {
 public:
  // Throws ValueError for a bad option (batch size, prefetch, transform) or an empty list.
  ImageLoader(ImageList list, ImageLoaderOptions options);
  ~ImageLoader();
  ImageLoader(const ImageLoader&) = delete;
  ImageLoader& operator=(const ImageLoader&) = delete;

  const ImageList& list() const { return list_; }
  const ImageLoaderOptions& options() const { return options_; }
  int workers() const { return static_cast<int>(threads_.size()); }
  std::int64_t num_batches() const;
  std::int64_t num_samples() const;
  // Shape of one sample: [3, crop, crop].
  Shape sample_shape() const;

  void start_epoch(std::int64_t epoch);
  // Continues at `position` (batch == num_batches() means the epoch is over).
  void seek(const LoaderPosition& position);
  LoaderPosition position() const { return {epoch_, next_batch_}; }

  // The next batch of the epoch; false at its end. Re-throws a worker's exception.
  bool next(Batch& out);
  // Files skipped so far (unreadable or not JPEG), over the loader's lifetime.
  std::int64_t skipped() const;

 private:
  struct Slot;
  struct Task;
  void worker_loop();
  bool take_task(Task& task);
  void finish_task(const Task& task, bool ok, std::exception_ptr error, const std::string& why);
  void reset(std::int64_t epoch, std::int64_t batch);
  void quiesce();  // waits until no worker decodes and no copy is in flight
  Batch issue(std::int64_t batch, bool wait, bool* ready);
  void release_through(std::int64_t batch);
  std::int64_t batch_count(std::int64_t batch) const;

  ImageList list_;
  ImageLoaderOptions options_;
  std::int64_t sample_floats_ = 0;
  Stream copy_stream_;
  std::vector<std::unique_ptr<Slot>> slots_;

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;  // workers wait for tasks
  std::condition_variable done_cv_;  // the consumer waits for batches; reset() for idle workers
  std::vector<std::int64_t> order_;
  std::int64_t epoch_ = 0;
  std::int64_t next_batch_ = 0;  // the batch next() delivers
  std::int64_t next_task_ = 0;   // the next position in epoch order to decode
  std::int64_t end_task_ = 0;    // positions decoded this epoch
  std::int64_t released_ = 0;    // batches before this one have given their slots back
  std::int64_t generation_ = 0;  // bumped by reset(): results of older tasks are dropped
  int active_ = 0;               // workers decoding now
  bool stop_ = false;
  std::int64_t skipped_ = 0;
  std::unique_ptr<Batch> ahead_;  // a batch whose copy was queued early
  std::vector<std::thread> threads_;
};

}  // namespace cudanet::train
