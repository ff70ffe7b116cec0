// Tensor random fills: thin wrappers over the raw Philox fills of core/random.h.
#include "core/random.h"
#include "core/tensor.h"

namespace cudanet {

namespace {

// Runs `fill(data, n, stream)` on a contiguous buffer of `t`'s elements, then copies the result
// into `t` when `t` itself is strided (element i of the draw goes to the i-th element in
// row-major order either way).
template <typename Fill>
void fill_contiguous(Tensor& t, Fill&& fill) {
  const Tensor target = t.is_contiguous() ? t : Tensor::empty(t.shape(), t.dtype(), t.device());
  if (t.numel() > 0) fill(target.data_ptr(), t.numel(), current_stream(t.device()));
  if (!t.is_contiguous()) t.copy_(target);
}

}  // namespace

Tensor& Tensor::uniform_(double low, double high) {
  return uniform_(low, high, default_generator());
}
Tensor& Tensor::uniform_(double low, double high, Generator& generator) {
  check_defined("uniform_");
  fill_contiguous(*this, [&](void* data, std::int64_t n, const Stream& s) {
    fill_uniform(data, dtype_, n, low, high, generator, device(), s);
  });
  return *this;
}

Tensor& Tensor::normal_(double mean, double stddev) {
  return normal_(mean, stddev, default_generator());
}
Tensor& Tensor::normal_(double mean, double stddev, Generator& generator) {
  check_defined("normal_");
  fill_contiguous(*this, [&](void* data, std::int64_t n, const Stream& s) {
    fill_normal(data, dtype_, n, mean, stddev, generator, device(), s);
  });
  return *this;
}

Tensor& Tensor::bernoulli_(double p) {
  return bernoulli_(p, default_generator());
}
Tensor& Tensor::bernoulli_(double p, Generator& generator) {
  check_defined("bernoulli_");
  fill_contiguous(*this, [&](void* data, std::int64_t n, const Stream& s) {
    fill_bernoulli(data, dtype_, n, p, generator, device(), s);
  });
  return *this;
}

}  // namespace cudanet
