// A program outside the cudanet tree: prints the version and sums a small tensor.
#include <cstdio>

#include <cudanet/cudanet.h>

int main() {
  using cudanet::Tensor;
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  double sum = 0;
  for (float v : t.flatten().to_vector<float>()) sum += v;
  std::printf("cudanet %s: sum=%g gpu=%s\n", cudanet::version().c_str(), sum,
              cudanet::cuda::is_available() ? "yes" : "no");
  return sum == 10.0 ? 0 : 1;
}
