// Tensor construction, metadata and views.
#include "core/tensor.h"

#include <algorithm>
#include <limits>
#include <sstream>

namespace cudanet {

namespace {

// Validates a shape for a new tensor: at most kMaxDims dimensions, none negative, and a byte
// size that fits in int64.
void check_shape(const Shape& shape, DType dtype, const char* what) {
  CUDANET_CHECK(static_cast<int>(shape.size()) <= kMaxDims, ShapeError, what, ": shape ",
                shape_str(shape), " has ", shape.size(), " dimensions; at most ", kMaxDims,
                " are supported");
  // Zero sizes count as 1: the strides (products of the sizes after each dimension) must fit in
  // int64 even for an empty tensor.
  std::int64_t n = 1;
  const auto limit =
      std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(element_size(dtype));
  for (std::int64_t s : shape) {
    CUDANET_CHECK(s >= 0, ShapeError, what, ": negative size in shape ", shape_str(shape));
    const std::int64_t extent = std::max<std::int64_t>(s, 1);
    CUDANET_CHECK(n <= limit / extent, ShapeError, what, ": shape ", shape_str(shape),
                  " is too large");
    n *= extent;
  }
}

std::int64_t wrap_dim(std::int64_t d, std::int64_t ndim, const char* what) {
  const std::int64_t w = d < 0 ? d + ndim : d;
  CUDANET_CHECK(w >= 0 && w < ndim, ShapeError, what, ": dimension ", d,
                " is out of range for a tensor of ", ndim, " dimensions");
  return w;
}

}  // namespace

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

std::int64_t shape_numel(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t s : shape) n *= s;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  std::int64_t s = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<std::int64_t>(shape[i], 1);
  }
  return strides;
}

Tensor::Tensor(Storage storage, Shape shape, Shape strides, std::int64_t offset, DType dtype)
    : storage_(std::move(storage)),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      offset_(offset),
      dtype_(dtype) {}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  check_shape(shape, dtype, "Tensor::empty");
  const auto nbytes = static_cast<std::size_t>(shape_numel(shape)) * element_size(dtype);
  return Tensor(Storage(nbytes, device), shape, contiguous_strides(shape), 0, dtype);
}

