#include "train/checkpoint.h"

#include <set>

#include "train/safetensors.h"

namespace cudanet::train {

namespace {

constexpr const char* kOptimizerPrefix = "optimizer.";

std::int64_t parse_int(const Metadata& m, const std::string& key, const std::string& path) {
  auto it = m.find(key);
  CUDANET_CHECK(it != m.end(), IoError, path, ": checkpoint metadata lacks '", key, "'");
  try {
    std::size_t used = 0;
    const long long v = std::stoll(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  CUDANET_THROW(IoError, path, ": checkpoint metadata '", key, "' is not an integer: '", it->second,
                "'");
}

std::uint64_t parse_u64(const Metadata& m, const std::string& key, const std::string& path) {
  auto it = m.find(key);
  CUDANET_CHECK(it != m.end(), IoError, path, ": checkpoint metadata lacks '", key, "'");
  try {
    std::size_t used = 0;
    const unsigned long long v = std::stoull(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  CUDANET_THROW(IoError, path, ": checkpoint metadata '", key, "' is not an unsigned integer");
}

}  // namespace

void save_checkpoint(const std::string& path, layers::Sequential& model, const Optimizer* optimizer,
                     const Generator* generator, const CheckpointInfo& info) {
  NamedTensors tensors;
  for (const layers::NamedTensor& t : model.state("")) tensors.emplace_back(t.name, *t.tensor);
  Metadata meta = info.extra;
  meta["format"] = "cudanet-checkpoint-1";
  meta["model"] = info.model;
  meta["epoch"] = std::to_string(info.epoch);
  if (optimizer != nullptr) {
    for (const auto& s : optimizer->state())
      tensors.emplace_back(kOptimizerPrefix + s.first, s.second);
    meta["optimizer"] = optimizer->type();
    meta["optimizer_steps"] = std::to_string(optimizer->steps());
  }
  if (generator != nullptr) {
    const GeneratorState g = generator->state();
    meta["rng_seed"] = std::to_string(g.seed);
    meta["rng_offset"] = std::to_string(g.offset);
  }
  save_safetensors(path, tensors, meta);
}

CheckpointInfo load_checkpoint(const std::string& path, layers::Sequential& model,
                               Optimizer* optimizer, Generator* generator,
                               const std::string& expected_model) {
  const SafetensorsContents file = load_safetensors(path);
  auto model_it = file.metadata.find("model");
  CUDANET_CHECK(model_it != file.metadata.end(), IoError, path,
                ": not a cudanet checkpoint (no 'model' in its metadata)");
  CUDANET_CHECK(expected_model.empty() || model_it->second == expected_model, ValueError, path,
                ": the checkpoint holds model '", model_it->second, "', not '", expected_model,
                "'");

  // Model tensors: every one present with the right shape, nothing unexpected.
  std::set<std::string> expected;
  for (const layers::NamedTensor& t : model.state("")) {
    expected.insert(t.name);
    const Tensor* saved = file.find(t.name);
    CUDANET_CHECK(saved != nullptr, ValueError, path, ": the checkpoint lacks '", t.name,
                  "' (is it from another model?)");
    CUDANET_CHECK(saved->shape() == t.tensor->shape(), ValueError, path, ": '", t.name,
                  "' has shape ", shape_str(saved->shape()), " in the checkpoint but ",
                  shape_str(t.tensor->shape()), " in the model");
  }
  for (const auto& t : file.tensors) {
    const bool optimizer_state = t.first.rfind(kOptimizerPrefix, 0) == 0;
    CUDANET_CHECK(optimizer_state || expected.count(t.first) > 0, ValueError, path,
                  ": unexpected tensor '", t.first, "' (is the checkpoint from another model?)");
  }
  for (const layers::NamedTensor& t : model.state("")) {
    const Tensor& saved = *file.find(t.name);
    t.tensor->copy_(saved.to(t.tensor->dtype()));
  }

  CheckpointInfo info;
  info.model = model_it->second;
  info.epoch = parse_int(file.metadata, "epoch", path);
  for (const auto& kv : file.metadata) info.extra[kv.first] = kv.second;
  if (optimizer != nullptr) {
    auto opt_it = file.metadata.find("optimizer");
    CUDANET_CHECK(opt_it != file.metadata.end() && opt_it->second == optimizer->type(), ValueError,
                  path, ": the checkpoint was trained with optimizer '",
                  opt_it == file.metadata.end() ? "none" : opt_it->second, "', not '",
                  optimizer->type(), "'");
    std::map<std::string, Tensor> state;
    const std::string prefix = kOptimizerPrefix;
    for (const auto& t : file.tensors) {
      if (t.first.rfind(prefix, 0) == 0) state[t.first.substr(prefix.size())] = t.second;
    }
    optimizer->load_state(state, parse_int(file.metadata, "optimizer_steps", path));
  }
  if (generator != nullptr) {
    generator->set_state(
        {parse_u64(file.metadata, "rng_seed", path), parse_u64(file.metadata, "rng_offset", path)});
  }
  return info;
}

}  // namespace cudanet::train
