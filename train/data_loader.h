// DataLoader: the batches of one pass (epoch) over a Dataset, in a seeded order.
//
//   DataLoader loader(train_set, {.batch_size = 64, .seed = 1, .device = Device::cuda()});
//   for (std::int64_t epoch = start; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     Batch batch;
//     while (loader.next(batch)) { ... batch.images, batch.labels ... }
//   }
//
// Note: the order of epoch e is random_permutation(size, seed + e) when shuffling, else 0..n-1,
// so it depends only on (seed, epoch): a run resumed at epoch e, or at batch b of epoch e
// (seek(), with the position() saved in a checkpoint), sees exactly the batches an uninterrupted
// run would have seen. Each batch is assembled in host memory with one memcpy per sample; for a
// CUDA target it is then copied with Tensor::to(device, non_blocking = true), through pinned
// staging memory, so the copy overlaps the work already queued on the device's stream.
#pragma once

#include <cstdint>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"
#include "train/dataset.h"

namespace cudanet::train {

struct DataLoaderOptions {
  std::int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;  // drop a last batch smaller than batch_size
  std::uint64_t seed = 0;
  Device device = Device::cpu();  // where batches are delivered
};

struct Batch {
  Tensor images;           // float32 B×C×H×W on the loader's device
  Tensor labels;           // int64 [B] on the loader's device
  std::int64_t index = 0;  // position of the batch in its epoch
  std::int64_t epoch = 0;
  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

// Where a loader stands: the next batch it delivers is `batch` of `epoch`.
struct LoaderPosition {
  std::int64_t epoch = 0;
  std::int64_t batch = 0;
  friend bool operator==(const LoaderPosition& a, const LoaderPosition& b) {
    return a.epoch == b.epoch && a.batch == b.batch;
  }
};

class DataLoader {
 public:
  // Throws ValueError unless batch_size >= 1. The loader keeps a handle on `dataset`.
  DataLoader(Dataset dataset, DataLoaderOptions options);

  const Dataset& dataset() const { return dataset_; }
  const DataLoaderOptions& options() const { return options_; }
  // Batches per epoch (counting a partial last batch unless drop_last).
  std::int64_t num_batches() const;
  // Samples per epoch that are delivered (all, or all but a dropped partial batch).
  std::int64_t num_samples() const;

  // Begins epoch `epoch` (>= 0) at its first batch.
  void start_epoch(std::int64_t epoch);
  // Continues at `position` (e.g. from a checkpoint); throws ValueError if the batch is past the
  // end of the epoch (== num_batches() is allowed: the epoch is finished).
  void seek(const LoaderPosition& position);
  LoaderPosition position() const { return {epoch_, next_batch_}; }

  // Delivers the next batch of the current epoch into `out`; false when the epoch is over.
  bool next(Batch& out);
  // Batch `index` of the current epoch, without moving the position.
  Batch batch(std::int64_t index) const;
  // The sample order of the current epoch.
  const std::vector<std::int64_t>& order() const { return order_; }

 private:
  Dataset dataset_;
  DataLoaderOptions options_;
  std::int64_t epoch_ = 0;
  std::int64_t next_batch_ = 0;
  std::vector<std::int64_t> order_;
};

}  // namespace cudanet::train
