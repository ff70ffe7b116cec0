#include "train/anomaly.h"

#include <cmath>
#include <vector>

#include "core/nvtx.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

namespace cudanet::train {

namespace {

// "3 of 1200 elements are not finite (the first, at flat index 17, is nan)".
std::string describe_non_finite(const Tensor& t) {
  const std::vector<double> v =
      t.to(Device::cpu()).to(DType::kFloat64).contiguous().to_vector<double>();
  std::int64_t bad = 0, first = -1;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i])) continue;
    if (bad++ == 0) first = static_cast<std::int64_t>(i);
  }
  if (first < 0) return "non-finite";
  return detail::str(bad, " of ", v.size(), " elements are not finite (the first, at flat index ",
                     first, ", is ", v[static_cast<std::size_t>(first)], ")");
}

}  // namespace

bool all_finite(const Tensor& t) {
  if (!t.defined() || t.numel() == 0) return true;
  CUDANET_CHECK(t.dtype() == DType::kFloat32 || t.dtype() == DType::kFloat64, ValueError,
                "all_finite: expected a float32 or float64 tensor, got ", t.dtype());
  // 0·x is 0 for a finite x and NaN otherwise; the sum accumulates in double.
  return std::isfinite(kernels::sum_all(kernels::scale(t.contiguous(), 0.0)).item());
}

void AnomalyDetector::check(const Tensor& t, const std::string& layer,
                            const std::string& what) const {
  if (all_finite(t)) return;
  throw NonFiniteError(detail::str("anomaly detected at epoch ", epoch_, " step ", step_, ": the ",
                                   what, " of layer '", layer, "' (shape ", shape_str(t.shape()),
                                   ") is not finite: ", describe_non_finite(t)),
                       __FILE__, __LINE__, epoch_, step_, layer, what);
}

Tensor AnomalyDetector::forward(const Tensor& x, layers::Mode mode) {
  CUDANET_RANGE("anomaly/forward");
  check(x, "input", "batch");
  Tensor h = x;
  for (std::size_t i = 0; i < model_.size(); ++i) {
    h = model_.at(i).forward(h, mode);
    check(h, model_.name(i), "output");
  }
  return h;
}

// As Sequential::backward_parameters: stops at the first layer with parameters, which does not
// compute its input gradient.
void AnomalyDetector::backward_parameters(const Tensor& dy) {
  CUDANET_RANGE("anomaly/backward");
  check(dy, "loss", "gradient");
  std::size_t first = model_.size();
  for (std::size_t i = 0; i < model_.size() && first == model_.size(); ++i) {
    if (!model_.at(i).parameters().empty()) first = i;
  }
  Tensor g = dy;
  for (std::size_t i = model_.size(); i-- > first;) {
    layers::Layer& layer = model_.at(i);
    const bool was = layer.input_grad();
    if (i == first) layer.set_input_grad(false);
    try {
      g = layer.backward(g);
    } catch (...) {
      layer.set_input_grad(was);
      throw;
    }
    layer.set_input_grad(was);
    for (const layers::Parameter* p : layer.parameters()) {
      check(p->grad, model_.name(i), p->name + " gradient");
    }
    if (i != first) check(g, model_.name(i), "input gradient");
  }
}

void AnomalyDetector::check_parameters() {
  for (const auto& [name, p] : model_.named_parameters("")) {
    check(p->value, "optimizer", name + " after the update");
  }
}

void throw_non_finite_loss(double loss, std::int64_t epoch, std::int64_t step,
                           const std::string& last_checkpoint, bool detecting) {
  throw NonFiniteError(
      detail::str("the loss became ", loss, " at epoch ", epoch, " step ", step,
                  last_checkpoint.empty() ? std::string()
                                          : "; the last good checkpoint is " + last_checkpoint,
                  detecting ? "" : " (--detect-anomaly finds the layer)"),
      __FILE__, __LINE__, epoch, step, "loss", "value");
}

}  // namespace cudanet::train
