// safetensors with GPU tensors: saving copies them to the host; loading gives CPU tensors.
#include <gtest/gtest.h>

#include "tensor_testing.h"
#include "test_util.h"
#include "train/safetensors.h"
#include "train/temp_dir.h"

namespace cudanet::train {
namespace {

TEST(SafetensorsGpu, SavesDeviceTensors) {
  CUDANET_REQUIRE_GPU();
  cudanet::testing::TempDir dir;
  const Tensor host = cudanet::testing::random_tensor({3, 5}, DType::kFloat32, 11);
  const std::string path = dir.file("gpu.safetensors");
  save_safetensors(path, NamedTensors{{"w", host.to(Device::cuda(0))}}, {{"device", "cuda"}});
  const SafetensorsContents loaded = load_safetensors(path);
  EXPECT_TRUE(loaded.at("w").device().is_cpu());
  EXPECT_TRUE(cudanet::testing::all_equal(loaded.at("w"), host));
  EXPECT_TRUE(cudanet::testing::all_equal(loaded.at("w").to(Device::cuda(0)), host));
}

}  // namespace
}  // namespace cudanet::train
