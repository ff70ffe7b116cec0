// Tensor copies within and across devices, contiguous(), clone(), to() and fill_().
#include <algorithm>
#include <cstring>

#include "core/cuda/memory_ops.h"
#include "core/pinned_allocator.h"
#include "core/tensor.h"

namespace cudanet {

namespace {

cuda::StridedLayout layout_of(const Tensor& t) {
  cuda::StridedLayout l;
  l.ndim = static_cast<int>(t.dim());
  for (int d = 0; d < l.ndim; ++d) {
    l.sizes[d] = t.shape()[static_cast<std::size_t>(d)];
    l.strides[d] = t.strides()[static_cast<std::size_t>(d)];
  }
  return l;
}

// Visits every element of `shape` in row-major order, calling step(dst_offset, src_offset) with
// element offsets under the two stride sets (an odometer that updates both incrementally).
template <typename Step>
void for_each_offset(const Shape& shape, const Shape& dst_strides, const Shape& src_strides,
                     Step&& step) {
  const std::int64_t numel = shape_numel(shape);
  const std::size_t ndim = shape.size();
  std::vector<std::int64_t> index(ndim, 0);
  std::int64_t d_off = 0;
  std::int64_t s_off = 0;
  for (std::int64_t i = 0; i < numel; ++i) {
    step(d_off, s_off);
    for (std::size_t d = ndim; d-- > 0;) {
      if (++index[d] < shape[d]) {
        d_off += dst_strides[d];
        s_off += src_strides[d];
        break;
      }
      d_off -= (shape[d] - 1) * dst_strides[d];
      s_off -= (shape[d] - 1) * src_strides[d];
      index[d] = 0;
    }
  }
}

// Host strided copy of the elements of `shape` (`elem_size` bytes each). Contiguous operands are
// one memcpy; operands whose last dimension is dense in both copy row by row; the rest element by
// element.
void host_strided_copy(char* dst, const Shape& dst_strides, const char* src,
                       const Shape& src_strides, const Shape& shape, std::size_t elem_size) {
  const std::int64_t numel = shape_numel(shape);
  if (numel == 0) return;
  const auto esize = static_cast<std::int64_t>(elem_size);
  const Shape dense = contiguous_strides(shape);
  if (dst_strides == dense && src_strides == dense) {
    std::memcpy(dst, src, static_cast<std::size_t>(numel * esize));
    return;
  }
  if (!shape.empty() && shape.back() > 1 && dst_strides.back() == 1 && src_strides.back() == 1) {
    const Shape outer(shape.begin(), shape.end() - 1);
    const auto row_bytes = static_cast<std::size_t>(shape.back() * esize);
    for_each_offset(outer, Shape(dst_strides.begin(), dst_strides.end() - 1),
                    Shape(src_strides.begin(), src_strides.end() - 1),
                    [&](std::int64_t d, std::int64_t s) {
                      std::memcpy(dst + d * esize, src + s * esize, row_bytes);
                    });
    return;
  }
  const auto copy_words = [&](auto word) {
    using Word = decltype(word);
    auto* out = reinterpret_cast<Word*>(dst);
    const auto* in = reinterpret_cast<const Word*>(src);
    for_each_offset(shape, dst_strides, src_strides,
                    [&](std::int64_t d, std::int64_t s) { out[d] = in[s]; });
  };
  switch (elem_size) {
    case 1:
      copy_words(std::uint8_t{});
      break;
    case 2:
      copy_words(std::uint16_t{});
      break;
    case 4:
      copy_words(std::uint32_t{});
      break;
    default:
      copy_words(std::uint64_t{});
      break;
  }
}

// Host fill: writes the `elem_size`-byte `pattern` to every element.
void host_fill(char* dst, const Shape& strides, const Shape& shape, const unsigned char* pattern,
               std::size_t elem_size) {
  const auto fill_words = [&](auto word) {
    using Word = decltype(word);
    Word value;
    std::memcpy(&value, pattern, sizeof(Word));
    auto* out = reinterpret_cast<Word*>(dst);
    if (strides == contiguous_strides(shape)) {
      std::fill_n(out, shape_numel(shape), value);
      return;
    }
    for_each_offset(shape, strides, strides, [&](std::int64_t d, std::int64_t) { out[d] = value; });
  };
  switch (elem_size) {
    case 1:
      fill_words(std::uint8_t{});
      break;
    case 2:
      fill_words(std::uint16_t{});
      break;
    case 4:
      fill_words(std::uint32_t{});
      break;
    default:
      fill_words(std::uint64_t{});
      break;
  }
}

// The `element_size(dtype)` bytes that represent `value` in `dtype`.
void encode(double value, DType dtype, unsigned char* out) {
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T v = from_double<T>(value);
    std::memcpy(out, &v, sizeof(T));
  });
}

}  // namespace

Tensor Tensor::contiguous() const {
  check_defined("contiguous");
  return is_contiguous() ? *this : clone();
}

