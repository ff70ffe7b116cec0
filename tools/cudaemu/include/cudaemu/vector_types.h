// cudaemu: the built-in vector types cudanet's CUDA code uses (dim3, uint3, float4, ...).
#pragma once

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}  // NOLINT: implicit, as in CUDA
  constexpr operator uint3() const { return {x, y, z}; }
};

struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) double2 {
  double x, y;
};
struct alignas(8) int2 {
  int x, y;
};

inline constexpr float4 make_float4(float x, float y, float z, float w) {
  return {x, y, z, w};
}
inline constexpr float2 make_float2(float x, float y) {
  return {x, y};
}
inline constexpr double2 make_double2(double x, double y) {
  return {x, y};
}
inline constexpr int2 make_int2(int x, int y) {
  return {x, y};
}
