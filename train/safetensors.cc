#include "train/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include "train/atomic_file.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian and is copied as is");

namespace cudanet::train {

namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

constexpr const char* kMetadataKey = "__metadata__";

struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kDTypes[] = {{DType::kFloat32, "F32"}, {DType::kFloat64, "F64"},
                                 {DType::kFloat16, "F16"}, {DType::kBFloat16, "BF16"},
                                 {DType::kInt32, "I32"},   {DType::kInt64, "I64"},
                                 {DType::kUInt8, "U8"}};
// safetensors dtypes cudanet cannot hold.
constexpr const char* kUnsupportedDTypes[] = {"BOOL",    "I8",      "I16",     "U16",     "U32",
                                              "U64",     "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3",
                                              "F6_E3M2", "F4",      "C64"};

struct Entry {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

struct Header {
  std::vector<Entry> entries;  // sorted by data offset
  Metadata metadata;
};

std::uint64_t load_le64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

DType parse_dtype_name(const std::string& s, const std::string& file, const std::string& tensor) {
  for (const DTypeName& d : kDTypes) {
    if (s == d.name) return d.dtype;
  }
  for (const char* u : kUnsupportedDTypes) {
    CUDANET_CHECK(s != u, IoError, file, ": tensor \"", tensor, "\" has dtype ", s,
                  ", which cudanet does not support");
  }
  CUDANET_THROW(IoError, file, ": tensor \"", tensor, "\" has unknown dtype \"", s, "\"");
}

// A non-negative integer of the header (nlohmann parses those as unsigned).
std::uint64_t header_uint(const Json& v, const std::string& file, const std::string& tensor,
                          const char* what) {
  CUDANET_CHECK(v.is_number_unsigned(), IoError, file, ": tensor \"", tensor, "\" has ", what, " ",
                v.dump(), "; expected a non-negative integer");
  return v.get<std::uint64_t>();
}

Entry parse_entry(const std::string& name, const Json& v, const std::string& file) {
  CUDANET_CHECK(v.is_object(), IoError, file, ": the header entry \"", name,
                "\" is not an object (it is ", v.type_name(), ")");
  for (const auto& item : v.items()) {
    const std::string& key = item.key();
    CUDANET_CHECK(key == "dtype" || key == "shape" || key == "data_offsets", IoError, file,
                  ": tensor \"", name, "\" has an unknown field \"", key, "\"");
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    CUDANET_CHECK(v.contains(key), IoError, file, ": tensor \"", name, "\" has no \"", key,
                  "\" field");
  }
  Entry e;
  e.name = name;
  const Json& dtype = v["dtype"];
  CUDANET_CHECK(dtype.is_string(), IoError, file, ": tensor \"", name,
                "\" has a dtype that is not a string: ", dtype.dump());
  e.dtype = parse_dtype_name(dtype.get<std::string>(), file, name);

  const Json& shape = v["shape"];
  CUDANET_CHECK(shape.is_array(), IoError, file, ": tensor \"", name,
                "\" has a shape that is not an array: ", shape.dump());
  CUDANET_CHECK(shape.size() <= static_cast<std::size_t>(kMaxDims), IoError, file, ": tensor \"",
                name, "\" has ", shape.size(), " dimensions; at most ", kMaxDims, " are supported");
  // Byte size with overflow checks: every product stays below 2^63. `extent` counts zero sizes as
  // 1 -- it bounds the tensor's strides, which must fit even when a zero size makes it empty.
  const auto kLimit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t bytes = element_size(e.dtype), extent = bytes;
  for (const Json& d : shape) {
    const std::uint64_t s = header_uint(d, file, name, "a dimension");
    CUDANET_CHECK(s <= kLimit, IoError, file, ": tensor \"", name, "\" has dimension ", s,
                  ", larger than 2^63 - 1");
    CUDANET_CHECK(extent <= kLimit / std::max<std::uint64_t>(s, 1), IoError, file, ": tensor \"",
                  name, "\" has shape ", shape.dump(), " whose byte size overflows");
    extent *= std::max<std::uint64_t>(s, 1);
    bytes *= s;
    e.shape.push_back(static_cast<std::int64_t>(s));
  }

  const Json& offsets = v["data_offsets"];
  CUDANET_CHECK(offsets.is_array() && offsets.size() == 2, IoError, file, ": tensor \"", name,
                "\" has data_offsets ", offsets.dump(), "; expected [begin, end]");
  e.begin = header_uint(offsets[0], file, name, "a data offset");
  e.end = header_uint(offsets[1], file, name, "a data offset");
  CUDANET_CHECK(e.begin <= e.end, IoError, file, ": tensor \"", name, "\" has data offsets [",
                e.begin, ", ", e.end, "] out of order (begin after end)");
  CUDANET_CHECK(e.end - e.begin == bytes, IoError, file, ": tensor \"", name, "\" of dtype ",
                safetensors_dtype(e.dtype), " and shape ", shape.dump(), " needs ", bytes,
                " bytes, but its data offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin);
  return e;
}

// Parses and validates the JSON header against a data buffer of `data_size` bytes.
Header parse_header(const char* text, std::size_t size, std::uint64_t data_size,
                    const std::string& file) {
  // nlohmann keeps one of two equal keys silently: track the keys of every open object. Nothing
  // valid nests deeper than 3 (top object, entry, shape array).
  std::vector<std::set<std::string>> open_objects;
  int depth = 0;
  const Json::parser_callback_t check = [&](int, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        CUDANET_CHECK(++depth <= 3, IoError, file,
                      ": the header nests deeper than a "
                      "safetensors header can");
        if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        --depth;
        open_objects.pop_back();
        break;
      case Json::parse_event_t::array_end:
        --depth;
        break;
      case Json::parse_event_t::key:
        CUDANET_CHECK(open_objects.back().insert(parsed.get<std::string>()).second, IoError, file,
                      ": duplicate name \"", parsed.get<std::string>(), "\" in the header");
        break;
      case Json::parse_event_t::value:
        break;
    }
    return true;
  };
  Json root;
  try {
    root = Json::parse(text, text + size, check);
  } catch (const Json::exception& e) {
    CUDANET_THROW(IoError, file, ": the header is not valid JSON: ", e.what());
  }
  CUDANET_CHECK(root.is_object(), IoError, file, ": the header is not a JSON object (it is ",
                root.type_name(), ")");

  Header h;
  for (const auto& item : root.items()) {
    if (item.key() == kMetadataKey) {
      CUDANET_CHECK(item.value().is_object(), IoError, file,
                    ": __metadata__ is not an object of strings");
      for (const auto& m : item.value().items()) {
        CUDANET_CHECK(m.value().is_string(), IoError, file, ": metadata \"", m.key(),
                      "\" is not a string: ", m.value().dump());
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    h.entries.push_back(parse_entry(item.key(), item.value(), file));
  }

  // The tensors must tile the data buffer exactly.
  std::sort(h.entries.begin(), h.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : h.entries) {
    CUDANET_CHECK(e.end <= data_size, IoError, file, ": tensor \"", e.name, "\" has data offsets [",
                  e.begin, ", ", e.end, "] running past the end of the ", data_size,
                  "-byte data buffer");
    CUDANET_CHECK(e.begin >= expected, IoError, file, ": tensor \"", e.name, "\" at [", e.begin,
                  ", ", e.end, ") overlaps tensor \"", previous ? previous->name : "", "\" at [",
                  previous ? previous->begin : 0, ", ", expected, ")");
    CUDANET_CHECK(e.begin == expected, IoError, file, ": a gap of ", e.begin - expected,
                  " bytes in the data buffer before tensor \"", e.name, "\" (at offset ", expected,
                  ")");
    expected = e.end;
    previous = &e;
  }
  CUDANET_CHECK(expected == data_size, IoError, file, ": ", data_size - expected,
                " bytes of the data buffer belong to no tensor (the tensors end at ", expected,
                ", the data at ", data_size, ")");
  return h;
}

// Splits off the header of a file of `file_size` bytes whose first 8 bytes are `prefix`; returns
// the header length.
std::uint64_t header_length(const unsigned char* prefix, std::uint64_t file_size,
                            const std::string& file) {
  const std::uint64_t n = load_le64(prefix);
  CUDANET_CHECK(n <= kMaxSafetensorsHeaderBytes, IoError, file, ": header length ", n,
                " exceeds the limit of ", kMaxSafetensorsHeaderBytes, " bytes");
  CUDANET_CHECK(n <= file_size - 8, IoError, file, ": header length ", n,
                " runs past the end of the file (", file_size, " bytes)");
  return n;
}

OrderedJson header_json(const NamedTensors& tensors, const Metadata& metadata,
                        std::vector<Tensor>& host) {
  OrderedJson header = OrderedJson::object();
  if (!metadata.empty()) {
    OrderedJson m = OrderedJson::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header[kMetadataKey] = std::move(m);
  }
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    CUDANET_CHECK(name != kMetadataKey, ValueError, "safetensors: \"", kMetadataKey,
                  "\" is reserved and cannot name a tensor");
    CUDANET_CHECK(!header.contains(name), ValueError, "safetensors: duplicate tensor name \"", name,
                  "\"");
    CUDANET_CHECK(tensor.defined(), ValueError, "safetensors: tensor \"", name, "\" is undefined");
    host.push_back(tensor.to(Device::cpu()).contiguous());
    OrderedJson entry = OrderedJson::object();
    entry["dtype"] = safetensors_dtype(tensor.dtype());
    entry["shape"] = tensor.shape();
    entry["data_offsets"] = {offset, offset + tensor.nbytes()};
    offset += tensor.nbytes();
    header[name] = std::move(entry);
  }
  return header;
}

// The 8-byte length and the header text, padded with spaces so the data starts 8-byte aligned.
std::string header_bytes(const OrderedJson& header) {
  std::string text;
  try {
    text = header.dump();
  } catch (const OrderedJson::exception& e) {
    CUDANET_THROW(ValueError,
                  "safetensors: cannot encode the header (names and metadata must be "
                  "UTF-8): ",
                  e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(n >> (8 * i));
  return out + text;
}

Tensor make_tensor(const Entry& e) {
  return Tensor::empty(e.shape, e.dtype, Device::cpu());
}

}  // namespace

const Tensor* SafetensorsContents::find(const std::string& name) const {
  for (const auto& [n, t] : tensors) {
    if (n == name) return &t;
  }
  return nullptr;
}

const Tensor& SafetensorsContents::at(const std::string& name) const {
  const Tensor* t = find(name);
  CUDANET_CHECK(t != nullptr, ValueError, "no tensor named \"", name, "\" in the checkpoint");
  return *t;
}

const char* safetensors_dtype(DType dtype) {
  for (const DTypeName& d : kDTypes) {
    if (d.dtype == dtype) return d.name;
  }
  CUDANET_THROW(ValueError, "safetensors: no name for dtype ", dtype);
}

std::string safetensors_bytes(const NamedTensors& tensors, const Metadata& metadata) {
  std::vector<Tensor> host;
  std::string out = header_bytes(header_json(tensors, metadata, host));
  for (const Tensor& t : host) out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  return out;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata) {
  std::vector<Tensor> host;
  const std::string header = header_bytes(header_json(tensors, metadata, host));
  AtomicFile file(path);
  file.write(header);
  for (const Tensor& t : host) file.write(t.data_ptr(), t.nbytes());
  file.commit();
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const Metadata& metadata) {
  save_safetensors(path, NamedTensors(tensors.begin(), tensors.end()), metadata);
}

SafetensorsContents parse_safetensors(const void* data, std::size_t size, const std::string& name) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  CUDANET_CHECK(size >= 8, IoError, name, ": ", size,
                " bytes is too short for a safetensors file (the header length alone takes 8)");
  const std::uint64_t n = header_length(bytes, size, name);
  const Header h = parse_header(reinterpret_cast<const char*>(bytes + 8),
                                static_cast<std::size_t>(n), size - 8 - n, name);
  SafetensorsContents out;
  out.metadata = h.metadata;
  const unsigned char* base = bytes + 8 + n;
  for (const Entry& e : h.entries) {
    Tensor t = make_tensor(e);
    if (e.end > e.begin) std::memcpy(t.data_ptr(), base + e.begin, e.end - e.begin);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

SafetensorsContents load_safetensors(const std::string& path) {
  struct Fd {
    int fd;
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  } f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  CUDANET_CHECK(f.fd >= 0, IoError, "cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  CUDANET_CHECK(::fstat(f.fd, &st) == 0, IoError, "cannot stat ", path, ": ", std::strerror(errno));
  CUDANET_CHECK(S_ISREG(st.st_mode), IoError, path, " is not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);

  // Reads exactly n bytes (the file may shrink while it is read).
  const auto read_exact = [&](void* out, std::uint64_t n) {
    auto* p = static_cast<char*>(out);
    while (n > 0) {
      const ssize_t k =
          ::read(f.fd, p, static_cast<std::size_t>(std::min<std::uint64_t>(n, 1u << 30)));
      if (k < 0 && errno == EINTR) continue;
      CUDANET_CHECK(k > 0, IoError, "cannot read ", path, ": ",
                    k < 0 ? std::strerror(errno) : "the file ends early (truncated?)");
      p += k;
      n -= static_cast<std::uint64_t>(k);
    }
  };

  CUDANET_CHECK(size >= 8, IoError, path, ": ", size,
                " bytes is too short for a safetensors file (the header length alone takes 8)");
  unsigned char prefix[8];
  read_exact(prefix, 8);
  const std::uint64_t n = header_length(prefix, size, path);
  std::string text(static_cast<std::size_t>(n), '\0');
  read_exact(text.data(), n);
  const Header h = parse_header(text.data(), text.size(), size - 8 - n, path);

  SafetensorsContents out;
  out.metadata = h.metadata;
  for (const Entry& e : h.entries) {  // sorted and contiguous: read in file order
    Tensor t = make_tensor(e);
    read_exact(t.data_ptr(), e.end - e.begin);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

}  // namespace cudanet::train