Tensor Tensor::clone() const {
  check_defined("clone");
  Tensor out = empty(shape_, dtype_, device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(Device target, bool non_blocking) const {
  check_defined("to");
  if (target == device()) return *this;
  Tensor out = empty(shape_, dtype_, target);
  out.copy_(*this, non_blocking);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  check_defined("to");
  if (dtype == dtype_) return *this;
  const Tensor src = to(Device::cpu()).contiguous();
  Tensor out = empty(shape_, dtype, Device::cpu());
  dispatch_dtype(dtype_, [&](auto from_tag) {
    using From = decltype(from_tag);
    dispatch_dtype(dtype, [&](auto to_tag) {
      using To = decltype(to_tag);
      const From* in = static_cast<const From*>(src.data_ptr());
      To* o = static_cast<To*>(out.data_ptr());
      for (std::int64_t i = 0; i < numel(); ++i) o[i] = from_double<To>(to_double(in[i]));
    });
  });
  return out.to(device());
}

void Tensor::copy_from_host(const void* src) {
  if (device().is_cpu()) {
    host_strided_copy(static_cast<char*>(data_ptr()), strides_, static_cast<const char*>(src),
                      contiguous_strides(shape_), shape_, element_size(dtype_));
    return;
  }
  Tensor staging = empty(shape_, dtype_, Device::cpu());
  std::memcpy(staging.data_ptr(), src, nbytes());
  copy_(staging);
}

Tensor& Tensor::copy_(const Tensor& src, bool non_blocking) {
  check_defined("copy_");
  src.check_defined("copy_");
  CUDANET_CHECK(src.shape_ == shape_, ShapeError, "copy_: source shape ", shape_str(src.shape_),
                " differs from destination shape ", shape_str(shape_));
  CUDANET_CHECK(src.dtype_ == dtype_, ValueError, "copy_: source dtype ", src.dtype_,
                " differs from destination dtype ", dtype_, " (convert explicitly)");
  if (numel() == 0) return *this;
  const std::size_t esize = element_size(dtype_);
  const Device dst_dev = device();
  const Device src_dev = src.device();

  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    host_strided_copy(static_cast<char*>(data_ptr()), strides_,
                      static_cast<const char*>(src.data_ptr()), src.strides_, shape_, esize);
    return *this;
  }

  if (dst_dev.is_cuda() && src_dev == dst_dev) {
    const Stream stream = current_stream(dst_dev);
    if (is_contiguous() && src.is_contiguous()) {
      cuda::copy_device_to_device(data_ptr(), src.data_ptr(), nbytes(), stream);
    } else {
      cuda::strided_copy(data_ptr(), layout_of(*this), src.data_ptr(), layout_of(src), numel(),
                         esize, stream);
    }
    return *this;
  }

  if (dst_dev.is_cpu()) {  // device to host: always waits for the data
    const Tensor packed = src.contiguous();
    const Stream stream = current_stream(src_dev);
    if (is_contiguous()) {
      cuda::copy_device_to_host(data_ptr(), packed.data_ptr(), nbytes(), stream);
    } else {
      Tensor staging = empty(shape_, dtype_, Device::cpu());
      cuda::copy_device_to_host(staging.data_ptr(), packed.data_ptr(), nbytes(), stream);
      copy_(staging);
    }
    return *this;
  }

  // Destination on a GPU, source on the host or another GPU: transfer into a contiguous buffer on
  // the destination device, then scatter it if the destination is strided.
  const Stream stream = current_stream(dst_dev);
  Tensor target = is_contiguous() ? *this : empty(shape_, dtype_, dst_dev);
  if (src_dev.is_cpu()) {
    const Tensor packed = src.contiguous();
    if (non_blocking) {
      // Pinned staging makes the copy truly asynchronous; the staging block is recycled only after
      // the stream has passed this copy (record_stream).
      Allocator& pinned = pinned_allocator();
      DataPtr staging = pinned.allocate(nbytes(), stream);
      std::memcpy(staging.get(), packed.data_ptr(), nbytes());
      cuda::copy_host_to_device(target.data_ptr(), staging.get(), nbytes(), stream, false);
      pinned.record_stream(staging.get(), stream);
    } else {
      cuda::copy_host_to_device(target.data_ptr(), packed.data_ptr(), nbytes(), stream, true);
    }
  } else {
    const Tensor packed = src.contiguous();
    current_stream(src_dev).synchronize();  // the source is complete before the peer copy reads it
    cuda::copy_peer(target.data_ptr(), dst_dev.index(), packed.data_ptr(), src_dev.index(),
                    nbytes(), stream);
    if (!non_blocking) stream.synchronize();
  }
  if (!is_contiguous()) {
    cuda::strided_copy(data_ptr(), layout_of(*this), target.data_ptr(), layout_of(target), numel(),
                       esize, stream);
  }
  return *this;
}

Tensor& Tensor::fill_(double value) {
  check_defined("fill_");
  if (numel() == 0) return *this;
  unsigned char pattern[8];
  encode(value, dtype_, pattern);
  const std::size_t esize = element_size(dtype_);
  if (device().is_cuda()) {
    cuda::strided_fill(data_ptr(), layout_of(*this), numel(), pattern, esize,
                       current_stream(device()));
    return *this;
  }
  host_fill(static_cast<char*>(data_ptr()), strides_, shape_, pattern, esize);
  return *this;
}

}  // namespace cudanet
