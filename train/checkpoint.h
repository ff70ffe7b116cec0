// Checkpoints: a model's parameters and buffers, the optimizer's state, the epoch and the RNG
// state in one safetensors file, written atomically (temporary file, fsync, rename).
//
// Tensor names follow PyTorch: "<layer>.weight", "<layer>.bias", "<layer>.running_mean", with
// PyTorch's layouts (conv [K, C/groups, R, S], linear [out, in]); optimizer state is stored as
// "optimizer.<param>.<slot>" ("optimizer.c1.weight.momentum_buffer"). Metadata holds the model
// name, epoch, optimizer step count, generator state and the trainer's other state as strings.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/random.h"
#include "layers/sequential.h"
#include "train/optimizer.h"

namespace cudanet::train {

struct CheckpointInfo {
  std::string model;                         // the model's name ("lenet5")
  std::int64_t epoch = 0;                    // epochs completed
  std::map<std::string, std::string> extra;  // other trainer state
};

// Writes `model` (and `optimizer` and `generator` when non-null) to `path` atomically.
void save_checkpoint(const std::string& path, layers::Sequential& model, const Optimizer* optimizer,
                     const Generator* generator, const CheckpointInfo& info);

// Loads `path` into `model` (and the optimizer and generator when non-null). Throws IoError for an
// unreadable or malformed file, ValueError when it holds another model (its name, a missing or
// unexpected tensor, or a shape that differs). Returns the saved info.
CheckpointInfo load_checkpoint(const std::string& path, layers::Sequential& model,
                               Optimizer* optimizer, Generator* generator,
                               const std::string& expected_model);

}  // namespace cudanet::train