Tensor Tensor::from_storage(Storage storage, Shape shape, Shape strides, std::int64_t offset,
                            DType dtype) {
  check_shape(shape, dtype, "Tensor::from_storage");
  CUDANET_CHECK(storage.defined(), ValueError, "Tensor::from_storage: undefined storage");
  CUDANET_CHECK(strides.size() == shape.size(), ValueError,
                "Tensor::from_storage: ", strides.size(), " strides for shape ", shape_str(shape));
  CUDANET_CHECK(offset >= 0, ValueError, "Tensor::from_storage: negative offset ", offset);
  std::int64_t last = offset;  // the last element's index, when there are elements
  for (std::size_t d = 0; d < shape.size(); ++d) {
    CUDANET_CHECK(strides[d] >= 0, ValueError, "Tensor::from_storage: negative stride ", strides[d],
                  " in ", shape_str(strides));
    if (shape[d] > 0) last += (shape[d] - 1) * strides[d];
  }
  const auto size = static_cast<std::int64_t>(element_size(dtype));
  CUDANET_CHECK(
      shape_numel(shape) == 0 || (last + 1) * size <= static_cast<std::int64_t>(storage.nbytes()),
      ValueError, "Tensor::from_storage: shape ", shape_str(shape), ", strides ",
      shape_str(strides), " and offset ", offset, " reach past the ", storage.nbytes(),
      " bytes of the storage");
  return Tensor(std::move(storage), std::move(shape), std::move(strides), offset, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

std::int64_t Tensor::size(std::int64_t d) const {
  return shape_[wrap_dim(d, dim(), "size")];
}

std::int64_t Tensor::stride(std::int64_t d) const {
  return strides_[wrap_dim(d, dim(), "stride")];
}

bool Tensor::is_contiguous() const {
  std::int64_t expected = 1;
  for (std::size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;  // the stride of a size-1 dimension never matters
    if (strides_[i] != expected) return numel() == 0;
    expected *= shape_[i];
  }
  return true;
}

void* Tensor::data_ptr() const {
  check_defined("data_ptr");
  return static_cast<char*>(storage_.data()) +
         static_cast<std::size_t>(offset_) * element_size(dtype_);
}

void Tensor::check_dtype(DType expected, const char* what) const {
  check_defined(what);
  CUDANET_CHECK(dtype_ == expected, ValueError, what, ": tensor has dtype ", dtype_, ", requested ",
                expected);
}

void Tensor::check_defined(const char* what) const {
  CUDANET_CHECK(defined(), ValueError, what, ": the tensor is undefined (default-constructed)");
}

Tensor Tensor::view(Shape shape) const {
  check_defined("view");
  std::int64_t inferred = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      CUDANET_CHECK(inferred < 0, ShapeError, "view: more than one -1 in ", shape_str(shape));
      inferred = static_cast<std::int64_t>(i);
    } else {
      CUDANET_CHECK(shape[i] >= 0, ShapeError, "view: invalid size in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (inferred >= 0) {
    CUDANET_CHECK(known != 0 && numel() % known == 0, ShapeError, "view: cannot view ",
                  shape_str(shape_), " (", numel(), " elements) as ", shape_str(shape));
    shape[static_cast<std::size_t>(inferred)] = numel() / known;
  }
  CUDANET_CHECK(shape_numel(shape) == numel(), ShapeError, "view: cannot view ", shape_str(shape_),
                " (", numel(), " elements) as ", shape_str(shape));
  CUDANET_CHECK(is_contiguous(), ShapeError, "view: tensor of shape ", shape_str(shape_),
                " with strides ", shape_str(strides_), " is not contiguous; use reshape()");
  check_shape(shape, dtype_, "view");
  Shape strides = contiguous_strides(shape);
  return Tensor(storage_, std::move(shape), std::move(strides), offset_, dtype_);
}

Tensor Tensor::reshape(Shape shape) const {
  check_defined("reshape");
  return is_contiguous() ? view(std::move(shape)) : contiguous().view(std::move(shape));
}

Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
  check_defined("flatten");
  if (dim() == 0) return reshape({1});
  const std::int64_t s = wrap_dim(start_dim, dim(), "flatten");
  const std::int64_t e = wrap_dim(end_dim, dim(), "flatten");
  CUDANET_CHECK(s <= e, ShapeError, "flatten: start_dim ", start_dim, " comes after end_dim ",
                end_dim);
  Shape shape(shape_.begin(), shape_.begin() + s);
  std::int64_t merged = 1;
  for (std::int64_t i = s; i <= e; ++i) merged *= shape_[static_cast<std::size_t>(i)];
  shape.push_back(merged);
  shape.insert(shape.end(), shape_.begin() + e + 1, shape_.end());
  return reshape(std::move(shape));
}

Tensor Tensor::narrow(std::int64_t d, std::int64_t start, std::int64_t length) const {
  check_defined("narrow");
  const auto w = static_cast<std::size_t>(wrap_dim(d, dim(), "narrow"));
  CUDANET_CHECK(start >= 0 && length >= 0 && start + length <= shape_[w], ShapeError, "narrow: [",
                start, ", ", start + length, ") is out of range for dimension ", d, " of size ",
                shape_[w]);
  Shape shape = shape_;
  shape[w] = length;
  return Tensor(storage_, std::move(shape), strides_, offset_ + start * strides_[w], dtype_);
}

double Tensor::item() const {
  check_defined("item");
  CUDANET_CHECK(numel() == 1, ShapeError, "item: tensor of shape ", shape_str(shape_), " has ",
                numel(), " elements, not 1");
  const Tensor host = to(Device::cpu());
  return dispatch_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    return to_double(*static_cast<const T*>(host.data_ptr()));
  });
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.str();
}

}  // namespace cudanet
