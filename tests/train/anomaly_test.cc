// Anomaly detection and the non-finite loss: the first layer, step and tensor that turn NaN or
// infinite are named, training stops with NonFiniteError, and the last good checkpoint stays.
#include "train/anomaly.h"

#include <cmath>
#include <filesystem>
#include <gtest/gtest.h>
#include <limits>
#include <sstream>

#include "kernels/elementwise.h"
#include "layers/linear.h"
#include "synthetic_mnist.h"
#include "temp_dir.h"
#include "train/idx.h"
#include "train/safetensors.h"
#include "train/trainer.h"

namespace cudanet::train {
namespace {

using testing::TempDir;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Passes values through; forward writes `forward_value` into element 0 of its output and
// backward returns dy with element 0 replaced by `backward_value` (when they are set).
class Tamper : public layers::Layer {
 public:
  double forward_value = 0, backward_value = 0;
  bool tamper_forward = false, tamper_backward = false;

  const char* type() const override { return "Tamper"; }
  Shape output_shape(const Shape& input) const override { return input; }
  Tensor forward(const Tensor& x, layers::Mode) override {
    return tamper_forward ? with_first(x, forward_value) : x;
  }
  Tensor backward(const Tensor& dy) override {
    return tamper_backward ? with_first(dy, backward_value) : dy;
  }

 private:
  static Tensor with_first(const Tensor& t, double v) {
    std::vector<float> values = t.to_vector<float>();
    values[0] = static_cast<float>(v);
    return Tensor::from_vector(values, t.shape());
  }
};

struct Net {
  layers::Sequential model;
  Tamper* tamper;
  Net() {
    Generator g(1);
    model.emplace<layers::Linear>("fc", 4, 3, true, &g);
    tamper = &model.emplace<Tamper>("tamper");
    model.emplace<layers::Linear>("out", 3, 2, true, &g);
  }
};

Tensor input(double scale = 1.0) {
  return kernels::scale(
      Tensor::from_vector<float>({0.5f, -1.f, 2.f, 0.25f, 1.f, 1.f, -0.5f, 0.f}, {2, 4}), scale);
}

// Runs one step through the detector; returns the NonFiniteError, or fails when there is none.
NonFiniteError expect_anomaly(Net& net, const Tensor& x) {
  AnomalyDetector detector(net.model);
  detector.set_step(3, 7);
  try {
    const Tensor y = detector.forward(x, layers::Mode::kTrain);
    detector.backward_parameters(Tensor::from_vector<float>({1, -1, 0.5f, 2}, {2, 2}));
    detector.check_parameters();
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.epoch(), 3);
    EXPECT_EQ(e.step(), 7);
    EXPECT_NE(e.message().find("epoch 3 step 7"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("'" + e.layer() + "'"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find(e.tensor()), std::string::npos) << e.message();
    return e;
  }
  ADD_FAILURE() << "no anomaly reported";
  return NonFiniteError("none", __FILE__, __LINE__, 0, 0, "", "");
}

TEST(AllFinite, FindsNaNAndBothInfinitiesInEitherDtype) {
  for (const DType dtype : {DType::kFloat32, DType::kFloat64}) {
    EXPECT_TRUE(all_finite(Tensor::from_vector<double>({1, -2, 3}, {3}).to(dtype)));
    EXPECT_TRUE(all_finite(Tensor::zeros({0}, dtype)));
    for (const double bad : {kNaN, kInf, -kInf}) {
      EXPECT_FALSE(all_finite(Tensor::from_vector<double>({1, bad, 3}, {3}).to(dtype))) << bad;
    }
  }
  // Large finite values do not overflow the check.
  EXPECT_TRUE(all_finite(Tensor::full({1000}, 3e38, DType::kFloat32)));
  EXPECT_THROW(all_finite(Tensor::zeros({2}, DType::kInt64)), ValueError);
}

TEST(AnomalyDetector, PassesAFiniteStepAndMatchesTheUncheckedOne) {
  Net a, b;
  AnomalyDetector detector(a.model);
  const Tensor ya = detector.forward(input(), layers::Mode::kTrain);
  const Tensor yb = b.model.forward(input(), layers::Mode::kTrain);
  EXPECT_EQ(ya.to_vector<float>(), yb.to_vector<float>());
  const Tensor dy = Tensor::from_vector<float>({1, -1, 0.5f, 2}, {2, 2});
  detector.backward_parameters(dy);
  b.model.backward_parameters(dy);
  detector.check_parameters();
  const auto pa = a.model.named_parameters("");
  const auto pb = b.model.named_parameters("");
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].second->grad.to_vector<float>(), pb[i].second->grad.to_vector<float>())
        << pa[i].first;
  }
  EXPECT_TRUE(a.model.at(0).input_grad());  // restored after the first layer's backward
}

TEST(AnomalyDetector, NamesTheInputBatch) {
  Net net;
  const NonFiniteError e = expect_anomaly(
      net, Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, static_cast<float>(kNaN)}, {2, 4}));
  EXPECT_EQ(e.layer(), "input");
  EXPECT_EQ(e.tensor(), "batch");
  EXPECT_NE(e.message().find("1 of 8 elements"), std::string::npos) << e.message();
}

