#include "train/idx.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <vector>

#include "train/atomic_file.h"
#include "train/gzip.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "IDX conversion assumes a little-endian host");

namespace cudanet::train {

namespace {

struct IdxType {
  std::uint8_t code;
  const char* name;
  std::size_t file_size;  // bytes per element in the file
  DType dtype;            // the tensor's dtype
};

constexpr IdxType kIdxTypes[] = {
    {0x08, "uint8", 1, DType::kUInt8},     {0x09, "int8", 1, DType::kInt32},
    {0x0B, "int16", 2, DType::kInt32},     {0x0C, "int32", 4, DType::kInt32},
    {0x0D, "float32", 4, DType::kFloat32}, {0x0E, "float64", 8, DType::kFloat64},
};

const IdxType* find_type(std::uint8_t code) {
  for (const IdxType& t : kIdxTypes) {
    if (t.code == code) return &t;
  }
  return nullptr;
}

std::string hex_byte(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", v & 0xffu);
  return buf;
}

std::uint64_t load_be(const std::uint8_t* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

void store_be(std::uint64_t v, std::size_t n, std::string& out) {
  for (std::size_t i = n; i-- > 0;) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

// The bytes of the file after its magic: straight from memory, or decompressed from gzip.
class Input {
 public:
  Input(const void* data, std::size_t size, const std::string& name)
      : data_(static_cast<const std::uint8_t*>(data)), size_(size) {
    if (is_gzip(data, size)) gzip_ = std::make_unique<GzipReader>(data, size, name);
  }
  bool compressed() const { return gzip_ != nullptr; }
  std::size_t read(void* out, std::size_t n) {
    if (gzip_) return gzip_->read(out, n);
    const std::size_t k = std::min(n, size_ - pos_);
    if (k > 0) std::memcpy(out, data_ + pos_, k);
    pos_ += k;
    return k;
  }
  // Uncompressed input only: the unread bytes, which can be used in place.
  const std::uint8_t* rest() const { return data_ + pos_; }
  std::size_t rest_size() const { return size_ - pos_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::unique_ptr<GzipReader> gzip_;
};

// Converts `numel` big-endian elements of `type` at `src` into the tensor `out`.
void convert(const std::uint8_t* src, std::int64_t numel, const IdxType& type, Tensor& out) {
  const auto n = static_cast<std::size_t>(numel);
  switch (type.code) {
    case 0x08:
      if (n > 0) std::memcpy(out.data_ptr(), src, n);
      return;
    case 0x09: {
      auto* dst = out.data<std::int32_t>();
      for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<std::int8_t>(src[i]);
      return;
    }
    case 0x0B: {
      auto* dst = out.data<std::int32_t>();
      for (std::size_t i = 0; i < n; ++i) {
        dst[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(load_be(src + 2 * i, 2)));
      }
      return;
    }
    case 0x0C:
    case 0x0D: {
      auto* dst = static_cast<std::uint8_t*>(out.data_ptr());
      for (std::size_t i = 0; i < n; ++i) {
        const auto v = static_cast<std::uint32_t>(load_be(src + 4 * i, 4));
        std::memcpy(dst + 4 * i, &v, 4);
      }
      return;
    }
    default: {  // 0x0E
      auto* dst = static_cast<std::uint8_t*>(out.data_ptr());
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t v = load_be(src + 8 * i, 8);
        std::memcpy(dst + 8 * i, &v, 8);
      }
      return;
    }
  }
}

}  // namespace

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  CUDANET_CHECK(in.is_open(), IoError, "cannot open ", path, ": ", std::strerror(errno));
  std::string bytes;
  char buffer[1 << 16];
  while (in) {
    in.read(buffer, sizeof buffer);
    bytes.append(buffer, static_cast<std::size_t>(in.gcount()));
  }
  CUDANET_CHECK(in.eof(), IoError, "cannot read ", path, ": ", std::strerror(errno));
  return bytes;
}

Tensor read_idx(const std::string& path) {
  const std::string bytes = read_file_bytes(path);
  return parse_idx(bytes.data(), bytes.size(), path);
}

Tensor parse_idx(const void* data, std::size_t size, const std::string& name) {
  Input in(data, size, name);
  const char* what = in.compressed() ? "decompressed data" : "file";

  std::uint8_t magic[4];
  const std::size_t got = in.read(magic, 4);
  CUDANET_CHECK(got == 4, IoError, name, ": short IDX header: the ", what, " holds ", got,
                " bytes, the magic number alone needs 4");
  CUDANET_CHECK(magic[0] == 0 && magic[1] == 0, IoError, name,
                ": not an IDX file: bad magic number ", hex_byte(magic[0]), " ", hex_byte(magic[1]),
                " ", hex_byte(magic[2]), " ", hex_byte(magic[3]),
                " (expected 0x00 0x00 <type> <dimensions>)");
  const IdxType* type = find_type(magic[2]);
  CUDANET_CHECK(type != nullptr, IoError, name, ": unknown IDX element type ", hex_byte(magic[2]),
                " (known: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, "
                "0x0E float64)");
  const int ndims = magic[3];
  CUDANET_CHECK(ndims >= 1 && ndims <= kMaxDims, IoError, name, ": the IDX header declares ", ndims,
                " dimensions; between 1 and ", kMaxDims, " are supported");

  std::uint8_t dims[4 * kMaxDims];
  const std::size_t dim_bytes = 4 * static_cast<std::size_t>(ndims);
  const std::size_t got_dims = in.read(dims, dim_bytes);
  CUDANET_CHECK(got_dims == dim_bytes, IoError, name, ": short IDX header: the ", what,
                " ends inside the sizes of its ", ndims, " dimensions");
  Shape shape(static_cast<std::size_t>(ndims));
  // Both the file's bytes and the tensor's bytes must fit in int64.
  const auto widest =
      static_cast<std::int64_t>(std::max(type->file_size, element_size(type->dtype)));
  const std::int64_t limit = std::numeric_limits<std::int64_t>::max() / widest;
  // `extent` counts zero sizes as 1: it bounds the tensor's strides, which must fit even when a
  // zero size makes the element count 0.
  std::int64_t numel = 1, extent = 1;
  bool overflow = false;
  for (int d = 0; d < ndims; ++d) {
    shape[static_cast<std::size_t>(d)] = static_cast<std::int64_t>(load_be(dims + 4 * d, 4));
    const std::int64_t s = shape[static_cast<std::size_t>(d)];
    if (extent > limit / std::max<std::int64_t>(s, 1)) overflow = true;
    if (!overflow) {
      extent *= std::max<std::int64_t>(s, 1);
      numel *= s;
    }
  }
  CUDANET_CHECK(!overflow, IoError, name, ": IDX sizes ", shape_str(shape),
                " overflow: the element count does not fit in 64 bits");
  const auto expected = static_cast<std::uint64_t>(numel) * type->file_size;

  Tensor out;
  if (!in.compressed()) {
    const std::uint64_t have = in.rest_size();
    CUDANET_CHECK(have >= expected, IoError, name, ": truncated IDX data: ", have,
                  " bytes for sizes ", shape_str(shape), " of ", type->name, ", expected ",
                  expected);
    CUDANET_CHECK(have == expected, IoError, name, ": ", have - expected,
                  " unexpected bytes after the IDX data (sizes ", shape_str(shape), " of ",
                  type->name, " need ", expected, ")");
    out = Tensor::empty(shape, type->dtype);
    convert(in.rest(), numel, *type, out);
    return out;
  }

  // Grow the buffer with the stream, so a header claiming more than the stream holds costs no
  // more memory than the stream itself.
  constexpr std::uint64_t kFirstChunk = std::uint64_t{1} << 20;
  std::vector<std::uint8_t> buffer;
  while (buffer.size() < expected) {
    const std::uint64_t old = buffer.size();
    const std::uint64_t next = std::min<std::uint64_t>(expected, std::max(2 * old, kFirstChunk));
    buffer.resize(static_cast<std::size_t>(next));
    const std::size_t n = in.read(buffer.data() + old, static_cast<std::size_t>(next - old));
    CUDANET_CHECK(n == next - old, IoError, name,
                  ": truncated IDX data: the decompressed data "
                  "holds ",
                  old + n, " bytes for sizes ", shape_str(shape), " of ", type->name, ", expected ",
                  expected);
  }
  std::uint8_t extra = 0;
  CUDANET_CHECK(in.read(&extra, 1) == 0, IoError, name,
                ": unexpected bytes after the IDX data in the decompressed data (sizes ",
                shape_str(shape), " of ", type->name, " need ", expected, ")");
  out = Tensor::empty(shape, type->dtype);
  convert(buffer.data(), numel, *type, out);
  return out;
}

std::string idx_bytes(const Tensor& tensor) {
  CUDANET_CHECK(tensor.defined(), ValueError, "idx_bytes: undefined tensor");
  std::uint8_t code = 0;
  switch (tensor.dtype()) {
    case DType::kUInt8:
      code = 0x08;
      break;
    case DType::kInt32:
      code = 0x0C;
      break;
    case DType::kFloat32:
      code = 0x0D;
      break;
    case DType::kFloat64:
      code = 0x0E;
      break;
    default:
      CUDANET_THROW(ValueError, "IDX files hold uint8, int32, float32 or float64, not ",
                    tensor.dtype());
  }
  CUDANET_CHECK(tensor.dim() >= 1, ValueError, "IDX files need at least one dimension");
  for (std::int64_t s : tensor.shape()) {
    CUDANET_CHECK(s <= 0xffffffffLL, ValueError, "IDX sizes are 32-bit; shape ",
                  shape_str(tensor.shape()), " does not fit");
  }
  const Tensor host = tensor.to(Device::cpu()).contiguous();
  const std::size_t esize = element_size(host.dtype());
  std::string out;
  out.reserve(4 + 4 * host.shape().size() + host.nbytes());
  out.push_back(0);
  out.push_back(0);
  out.push_back(static_cast<char>(code));
  out.push_back(static_cast<char>(host.dim()));
  for (std::int64_t s : host.shape()) store_be(static_cast<std::uint64_t>(s), 4, out);
  const auto* p = static_cast<const std::uint8_t*>(host.data_ptr());
  for (std::size_t i = 0; i < static_cast<std::size_t>(host.numel()); ++i) {
    std::uint64_t v = 0;
    std::memcpy(&v, p + esize * i, esize);  // little-endian host: the low bytes
    store_be(v, esize, out);
  }
  return out;
}

void write_idx(const std::string& path, const Tensor& tensor) {
  std::string bytes = idx_bytes(tensor);
  const bool gz = path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  if (gz) bytes = gzip_compress(bytes);
  write_file_atomic(path, bytes);
}

}  // namespace cudanet::train
