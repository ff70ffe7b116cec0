// Printing tensors: tensor([[1.0000, 2.0000], ...], shape=[2, 2], dtype=float32, device=cpu).
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "core/tensor.h"

namespace cudanet {

namespace {

struct Printer {
  const Tensor& host;  // contiguous, on the CPU
  std::int64_t edge;   // elements shown at each end of a long dimension
  bool floating;
  std::ostringstream os;

  double value(std::int64_t linear) const {
    return dispatch_dtype(host.dtype(), [&](auto tag) {
      using T = decltype(tag);
      return to_double(static_cast<const T*>(host.data_ptr())[linear]);
    });
  }

  void element(std::int64_t linear) {
    const double v = value(linear);
    if (!floating) {
      os << static_cast<long long>(v);
    } else if (std::isnan(v)) {
      os << "nan";
    } else if (std::isinf(v)) {
      os << (v > 0 ? "inf" : "-inf");
    } else {
      os << std::fixed << std::setprecision(4) << v;
    }
  }

  // Prints dimension `d` of the block starting at element `base`.
  void block(std::size_t d, std::int64_t base, int indent) {
    const Shape& shape = host.shape();
    const std::int64_t n = shape[d];
    const std::int64_t stride = host.strides()[d];
    const bool last = d + 1 == shape.size();
    os << '[';
    for (std::int64_t i = 0; i < n; ++i) {
      if (n > 2 * edge && i == edge) {
        os << (last ? "..., " : "...,\n" + std::string(static_cast<std::size_t>(indent + 1), ' '));
        i = n - edge - 1;
        continue;
      }
      if (last) {
        element(base + i * stride);
      } else {
        block(d + 1, base + i * stride, indent + 1);
      }
      if (i + 1 < n)
        os << (last ? ", " : ",\n" + std::string(static_cast<std::size_t>(indent + 1), ' '));
    }
    os << ']';
  }
};

}  // namespace

std::string Tensor::str(std::int64_t edge_items) const {
  if (!defined()) return "tensor(undefined)";
  const Tensor host = to(Device::cpu()).contiguous();
  Printer p{host, std::max<std::int64_t>(edge_items, 1), is_floating(dtype_), {}};
  p.os << "tensor(";
  if (dim() == 0) {
    p.element(0);
  } else {
    p.block(0, 0, 7);
  }
  p.os << ", shape=" << shape_str(shape_) << ", dtype=" << dtype_ << ", device=" << device() << ')';
  return p.os.str();
}

}  // namespace cudanet
