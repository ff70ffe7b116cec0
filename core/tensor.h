// Tensor: an n-dimensional view of typed elements in a Storage.
//
// A Tensor is a cheap handle: shared Storage + shape + strides (in elements, int64) + offset (in
// elements) + dtype; its device is its storage's. Copying a Tensor copies the handle, not the
// data (use clone() for that). New tensors are contiguous in row-major (NCHW) order. Views
// (reshape, flatten, narrow) share storage with the tensor they came from.
//
// Note: operations on CUDA tensors are queued on the current stream of their device and return
// before the work is done, except copies to the host, which wait for the data to arrive.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/storage.h"

namespace cudanet {

class Generator;

using Shape = std::vector<std::int64_t>;
constexpr int kMaxDims = 8;

std::string shape_str(const Shape& shape);  // "[2, 3, 4]"
std::int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;  // undefined: holds nothing

  // Uninitialised memory; on a GPU allocated for the device's current stream.
  static Tensor empty(const Shape& shape, DType dtype = DType::kFloat32, Device device = {});
  static Tensor zeros(const Shape& shape, DType dtype = DType::kFloat32, Device device = {});
  static Tensor full(const Shape& shape, double value, DType dtype = DType::kFloat32,
                     Device device = {});
  // A tensor holding `values` (row-major) with `shape`; its dtype is T's.
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = {});

  // A view of `storage` with any shape, strides (in elements, >= 0) and offset (in elements), as
  // a DLPack import needs. Throws ValueError unless every element lies inside the storage.
  static Tensor from_storage(Storage storage, Shape shape, Shape strides, std::int64_t offset,
                             DType dtype);

  bool defined() const { return storage_.defined(); }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  std::int64_t dim() const { return static_cast<std::int64_t>(shape_.size()); }
  std::int64_t size(std::int64_t d) const;    // negative d counts from the end
  std::int64_t stride(std::int64_t d) const;  // in elements
  std::int64_t numel() const { return shape_numel(shape_); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * element_size(dtype_); }
  std::int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_.device(); }
  const Storage& storage() const { return storage_; }
  bool is_contiguous() const;

  // Address of the first element. data<T>() checks that T matches the dtype.
  void* data_ptr() const;
  template <typename T>
  T* data() const {
    check_dtype(dtype_of<T>(), "data<T>()");
    return static_cast<T*>(data_ptr());
  }

  // ---- views (share storage) ----
  // Same elements in a new shape; one dimension may be -1 (inferred). Needs a contiguous
  // tensor; use reshape() for one that may copy.
  Tensor view(Shape shape) const;
  // view() when possible, else a contiguous copy reshaped.
  Tensor reshape(Shape shape) const;
  // Merges dimensions start_dim..end_dim into one (negative counts from the end).
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  // Elements start .. start+length-1 along `dim` (a batch slice when dim == 0).
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;

  // ---- copies ----
  // This tensor if contiguous, else a contiguous copy on the same device.
  Tensor contiguous() const;
  Tensor clone() const;
  // A copy on `device` (this tensor itself when it is already there). Host-to-device copies with
  // non_blocking go through pinned staging memory and return before the copy ends.
  Tensor to(Device device, bool non_blocking = false) const;
  // A copy with elements converted to `dtype` (this tensor itself when it already has it).
  // Converts on the host: a GPU tensor makes a round trip through host memory.
  Tensor to(DType dtype) const;
  // Copies `src` (same shape and dtype, any devices and strides) into this tensor.
  Tensor& copy_(const Tensor& src, bool non_blocking = false);
  // The elements in row-major order, on the host, as T (which must match the dtype).
  template <typename T>
  std::vector<T> to_vector() const;
  // The single element of a one-element tensor, converted to double.
  double item() const;

  // ---- in place ----
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  // Random fills from the Philox stream of `generator` (the default generator if omitted), for
  // float32 and float64 tensors: the same generator state gives the same values on CPU and GPU.
  Tensor& uniform_(double low, double high);
  Tensor& uniform_(double low, double high, Generator& generator);
  Tensor& normal_(double mean, double stddev);
  Tensor& normal_(double mean, double stddev, Generator& generator);
  // 1 with probability p, else 0 (float32, float64 or uint8).
  Tensor& bernoulli_(double p);
  Tensor& bernoulli_(double p, Generator& generator);

  // "tensor([...], shape=[..], dtype=float32, device=cpu)", long dimensions summarised.
  std::string str(std::int64_t edge_items = 3) const;

 private:
  Tensor(Storage storage, Shape shape, Shape strides, std::int64_t offset, DType dtype);
  void check_dtype(DType expected, const char* what) const;
  void check_defined(const char* what) const;
  // Copies a contiguous host buffer of this tensor's numel() elements into this tensor.
  void copy_from_host(const void* src);

  Storage storage_;
  Shape shape_;
  Shape strides_;
  std::int64_t offset_ = 0;
  DType dtype_ = DType::kFloat32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  Tensor t = empty(shape, dtype_of<T>(), device);
  CUDANET_CHECK(static_cast<std::int64_t>(values.size()) == t.numel(), ShapeError,
                "from_vector: ", values.size(), " values for shape ", shape_str(shape), " (",
                t.numel(), " elements)");
  t.copy_from_host(values.data());
  return t;
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  check_dtype(dtype_of<T>(), "to_vector<T>()");
  const Tensor host = to(Device::cpu()).contiguous();
  const T* p = static_cast<const T*>(host.data_ptr());
  return std::vector<T>(p, p + host.numel());
}

}  // namespace cudanet