TEST(AnomalyDetector, NamesTheFirstLayerWhoseOutputIsNotFinite) {
  Net net;
  net.tamper->tamper_forward = true;
  net.tamper->forward_value = kInf;
  const NonFiniteError e = expect_anomaly(net, input());
  EXPECT_EQ(e.layer(), "tamper");  // not "out", which inherits the infinity
  EXPECT_EQ(e.tensor(), "output");
  EXPECT_NE(e.message().find("flat index 0, is inf"), std::string::npos) << e.message();
}

TEST(AnomalyDetector, NamesTheLayerWhoseInputGradientIsNotFinite) {
  Net net;
  net.tamper->tamper_backward = true;
  net.tamper->backward_value = kNaN;
  const NonFiniteError e = expect_anomaly(net, input());
  EXPECT_EQ(e.layer(), "tamper");
  EXPECT_EQ(e.tensor(), "input gradient");
}

TEST(AnomalyDetector, NamesAParameterGradientThatOverflows) {
  Net net;
  net.tamper->tamper_backward = true;
  net.tamper->backward_value = 3e38;  // finite, but fc's weight gradient (dy·x) overflows float32
  const NonFiniteError e = expect_anomaly(net, input(10.0));
  EXPECT_EQ(e.layer(), "fc");
  EXPECT_EQ(e.tensor(), "weight gradient");
}

TEST(AnomalyDetector, NamesAParameterThatTheUpdateMadeNonFinite) {
  Net net;
  net.model.named_parameters("")[3].second->value.fill_(kInf);  // out.bias
  AnomalyDetector detector(net.model);
  try {
    detector.check_parameters();
    ADD_FAILURE() << "no anomaly reported";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.layer(), "optimizer");
    EXPECT_EQ(e.tensor(), "out.bias after the update");
  }
}

// ---- the trainer
// ---------------------------------------------------------------------------------

TrainConfig synthetic_config(const TempDir& dir) {
  std::filesystem::create_directories(dir.file("data"));
  testing::write_synthetic_mnist(dir.file("data"), 300, 50);
  TrainConfig c;
  c.model = "mlp";
  c.data = "mnist:" + dir.file("data");
  c.epochs = 3;
  c.batch_size = 32;
  c.validation_size = 50;
  c.device = "cpu";
  c.seed = 2;
  c.quiet = true;
  c.checkpoint_dir = dir.file("ckpt");
  return c;
}

// Trains one epoch, then puts a NaN into fc2.weight of the checkpoint (as a corrupted run would).
std::string good_run_then_poisoned_checkpoint(const TrainConfig& config) {
  std::ostringstream out;
  TrainConfig first = config;
  first.stop_after = 1;
  run_training(first, out);
  const std::string path = config.checkpoint_dir + "/last.safetensors";
  SafetensorsContents contents = load_safetensors(path);
  for (auto& [name, t] : contents.tensors) {
    if (name == "fc2.weight") static_cast<float*>(t.data_ptr())[5] = static_cast<float>(kNaN);
  }
  save_safetensors(path, contents.tensors, contents.metadata);
  return read_file_bytes(path);
}

TEST(TrainerAnomaly, DetectAnomalyNamesTheLayerStepAndTensor) {
  TempDir dir;
  TrainConfig c = synthetic_config(dir);
  const std::string saved = good_run_then_poisoned_checkpoint(c);
  c.resume = true;
  c.detect_anomaly = true;
  std::ostringstream out;
  try {
    run_training(c, out);
    FAIL() << "expected NonFiniteError";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.layer(), "fc2");
    EXPECT_EQ(e.tensor(), "output");
    EXPECT_EQ(e.epoch(), 2);
    EXPECT_EQ(e.step(), 1);
    EXPECT_NE(e.message().find("epoch 2 step 1"), std::string::npos) << e.message();
  }
  EXPECT_EQ(read_file_bytes(c.checkpoint_dir + "/last.safetensors"), saved);
}

TEST(TrainerAnomaly, WithoutDetectionANonFiniteLossStopsAndKeepsTheCheckpoint) {
  TempDir dir;
  TrainConfig c = synthetic_config(dir);
  const std::string saved = good_run_then_poisoned_checkpoint(c);
  c.resume = true;
  std::ostringstream out;
  try {
    run_training(c, out);
    FAIL() << "expected NonFiniteError";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.layer(), "loss");
    EXPECT_EQ(e.epoch(), 2);
    EXPECT_EQ(e.step(), 1);
    const std::string m = e.message();
    EXPECT_NE(m.find("the loss became "), std::string::npos) << m;
    EXPECT_NE(m.find("nan at epoch 2 step 1"), std::string::npos) << m;
    EXPECT_NE(m.find("last good checkpoint is " + c.checkpoint_dir), std::string::npos) << m;
    EXPECT_NE(m.find("--detect-anomaly"), std::string::npos) << m;
  }
  EXPECT_EQ(read_file_bytes(c.checkpoint_dir + "/last.safetensors"), saved);
}

TEST(TrainerAnomaly, DetectionDoesNotChangeAFiniteRun) {
  TempDir a, b;
  TrainConfig ca = synthetic_config(a), cb = synthetic_config(b);
  ca.epochs = cb.epochs = 1;
  cb.detect_anomaly = true;
  std::ostringstream out;
  const TrainResult ra = run_training(ca, out);
  const TrainResult rb = run_training(cb, out);
  EXPECT_EQ(ra.test.loss, rb.test.loss);
  EXPECT_EQ(read_file_bytes(ca.checkpoint_dir + "/last.safetensors"),
            read_file_bytes(cb.checkpoint_dir + "/last.safetensors"));
}

}  // namespace
}  // namespace cudanet::train
