#include "train/data_loader.h"

#include <algorithm>
#include <cstring>

namespace cudanet::train {

DataLoader::DataLoader(Dataset dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  CUDANET_CHECK(options_.batch_size >= 1, ValueError,
                "DataLoader: batch size must be positive, got ", options_.batch_size);
  start_epoch(0);
}

std::int64_t DataLoader::num_batches() const {
  const std::int64_t n = dataset_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::int64_t DataLoader::num_samples() const {
  return options_.drop_last ? num_batches() * options_.batch_size : dataset_.size();
}

void DataLoader::start_epoch(std::int64_t epoch) {
  CUDANET_CHECK(epoch >= 0, ValueError, "DataLoader: negative epoch ", epoch);
  const std::int64_t n = dataset_.size();
  if (options_.shuffle) {
    order_ = random_permutation(n, options_.seed + static_cast<std::uint64_t>(epoch));
  } else if (static_cast<std::int64_t>(order_.size()) != n) {  // the identity, built once
    order_.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) order_[static_cast<std::size_t>(i)] = i;
  }
  epoch_ = epoch;
  next_batch_ = 0;
}

void DataLoader::seek(const LoaderPosition& position) {
  CUDANET_CHECK(position.batch >= 0 && position.batch <= num_batches(), ValueError,
                "DataLoader: batch ", position.batch, " is outside the ", num_batches(),
                " batches of an epoch");
  start_epoch(position.epoch);
  next_batch_ = position.batch;
}

bool DataLoader::next(Batch& out) {
  if (next_batch_ >= num_batches()) return false;
  out = batch(next_batch_);
  ++next_batch_;
  return true;
}

Batch DataLoader::batch(std::int64_t index) const {
  CUDANET_CHECK(index >= 0 && index < num_batches(), ValueError, "DataLoader: batch ", index,
                " is outside the ", num_batches(), " batches of an epoch");
  const std::int64_t begin = index * options_.batch_size;
  const std::int64_t count = std::min(options_.batch_size, dataset_.size() - begin);
  const Shape sample = dataset_.sample_shape();
  const auto sample_bytes = static_cast<std::size_t>(shape_numel(sample)) * sizeof(float);

  Tensor images = Tensor::empty({count, sample[0], sample[1], sample[2]}, DType::kFloat32);
  Tensor labels = Tensor::empty({count}, DType::kInt64);
  auto* dst = static_cast<char*>(images.data_ptr());
  const auto* src = static_cast<const char*>(dataset_.images().data_ptr());
  std::int64_t* dl = labels.data<std::int64_t>();
  const std::int64_t* sl = dataset_.labels().data<std::int64_t>();
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t i = order_[static_cast<std::size_t>(begin + k)];
    std::memcpy(dst + static_cast<std::size_t>(k) * sample_bytes,
                src + static_cast<std::size_t>(i) * sample_bytes, sample_bytes);
    dl[k] = sl[i];
  }

  Batch out;
  out.index = index;
  out.epoch = epoch_;
  if (options_.device.is_cpu()) {
    out.images = std::move(images);
    out.labels = std::move(labels);
  } else {
    out.images = images.to(options_.device, /*non_blocking=*/true);
    out.labels = labels.to(options_.device, /*non_blocking=*/true);
  }
  return out;
}

}  // namespace cudanet::train
