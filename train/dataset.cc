#include "train/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/philox.h"

namespace cudanet::train {

namespace {

// Images as N×C×H×W: a 3-dimensional N×H×W tensor gets one channel.
Tensor as_nchw(const Tensor& images, const char* what) {
  CUDANET_CHECK(images.defined(), ValueError, what, ": undefined image tensor");
  CUDANET_CHECK(images.dim() == 3 || images.dim() == 4, ShapeError, what,
                ": images must be N×H×W or N×C×H×W, got shape ", shape_str(images.shape()));
  CUDANET_CHECK(images.dtype() == DType::kUInt8 || images.dtype() == DType::kFloat32, ValueError,
                what, ": images must be uint8 (0..255) or float32 (0..1), got ", images.dtype());
  Tensor t = images.to(Device::cpu()).contiguous();
  if (t.dim() == 3) t = t.view({t.size(0), 1, t.size(1), t.size(2)});
  return t;
}

// Calls f(channel, plane_size, value) for each image and channel of an N×C×H×W tensor, where
// value(k) is pixel k of that plane scaled to [0, 1].
template <typename F>
void for_each_plane(const Tensor& nchw, F&& f) {
  const std::int64_t n = nchw.size(0), c = nchw.size(1), plane = nchw.size(2) * nchw.size(3);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t ch = 0; ch < c; ++ch) {
      const std::int64_t base = (i * c + ch) * plane;
      if (nchw.dtype() == DType::kUInt8) {
        const std::uint8_t* p = nchw.data<std::uint8_t>() + base;
        f(ch, plane, [p](std::int64_t k) { return p[k] / 255.0; });
      } else {
        const float* p = nchw.data<float>() + base;
        f(ch, plane, [p](std::int64_t k) { return static_cast<double>(p[k]); });
      }
    }
  }
}

}  // namespace

Dataset::Dataset(Tensor images, Tensor labels, std::int64_t num_classes)
    : images_(std::move(images)), labels_(std::move(labels)), num_classes_(num_classes) {
  CUDANET_CHECK(images_.defined() && labels_.defined(), ValueError,
                "Dataset: images and labels must be defined");
  CUDANET_CHECK(images_.dim() == 4, ShapeError, "Dataset: images must be N×C×H×W, got shape ",
                shape_str(images_.shape()));
  CUDANET_CHECK(
      images_.dtype() == DType::kFloat32 && images_.device().is_cpu() && images_.is_contiguous(),
      ValueError, "Dataset: images must be contiguous float32 on the CPU, got ", images_.dtype(),
      " on ", images_.device());
  CUDANET_CHECK(labels_.dim() == 1 && labels_.size(0) == images_.size(0), ShapeError,
                "Dataset: ", images_.size(0), " images need labels of shape [", images_.size(0),
                "], got ", shape_str(labels_.shape()));
  CUDANET_CHECK(
      labels_.dtype() == DType::kInt64 && labels_.device().is_cpu() && labels_.is_contiguous(),
      ValueError, "Dataset: labels must be contiguous int64 on the CPU, got ", labels_.dtype(),
      " on ", labels_.device());
  CUDANET_CHECK(num_classes_ >= 1, ValueError, "Dataset: num_classes must be positive, got ",
                num_classes_);
  const std::int64_t* l = labels_.data<std::int64_t>();
  for (std::int64_t i = 0; i < labels_.numel(); ++i) {
    CUDANET_CHECK(l[i] >= 0 && l[i] < num_classes_, ValueError, "Dataset: label ", l[i],
                  " of sample ", i, " is outside [0, ", num_classes_, ")");
  }
}

Shape Dataset::sample_shape() const {
  if (!images_.defined()) return {};
  return {images_.size(1), images_.size(2), images_.size(3)};
}

