// Tensor on the CPU: construction, views, copies, fill and printing.
#include "core/tensor.h"

#include <gtest/gtest.h>

#include "core/cuda_runtime.h"

namespace cudanet {
namespace {

std::vector<float> iota(std::int64_t n, float start = 0.0f) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = start + static_cast<float>(i);
  return v;
}

TEST(Tensor, EmptyHasShapeStridesAndDtype) {
  Tensor t = Tensor::empty({2, 3, 4}, DType::kFloat64);
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 24u * 8u);
  EXPECT_EQ(t.dtype(), DType::kFloat64);
  EXPECT_EQ(t.device(), Device::cpu());
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 64, 0u);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_THROW(t.size(3), ShapeError);
}

TEST(Tensor, RejectsInvalidShapes) {
  EXPECT_THROW(Tensor::empty({2, -1}), ShapeError);
  EXPECT_THROW(Tensor::empty(Shape(9, 1)), ShapeError);
  EXPECT_THROW(Tensor::empty({1LL << 40, 1LL << 40}), ShapeError);
  EXPECT_THROW(Tensor::empty({0, 1LL << 40, 1LL << 40}), ShapeError);  // empty, strides overflow
  try {
    Tensor::empty({3, -2});
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("[3, -2]"), std::string::npos) << e.what();
  }
}

TEST(Tensor, ZeroSizedTensorsWork) {
  Tensor t = Tensor::zeros({0, 5});
  EXPECT_EQ(t.numel(), 0);
  EXPECT_TRUE(t.to_vector<float>().empty());
  EXPECT_EQ(t.clone().shape(), (Shape{0, 5}));
}

TEST(Tensor, FromVectorRoundTripsEveryDtype) {
  const auto check = [](auto tag) {
    using T = decltype(tag);
    std::vector<T> v;
    for (int i = 0; i < 6; ++i) v.push_back(from_double<T>(i - 2));
    Tensor t = Tensor::from_vector(v, {2, 3});
    EXPECT_EQ(t.dtype(), dtype_of<T>());
    const std::vector<T> back = t.to_vector<T>();
    for (int i = 0; i < 6; ++i) EXPECT_EQ(to_double(back[static_cast<std::size_t>(i)]), i - 2);
  };
  check(float{});
  check(double{});
  check(Half{});
  check(BFloat16{});
  check(std::int32_t{});
  check(std::int64_t{});
  EXPECT_THROW(Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2}), ShapeError);
  EXPECT_THROW(Tensor::from_vector(iota(4), {4}).data<double>(), ValueError);
}

TEST(Tensor, FullAndFillSetEveryElement) {
  Tensor t = Tensor::full({3, 5}, 2.5);
  for (float x : t.to_vector<float>()) EXPECT_EQ(x, 2.5f);
  Tensor u = Tensor::full({4}, 7, DType::kUInt8);
  for (std::uint8_t x : u.to_vector<std::uint8_t>()) EXPECT_EQ(x, 7);
  t.zero_();
  for (float x : t.to_vector<float>()) EXPECT_EQ(x, 0.0f);
}

TEST(Tensor, ViewSharesStorageAndInfersMinusOne) {
  Tensor t = Tensor::from_vector(iota(24), {2, 3, 4});
  Tensor v = t.view({4, -1});
  EXPECT_EQ(v.shape(), (Shape{4, 6}));
  EXPECT_EQ(v.data_ptr(), t.data_ptr());
  v.fill_(1.0);
  EXPECT_EQ(t.to_vector<float>()[23], 1.0f);
  EXPECT_THROW(t.view({5, -1}), ShapeError);
  EXPECT_THROW(t.view({-1, -1}), ShapeError);
  EXPECT_THROW(t.view({25}), ShapeError);
}

TEST(Tensor, FlattenMergesDimensions) {
  Tensor t = Tensor::from_vector(iota(120), {2, 3, 4, 5});
  EXPECT_EQ(t.flatten().shape(), (Shape{120}));
  EXPECT_EQ(t.flatten(1).shape(), (Shape{2, 60}));
  EXPECT_EQ(t.flatten(1, 2).shape(), (Shape{2, 12, 5}));
  EXPECT_THROW(t.flatten(2, 1), ShapeError);
  EXPECT_THROW(t.flatten(4), ShapeError);
}

TEST(Tensor, NarrowOnBatchIsContiguousView) {
  Tensor t = Tensor::from_vector(iota(24), {4, 2, 3});
  Tensor b = t.narrow(0, 1, 2);
  EXPECT_EQ(b.shape(), (Shape{2, 2, 3}));
  EXPECT_TRUE(b.is_contiguous());
  EXPECT_EQ(b.to_vector<float>(), iota(12, 6.0f));
  EXPECT_THROW(t.narrow(0, 3, 2), ShapeError);
  EXPECT_THROW(t.narrow(0, -1, 1), ShapeError);
}

