#include "train/gzip.h"

#include <algorithm>
#include <climits>

#include "core/config.h"
#include "core/error.h"

#if CUDANET_WITH_ZLIB
#include <zlib.h>
#endif

namespace cudanet::train {

namespace {
// zlib counts bytes in uInt; larger buffers are fed in pieces of this size.
constexpr std::size_t kZlibChunk = std::size_t{1} << 30;
}  // namespace

bool gzip_supported() {
  return CUDANET_WITH_ZLIB != 0;
}

bool is_gzip(const void* data, std::size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  return size >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

#if CUDANET_WITH_ZLIB

struct GzipReader::Impl {
  z_stream zs{};
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  std::size_t pos = 0;  // input bytes handed to zlib so far
  bool finished = false;
  bool initialised = false;
  std::string name;

  ~Impl() {
    if (initialised) inflateEnd(&zs);
  }
  std::size_t input_left() const { return zs.avail_in + (size - pos); }
};

GzipReader::GzipReader(const void* data, std::size_t size, std::string name)
    : impl_(std::make_unique<Impl>()) {
  impl_->data = static_cast<const unsigned char*>(data);
  impl_->size = size;
  impl_->name = std::move(name);
  // 15 + 16: a gzip wrapper (not raw deflate, not zlib) with the largest window.
  const int rc = inflateInit2(&impl_->zs, 15 + 16);
  CUDANET_CHECK(rc == Z_OK, IoError, impl_->name, ": cannot start gzip decompression (zlib error ",
                rc, ")");
  impl_->initialised = true;
}

GzipReader::~GzipReader() = default;

std::size_t GzipReader::read(void* out, std::size_t n) {
  Impl& s = *impl_;
  if (s.finished) return 0;
  auto* dst = static_cast<unsigned char*>(out);
  std::size_t produced = 0;
  while (produced < n) {
    if (s.zs.avail_in == 0 && s.pos < s.size) {
      const std::size_t chunk = std::min(s.size - s.pos, kZlibChunk);
      s.zs.next_in = const_cast<unsigned char*>(s.data + s.pos);  // zlib does not write input
      s.zs.avail_in = static_cast<uInt>(chunk);
      s.pos += chunk;
    }
    const std::size_t room = std::min(n - produced, kZlibChunk);
    s.zs.next_out = dst + produced;
    s.zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&s.zs, Z_NO_FLUSH);
    produced += room - s.zs.avail_out;
    if (rc == Z_OK) continue;
    if (rc == Z_STREAM_END) {
      if (s.input_left() == 0) {
        s.finished = true;
        break;
      }
      // Another gzip member may follow (gzip -c a b > c); anything else is garbage.
      const unsigned char* next = s.zs.avail_in > 0 ? s.zs.next_in : s.data + s.pos;
      const std::size_t contiguous = s.zs.avail_in > 0 ? s.zs.avail_in : s.size - s.pos;
      CUDANET_CHECK(is_gzip(next, contiguous), IoError, s.name, ": ", s.input_left(),
                    " unexpected bytes after the end of the gzip stream");
      CUDANET_CHECK(inflateReset(&s.zs) == Z_OK, IoError, s.name,
                    ": cannot restart gzip decompression");
      continue;
    }
    if (rc == Z_BUF_ERROR && s.input_left() == 0) {
      CUDANET_THROW(IoError, s.name, ": the gzip stream ends early (truncated file)");
    }
    if (rc == Z_MEM_ERROR) {
      CUDANET_THROW(IoError, s.name, ": out of memory while decompressing");
    }
    CUDANET_THROW(IoError, s.name, ": corrupt gzip data (",
                  s.zs.msg != nullptr ? s.zs.msg : "zlib error " + std::to_string(rc), ")");
  }
  return produced;
}

std::string gzip_compress(const std::string& data) {
  z_stream zs{};
  CUDANET_CHECK(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK, IoError,
                "cannot start gzip compression");
  std::string out;
  std::size_t pos = 0;
  unsigned char buffer[1 << 16];
  int rc = Z_OK;
  do {
    if (zs.avail_in == 0 && pos < data.size()) {
      const std::size_t chunk = std::min(data.size() - pos, kZlibChunk);
      zs.next_in = reinterpret_cast<unsigned char*>(const_cast<char*>(data.data() + pos));
      zs.avail_in = static_cast<uInt>(chunk);
      pos += chunk;
    }
    zs.next_out = buffer;
    zs.avail_out = sizeof buffer;
    rc = deflate(&zs, pos == data.size() ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_ERROR) {
      deflateEnd(&zs);
      CUDANET_THROW(IoError, "gzip compression failed");
    }
    out.append(reinterpret_cast<const char*>(buffer), sizeof buffer - zs.avail_out);
  } while (rc != Z_STREAM_END);
  deflateEnd(&zs);
  return out;
}

#else  // no zlib

struct GzipReader::Impl {};

GzipReader::GzipReader(const void*, std::size_t, std::string name) {
  CUDANET_THROW(IoError, name,
                " is gzip-compressed, but this cudanet was built without zlib: decompress it "
                "first (gunzip) or rebuild cudanet with zlib (Debian: zlib1g-dev)");
}

GzipReader::~GzipReader() = default;

std::size_t GzipReader::read(void*, std::size_t) {
  return 0;
}

std::string gzip_compress(const std::string&) {
  CUDANET_THROW(IoError,
                "gzip compression needs zlib, and this cudanet was built without it "
                "(Debian: zlib1g-dev)");
}

#endif

}  // namespace cudanet::train