Dataset Dataset::narrow(std::int64_t start, std::int64_t length) const {
  CUDANET_CHECK(start >= 0 && length >= 0 && start + length <= size(), ValueError,
                "Dataset::narrow: samples [", start, ", ", start + length, ") of ", size());
  Dataset out;
  out.images_ = images_.narrow(0, start, length);
  out.labels_ = labels_.narrow(0, start, length);
  out.num_classes_ = num_classes_;
  return out;
}

Dataset Dataset::subset(const std::vector<std::int64_t>& indices) const {
  CUDANET_CHECK(images_.defined(), ValueError, "Dataset::subset of an empty Dataset");
  const auto count = static_cast<std::int64_t>(indices.size());
  Shape shape = images_.shape();
  shape[0] = count;
  Dataset out;
  out.images_ = Tensor::empty(shape, DType::kFloat32);
  out.labels_ = Tensor::empty({count}, DType::kInt64);
  out.num_classes_ = num_classes_;
  const auto sample_bytes = static_cast<std::size_t>(shape_numel(sample_shape())) * sizeof(float);
  auto* dst = static_cast<char*>(out.images_.data_ptr());
  const auto* src = static_cast<const char*>(images_.data_ptr());
  std::int64_t* dl = out.labels_.data<std::int64_t>();
  const std::int64_t* sl = labels_.data<std::int64_t>();
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t i = indices[static_cast<std::size_t>(k)];
    CUDANET_CHECK(i >= 0 && i < size(), ValueError, "Dataset::subset: index ", i,
                  " is outside [0, ", size(), ")");
    std::memcpy(dst + static_cast<std::size_t>(k) * sample_bytes,
                src + static_cast<std::size_t>(i) * sample_bytes, sample_bytes);
    dl[k] = sl[i];
  }
  return out;
}

std::vector<std::int64_t> Dataset::class_counts() const {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(num_classes_), 0);
  if (!labels_.defined()) return counts;
  const std::int64_t* l = labels_.data<std::int64_t>();
  for (std::int64_t i = 0; i < labels_.numel(); ++i) ++counts[static_cast<std::size_t>(l[i])];
  return counts;
}

ChannelStats compute_channel_stats(const Tensor& raw_images) {
  const Tensor t = as_nchw(raw_images, "compute_channel_stats");
  const std::int64_t c = t.size(1);
  const std::int64_t count = t.size(0) * t.size(2) * t.size(3);
  CUDANET_CHECK(count > 0, ValueError, "compute_channel_stats: no pixels in images of shape ",
                shape_str(raw_images.shape()));
  std::vector<double> sum(static_cast<std::size_t>(c), 0.0), sq(static_cast<std::size_t>(c), 0.0);
  for_each_plane(t, [&](std::int64_t ch, std::int64_t plane, auto value) {
    double s = 0;
    for (std::int64_t k = 0; k < plane; ++k) s += value(k);
    sum[static_cast<std::size_t>(ch)] += s;
  });
  ChannelStats stats;
  for (double s : sum) stats.mean.push_back(s / static_cast<double>(count));
  // Second pass around the mean: no cancellation.
  for_each_plane(t, [&](std::int64_t ch, std::int64_t plane, auto value) {
    const double m = stats.mean[static_cast<std::size_t>(ch)];
    double s = 0;
    for (std::int64_t k = 0; k < plane; ++k) s += (value(k) - m) * (value(k) - m);
    sq[static_cast<std::size_t>(ch)] += s;
  });
  for (double s : sq) stats.std.push_back(std::sqrt(s / static_cast<double>(count)));
  return stats;
}