TEST(Tensor, NarrowInnerDimIsStridedAndCopiesCorrectly) {
  Tensor t = Tensor::from_vector(iota(24), {2, 3, 4});
  Tensor n = t.narrow(2, 1, 2);  // columns 1..2 of each row
  EXPECT_FALSE(n.is_contiguous());
  EXPECT_THROW(n.view({12}), ShapeError);
  const std::vector<float> expected = {1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22};
  EXPECT_EQ(n.to_vector<float>(), expected);
  EXPECT_EQ(n.reshape({12}).to_vector<float>(), expected);
  EXPECT_TRUE(n.contiguous().is_contiguous());
  n.fill_(-1.0);  // writes only the narrowed elements
  std::vector<float> all = t.to_vector<float>();
  EXPECT_EQ(all[0], 0.0f);
  EXPECT_EQ(all[1], -1.0f);
  EXPECT_EQ(all[3], 3.0f);
}

TEST(Tensor, StridedCopiesTakeEveryPath) {
  Tensor t = Tensor::from_vector(iota(24), {2, 3, 4});
  // Last dimension of size 1: element by element.
  EXPECT_EQ(t.narrow(2, 3, 1).to_vector<float>(), (std::vector<float>{3, 7, 11, 15, 19, 23}));
  // Dense rows inside a strided outer layout: row by row.
  Tensor rows = Tensor::zeros({2, 2, 4});
  rows.copy_(t.narrow(1, 1, 2));
  EXPECT_EQ(rows.to_vector<float>(),
            (std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23}));
  // Strided destination and strided source.
  Tensor dst = Tensor::zeros({2, 3, 4});
  dst.narrow(2, 0, 1).copy_(t.narrow(2, 3, 1));
  EXPECT_EQ(dst.to_vector<float>()[4], 7.0f);
  EXPECT_EQ(dst.to_vector<float>()[5], 0.0f);
  for (DType d : {DType::kUInt8, DType::kFloat16, DType::kInt64}) {
    Tensor z = Tensor::zeros({3, 2}, d);
    z.narrow(1, 1, 1).fill_(9.0);
    EXPECT_EQ(z.narrow(0, 2, 1).narrow(1, 1, 1).item(), 9.0) << dtype_name(d);
    EXPECT_EQ(z.narrow(0, 2, 1).narrow(1, 0, 1).item(), 0.0) << dtype_name(d);
  }
}

TEST(Tensor, CopyChecksShapeAndDtype) {
  Tensor a = Tensor::zeros({2, 3});
  EXPECT_THROW(a.copy_(Tensor::zeros({3, 2})), ShapeError);
  EXPECT_THROW(a.copy_(Tensor::zeros({2, 3}, DType::kFloat64)), ValueError);
  EXPECT_THROW(Tensor().clone(), ValueError);
  Tensor b = Tensor::from_vector(iota(6), {2, 3});
  a.copy_(b);
  EXPECT_EQ(a.to_vector<float>(), iota(6));
  Tensor c = b.clone();
  EXPECT_NE(c.data_ptr(), b.data_ptr());
  EXPECT_EQ(c.to_vector<float>(), b.to_vector<float>());
}

TEST(Tensor, ItemNeedsOneElement) {
  EXPECT_EQ(Tensor::full({1, 1}, 3.0).item(), 3.0);
  EXPECT_THROW(Tensor::zeros({2}).item(), ShapeError);
}

TEST(Tensor, PrintsValuesShapeDtypeAndDevice) {
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(t.str(),
            "tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]], shape=[2, 2], "
            "dtype=float32, device=cpu)");
  Tensor big = Tensor::from_vector(std::vector<std::int64_t>(100, 7), {100});
  const std::string s = big.str(2);
  EXPECT_NE(s.find("[7, 7, ..., 7, 7]"), std::string::npos) << s;
  EXPECT_EQ(Tensor().str(), "tensor(undefined)");
}

TEST(Tensor, MissingCudaDeviceThrowsCudaError) {
  const Device missing = Device::cuda(cuda::device_count());  // one past the last GPU
  EXPECT_THROW(Tensor::zeros({2}, DType::kFloat32, missing), CudaError);
  EXPECT_THROW(Tensor::zeros({2}).to(missing), CudaError);
}

}  // namespace
}  // namespace cudanet
