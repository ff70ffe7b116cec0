// Image data sets on disk: the list of files and their labels, before any decoding.
//
// ImageFolder layout (torchvision's): root/<class>/<image>, classes sorted by name (byte order),
// label = the class's position; the images of a class sorted by file name. Every regular file
// with a JPEG extension (.jpg, .jpeg, .JPEG, any case) counts; other files are ignored, so a
// stray README does not become a sample. A list file (Caffe's convention) has one `path label`
// per line, the path relative to the list file's directory unless absolute; blank lines and
// lines starting with '#' are skipped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cudanet::train {

struct ImageList {
  std::vector<std::string> paths;
  std::vector<std::int64_t> labels;
  std::vector<std::string> classes;  // names (ImageFolder) or "0", "1", ... (list files)
  std::int64_t size() const { return static_cast<std::int64_t>(paths.size()); }
  std::int64_t num_classes() const { return static_cast<std::int64_t>(classes.size()); }
};

// Throws IoError for a missing or unreadable root, ValueError when it has no class directories or
// no images at all (naming the root).
ImageList scan_image_folder(const std::string& root);

// Throws IoError for a missing file, ValueError for a malformed line (naming file and line) or an
// empty list. num_classes is 1 + the largest label unless `num_classes` > 0 is given, in which
// case every label must be below it.
ImageList read_image_list(const std::string& list_file, std::int64_t num_classes = 0);

// "imagefolder:DIR" or "list:FILE" (see above); true when `spec` names such a data set.
bool is_image_dataset_spec(const std::string& spec);
ImageList load_image_list(const std::string& spec, std::int64_t num_classes = 0);

}  // namespace cudanet::train