Tensor normalize_images(const Tensor& raw_images, const ChannelStats& stats) {
  const Tensor t = as_nchw(raw_images, "normalize_images");
  const std::int64_t c = t.size(1);
  const auto nstats = static_cast<std::int64_t>(stats.mean.size());
  CUDANET_CHECK(stats.mean.size() == stats.std.size() && (nstats == c || nstats == 1), ValueError,
                "normalize_images: ", stats.mean.size(), " means and ", stats.std.size(),
                " standard deviations for ", c, " channels");
  for (std::size_t i = 0; i < stats.mean.size(); ++i) {
    CUDANET_CHECK(std::isfinite(stats.mean[i]) && std::isfinite(stats.std[i]) && stats.std[i] > 0,
                  ValueError, "normalize_images: channel ", i, " has mean ", stats.mean[i],
                  " and std ", stats.std[i], "; the std must be positive and both finite");
  }
  Tensor out = Tensor::empty(t.shape(), DType::kFloat32);
  float* dst = out.data<float>();
  for_each_plane(t, [&](std::int64_t ch, std::int64_t plane, auto value) {
    const auto s = static_cast<std::size_t>(nstats == 1 ? 0 : ch);
    const double mean = stats.mean[s], std = stats.std[s];
    for (std::int64_t k = 0; k < plane; ++k) *dst++ = static_cast<float>((value(k) - mean) / std);
  });
  return out;
}

Tensor labels_to_int64(const Tensor& raw_labels, std::int64_t num_classes,
                       const std::string& what) {
  CUDANET_CHECK(raw_labels.defined() && raw_labels.dim() == 1, ShapeError, what,
                ": labels must be one-dimensional, got shape ",
                raw_labels.defined() ? shape_str(raw_labels.shape()) : std::string("undefined"));
  CUDANET_CHECK(!is_floating(raw_labels.dtype()), ValueError, what,
                ": labels must be integers, got ", raw_labels.dtype());
  const Tensor host = raw_labels.to(Device::cpu()).contiguous();
  Tensor out = Tensor::empty(host.shape(), DType::kInt64);
  std::int64_t* dst = out.data<std::int64_t>();
  dispatch_dtype(host.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      const T* src = static_cast<const T*>(host.data_ptr());
      for (std::int64_t i = 0; i < host.numel(); ++i) {
        const auto v = static_cast<std::int64_t>(src[i]);
        CUDANET_CHECK(v >= 0 && v < num_classes, ValueError, what, ": label ", v, " at index ", i,
                      " is outside [0, ", num_classes, ")");
        dst[i] = v;
      }
    }
  });
  return out;
}

std::vector<std::int64_t> random_permutation(std::int64_t n, std::uint64_t seed) {
  CUDANET_CHECK(n >= 0, ValueError, "random_permutation: negative length ", n);
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  // Draw k uses the 64-bit value of words 2k and 2k+1; the modulo bias is below n / 2^64.
  std::int64_t k = 0;
  for (std::int64_t i = n - 1; i > 0; --i, ++k) {
    const std::uint64_t r =
        (std::uint64_t{uniform_u32(seed, 0, 2 * k)} << 32) | uniform_u32(seed, 0, 2 * k + 1);
    const auto j = static_cast<std::int64_t>(r % static_cast<std::uint64_t>(i + 1));
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(j)]);
  }
  return p;
}

TrainValidationSplit split_train_validation(const Dataset& dataset, std::int64_t validation_size,
                                            SplitMode mode, std::uint64_t seed) {
  const std::int64_t n = dataset.size();
  CUDANET_CHECK(validation_size >= 0 && validation_size <= n, ValueError,
                "split_train_validation: validation size ", validation_size, " is outside [0, ", n,
                "]");
  if (mode == SplitMode::kLast) {
    return {dataset.narrow(0, n - validation_size),
            dataset.narrow(n - validation_size, validation_size)};
  }
  const std::vector<std::int64_t> perm = random_permutation(n, seed);
  const auto v = static_cast<std::size_t>(validation_size);
  std::vector<std::int64_t> val(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(v));
  std::vector<std::int64_t> train(perm.begin() + static_cast<std::ptrdiff_t>(v), perm.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  return {dataset.subset(train), dataset.subset(val)};
}

}  // namespace cudanet::train
