// Errors, devices, dtypes, versions, NVTX ranges and the no-GPU behaviour of the CUDA runtime.
#include <cmath>
#include <gtest/gtest.h>
#include <limits>

#include "core/config.h"
#include "core/cuda_runtime.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/nvtx.h"
#include "core/stream.h"
#include "core/version.h"

namespace cudanet {
namespace {

TEST(Error, CarriesLocationAndMessage) {
  try {
    CUDANET_THROW(ValueError, "bad value ", 42);
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "bad value 42");
    EXPECT_EQ(e.line(), __LINE__ - 3);
    EXPECT_NE(std::string(e.file()).find("basics_test.cc"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("basics_test.cc:"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(": bad value 42"), std::string::npos);
    return;
  }
  FAIL() << "CUDANET_THROW did not throw";
}

TEST(Error, HierarchyDerivesFromError) {
  EXPECT_THROW(CUDANET_THROW(ShapeError, "x"), Error);
  EXPECT_THROW(CUDANET_THROW(IoError, "x"), Error);
  EXPECT_THROW(CUDANET_THROW(CudaError, "x"), Error);
  EXPECT_THROW(CUDANET_THROW(OutOfMemoryError, "x"), Error);
  EXPECT_THROW(CUDANET_THROW(ValueError, "x"), std::runtime_error);
  EXPECT_NO_THROW(CUDANET_CHECK(1 + 1 == 2, ValueError, "never"));
  EXPECT_THROW(CUDANET_CHECK(1 + 1 == 3, ValueError, "always"), ValueError);
}

TEST(Device, ParsesAndPrints) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:3"), Device::cuda(3));
  EXPECT_EQ(Device::cuda(2).str(), "cuda:2");
  EXPECT_EQ(Device().str(), "cpu");
  EXPECT_NE(Device::cuda(0), Device::cuda(1));
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "cuda:123456"}) {
    EXPECT_THROW(Device::parse(bad), ValueError) << bad;
  }
}

TEST(DType, SizesNamesAndParsing) {
  EXPECT_EQ(element_size(DType::kFloat32), 4u);
  EXPECT_EQ(element_size(DType::kFloat64), 8u);
  EXPECT_EQ(element_size(DType::kFloat16), 2u);
  EXPECT_EQ(element_size(DType::kBFloat16), 2u);
  EXPECT_EQ(element_size(DType::kInt32), 4u);
  EXPECT_EQ(element_size(DType::kInt64), 8u);
  EXPECT_EQ(element_size(DType::kUInt8), 1u);
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                  DType::kInt32, DType::kInt64, DType::kUInt8}) {
    EXPECT_EQ(parse_dtype(dtype_name(t)), t);
  }
  EXPECT_EQ(parse_dtype("bf16"), DType::kBFloat16);
  EXPECT_THROW(parse_dtype("float8"), ValueError);
  EXPECT_TRUE(is_floating(DType::kBFloat16));
  EXPECT_FALSE(is_floating(DType::kInt64));
}

TEST(DType, HalfConversionIsExactWhereRepresentableAndRoundsToEven) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f /* min normal */,
                  5.9604645e-08f /* min subnormal */, 0.333251953125f}) {
    EXPECT_EQ(static_cast<float>(Half(f)), f) << f;
  }
  EXPECT_EQ(Half(1.0f).bits, 0x3c00);
  EXPECT_EQ(Half(-2.0f).bits, 0xc000);
  EXPECT_EQ(Half(1.0f + 1.0f / 2048).bits, 0x3c00);  // halfway: rounds to even (down)
  EXPECT_EQ(Half(1.0f + 3.0f / 2048).bits, 0x3c02);  // halfway: rounds to even (up)
  EXPECT_EQ(Half(1e6f).bits, 0x7c00);                // overflow to +inf
  EXPECT_TRUE(std::isnan(static_cast<float>(Half(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(Half(2.98023224e-08f).bits, 0x0000);  // half of min subnormal: ties to even (0)
  EXPECT_EQ(Half(8.94069672e-08f).bits, 0x0002);  // 1.5 * min subnormal: ties to even (2)
}

TEST(DType, BFloat16ConversionRoundsToNearestEven) {
  EXPECT_EQ(BFloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(static_cast<float>(BFloat16(-3.0f)), -3.0f);
  EXPECT_EQ(BFloat16(1.0f + 1.0f / 256).bits, 0x3f80);  // halfway: to even
  EXPECT_EQ(BFloat16(1.0f + 3.0f / 256).bits, 0x3f82);  // halfway: to even
  EXPECT_EQ(BFloat16(1.0f + 1.5f / 256).bits, 0x3f81);  // above halfway: up
  EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(std::nanf("")))));
}

TEST(Version, MatchesBuildConfiguration) {
  EXPECT_EQ(version(), CUDANET_VERSION_STRING);
  EXPECT_EQ(version().find(std::to_string(CUDANET_VERSION_MAJOR) + "."), 0u);
  EXPECT_NE(build_info().find(CUDANET_WITH_CUDA ? "cuda=on" : "cuda=off"), std::string::npos);
}

TEST(Nvtx, RangesNestAndClose) {
  EXPECT_EQ(open_range_depth(), 0);
  {
    CUDANET_RANGE("outer");
    EXPECT_EQ(open_range_depth(), 1);
    {
      CUDANET_RANGE("inner");
      EXPECT_EQ(open_range_depth(), 2);
    }
    EXPECT_EQ(open_range_depth(), 1);
  }
  EXPECT_EQ(open_range_depth(), 0);
}

TEST(CudaRuntime, ReportsAvailabilityConsistently) {
  const int n = cuda::device_count();
  EXPECT_EQ(cuda::is_available(), n > 0);
  EXPECT_EQ(cuda::unavailable_reason().empty(), n > 0);
  EXPECT_THROW(cuda::require_device(n), CudaError);
  EXPECT_THROW(cuda::require_device(-1), CudaError);
  EXPECT_THROW(cuda::properties(n), CudaError);
  EXPECT_THROW(cuda::DeviceGuard guard(n), CudaError);
  if (n == 0) {
    EXPECT_THROW(cuda::current_stream(0), CudaError);
    EXPECT_THROW(Event(Device::cuda(0)), CudaError);
    EXPECT_THROW(cuda::synchronize(0), CudaError);
  }
}

TEST(CudaRuntime, SyncLaunchesFlagTogglesBothWays) {
  const bool before = cuda::sync_launches();
  cuda::set_sync_launches(true);
  EXPECT_TRUE(cuda::sync_launches());
  cuda::set_sync_launches(false);
  EXPECT_FALSE(cuda::sync_launches());
  cuda::set_sync_launches(before);
}

TEST(Stream, CpuStreamIsSynchronous) {
  Stream s = current_stream(Device::cpu());
  EXPECT_TRUE(s.device().is_cpu());
  EXPECT_EQ(s.handle(), nullptr);
  EXPECT_TRUE(s.query());
  s.synchronize();
  Event e(Device::cpu());
  EXPECT_FALSE(e.valid());
  e.record(s);
  EXPECT_TRUE(e.query());
  EXPECT_THROW(e.elapsed_ms(e), ValueError);
}

}  // namespace
}  // namespace cudanet
