// CPU reference of the bias add and bias gradient of the linear op.
#include "kernels/linear.h"

#include <cstdint>
#include <vector>

namespace cudanet::kernels::cpu {

template <typename T>
void bias_add_forward(T* y, const T* b, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) y[i * cols + j] += b[j];
  }
}

template <typename T>
void bias_grad(const T* dy, T* db, std::int64_t rows, std::int64_t cols, bool accumulate) {
  std::vector<double> sum(static_cast<std::size_t>(cols), 0.0);
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) sum[j] += static_cast<double>(dy[i * cols + j]);
  }
  for (std::int64_t j = 0; j < cols; ++j) {
    db[j] = static_cast<T>((accumulate ? static_cast<double>(db[j]) : 0.0) + sum[j]);
  }
}

template void bias_add_forward<float>(float*, const float*, std::int64_t, std::int64_t);
template void bias_add_forward<double>(double*, const double*, std::int64_t, std::int64_t);
template void bias_grad<float>(const float*, float*, std::int64_t, std::int64_t, bool);
template void bias_grad<double>(const double*, double*, std::int64_t, std::int64_t, bool);

}  // namespace cudanet::kernels::cpu
