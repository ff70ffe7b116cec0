// Storage::from_external and Tensor::from_storage: views of memory cudanet did not allocate (the
// DLPack import path of the Python package).
#include <gtest/gtest.h>
#include <vector>

#include "core/storage.h"
#include "core/tensor.h"

namespace cudanet {
namespace {

struct Owner {
  std::vector<float> values;
  int released = 0;
};

DataPtr borrow(Owner& owner) {
  return DataPtr(
      owner.values.data(), &owner,
      [](void* context, void*) noexcept { ++static_cast<Owner*>(context)->released; },
      Device::cpu());
}

TEST(ExternalStorage, ViewSharesTheMemoryAndReleasesItOnce) {
  Owner owner{{0, 1, 2, 3, 4, 5}, 0};
  {
    Storage s = Storage::from_external(borrow(owner), owner.values.size() * sizeof(float));
    EXPECT_TRUE(s.is_external());
    EXPECT_EQ(s.data(), owner.values.data());
    Tensor t = Tensor::from_storage(s, {2, 3}, {3, 1}, 0, DType::kFloat32);
    EXPECT_EQ(t.data_ptr(), owner.values.data());
    owner.values[4] = 40;
    EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 40, 5}));
    s.record_stream(Stream());  // a no-op for external memory
    EXPECT_EQ(owner.released, 0);
  }
  EXPECT_EQ(owner.released, 1);
}

TEST(ExternalStorage, StridedViewReadsTheRightElements) {
  Owner owner{{0, 1, 2, 3, 4, 5}, 0};
  Storage s = Storage::from_external(borrow(owner), owner.values.size() * sizeof(float));
  // The transpose of the 2x3 matrix, then the last row alone.
  Tensor t = Tensor::from_storage(s, {3, 2}, {1, 3}, 0, DType::kFloat32);
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.contiguous().to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor tail = Tensor::from_storage(s, {2}, {1}, 4, DType::kFloat32);
  EXPECT_EQ(tail.to_vector<float>(), (std::vector<float>{4, 5}));
}

TEST(ExternalStorage, ViewsOutsideTheStorageAreRejected) {
  Owner owner{{0, 1, 2, 3, 4, 5}, 0};
  Storage s = Storage::from_external(borrow(owner), owner.values.size() * sizeof(float));
  EXPECT_THROW(Tensor::from_storage(s, {7}, {1}, 0, DType::kFloat32), ValueError);
  EXPECT_THROW(Tensor::from_storage(s, {2}, {1}, 5, DType::kFloat32), ValueError);
  EXPECT_THROW(Tensor::from_storage(s, {2, 3}, {3, 1}, 0, DType::kFloat64), ValueError);
  EXPECT_THROW(Tensor::from_storage(s, {2}, {-1}, 1, DType::kFloat32), ValueError);
  EXPECT_THROW(Tensor::from_storage(s, {2}, {1}, -1, DType::kFloat32), ValueError);
  EXPECT_THROW(Tensor::from_storage(s, {2, 3}, {1}, 0, DType::kFloat32), ValueError);
  EXPECT_NO_THROW(Tensor::from_storage(s, {0, 9}, {9, 1}, 6, DType::kFloat32));
}

}  // namespace
}  // namespace cudanet
