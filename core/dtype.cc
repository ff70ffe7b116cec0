#include "core/dtype.h"

#include "core/error.h"

namespace cudanet {

std::size_t element_size(DType t) {
  switch (t) {
    case DType::kFloat32:
      return 4;
    case DType::kFloat64:
      return 8;
    case DType::kFloat16:
      return 2;
    case DType::kBFloat16:
      return 2;
    case DType::kInt32:
      return 4;
    case DType::kInt64:
      return 8;
    case DType::kUInt8:
      return 1;
  }
  CUDANET_THROW(ValueError, "unknown dtype code ", static_cast<int>(t));
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kFloat32:
      return "float32";
    case DType::kFloat64:
      return "float64";
    case DType::kFloat16:
      return "float16";
    case DType::kBFloat16:
      return "bfloat16";
    case DType::kInt32:
      return "int32";
    case DType::kInt64:
      return "int64";
    case DType::kUInt8:
      return "uint8";
  }
  return "unknown";
}

DType parse_dtype(const std::string& name) {
  const struct {
    const char* long_name;
    const char* short_name;
    DType type;
  } table[] = {{"float32", "f32", DType::kFloat32}, {"float64", "f64", DType::kFloat64},
               {"float16", "f16", DType::kFloat16}, {"bfloat16", "bf16", DType::kBFloat16},
               {"int32", "i32", DType::kInt32},     {"int64", "i64", DType::kInt64},
               {"uint8", "u8", DType::kUInt8}};
  for (const auto& e : table) {
    if (name == e.long_name || name == e.short_name) return e.type;
  }
  CUDANET_THROW(ValueError, "unknown dtype '", name,
                "': expected float32, float64, float16, bfloat16, int32, int64 or uint8");
}

bool is_floating(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 ||
         t == DType::kBFloat16;
}

std::ostream& operator<<(std::ostream& os, DType t) {
  return os << dtype_name(t);
}

std::uint16_t Half::from_float(float f) {
  const std::uint32_t u = detail::float_bits(f);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);   // NaN
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {  // subnormal half (or zero): scale into integer units of 2^-24
    const float a = detail::bits_float(abs) * 16777216.0f;  // exact: power-of-two scaling
    // Round half to even in integer arithmetic on the scaled value.
    auto q = static_cast<std::uint32_t>(a);
    const float rem = a - static_cast<float>(q);
    if (rem > 0.5f || (rem == 0.5f && (q & 1u))) ++q;
    return static_cast<std::uint16_t>(sign | q);
  }
  // Normal: re-bias exponent (127 -> 15) and round the 13 dropped mantissa bits to nearest even.
  std::uint32_t h = ((abs >> 13) - ((127u - 15u) << 10));
  const std::uint32_t dropped = abs & 0x1fffu;
  if (dropped > 0x1000u || (dropped == 0x1000u && (h & 1u))) ++h;
  return static_cast<std::uint16_t>(sign | h);
}

float Half::to_float(std::uint16_t h) {
  const std::uint32_t sign = (std::uint32_t{h} & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = static_cast<float>(mant) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (exp == 31) return detail::bits_float(sign | 0x7f800000u | (mant << 13));
  return detail::bits_float(sign | ((exp + 127u - 15u) << 23) | (mant << 13));
}

}  // namespace cudanet
