// Training on JPEG data sets: `cudanet train --model alexnet --data imagefolder:DIR
// [--val imagefolder:DIR | list:FILE] ...`.
//
// run_training() hands a configuration whose data is "imagefolder:DIR" or "list:FILE" to
// run_image_training(). Images go through the ImageLoader (worker threads, pinned batches, copy
// stream): training batches get a random crop of the model's input size (227 for alexnet, 224 for
// alexnet-owt) and a random mirror after resizing the shorter side to 256; evaluation takes the
// centre crop. The model gets one output per class of the training set. Without --val, a seeded
// random choice of validation_size images (at most a fifth of the set) is held out. Top-1 and
// top-5 accuracy are reported for validation; the final evaluation (TrainResult::test) is on the
// validation set. Checkpoints, --resume, --patience (early stopping on validation top-1) and
// --layer-backends work as for the in-memory data sets.
//
// The AlexNet recipe is the default for alexnet and alexnet-owt: SGD with momentum 0.9, weight
// decay 5e-4, learning rate 0.01, and a step schedule that divides the rate by 10 at a third and
// two thirds of the epochs (30/60 of Krizhevsky's 90, scaled), unless --lr / --schedule say
// otherwise.
#pragma once

#include <iosfwd>
#include <string>

#include "train/image_loader.h"
#include "train/trainer.h"

namespace cudanet::train {

// Called by run_training(), after validate_config(): checks only what is particular to JPEG data.
TrainResult run_image_training(const TrainConfig& config, std::ostream& out);

bool is_alexnet(const std::string& model);
// The schedule used when none is given: the AlexNet step recipe for AlexNets, else "cosine".
std::string default_schedule(const std::string& model, std::int64_t epochs);

// Top-1 and top-5 hits of `logits` [B, C] (host or device) for `labels` [B]: a sample counts for
// top-k when fewer than k classes score strictly higher than its label.
struct TopK {
  std::int64_t top1 = 0;
  std::int64_t top5 = 0;
};
TopK count_topk(const Tensor& logits, const Tensor& labels);

// The ImageLoader options for `model` (whose input must be a square RGB image: alexnet,
// alexnet-owt; else ValueError): the shorter side resized to max(256, input side), then for
// training a random crop and mirror in shuffled order, for evaluation the centre crop in order.
ImageLoaderOptions image_loader_options(const std::string& model, std::int64_t batch_size,
                                        Device device, int workers, bool training);
// Loss, top-1 and top-5 of `model` over one pass of `loader` (Mode::kEval).
EvalResult evaluate_images(layers::Sequential& model, ImageLoader& loader);

}  // namespace cudanet::train
