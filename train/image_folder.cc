#include "train/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace cudanet::train {

namespace fs = std::filesystem;

namespace {

bool has_jpeg_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext == ".jpg" || ext == ".jpeg";
}

}  // namespace

ImageList scan_image_folder(const std::string& root) {
  std::error_code ec;
  CUDANET_CHECK(fs::is_directory(root, ec), IoError, "image folder '", root,
                "' does not exist or is not a directory");
  ImageList list;
  std::vector<fs::path> class_dirs;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec)) class_dirs.push_back(it->path());
  }
  CUDANET_CHECK(!ec, IoError, "cannot read image folder '", root, "': ", ec.message());
  CUDANET_CHECK(!class_dirs.empty(), ValueError, "image folder '", root,
                "' has no class directories (expected ROOT/<class>/<image>.jpg)");
  std::sort(class_dirs.begin(), class_dirs.end());
  for (const fs::path& dir : class_dirs) {
    std::vector<std::string> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec) && has_jpeg_extension(it->path())) {
        files.push_back(it->path().string());
      }
    }
    CUDANET_CHECK(!ec, IoError, "cannot read class directory '", dir.string(), "': ", ec.message());
    std::sort(files.begin(), files.end());
    const auto label = static_cast<std::int64_t>(list.classes.size());
    list.classes.push_back(dir.filename().string());
    for (std::string& f : files) {
      list.paths.push_back(std::move(f));
      list.labels.push_back(label);
    }
  }
  CUDANET_CHECK(!list.paths.empty(), ValueError, "image folder '", root, "' has ",
                list.classes.size(), " class directories but no .jpg/.jpeg images");
  return list;
}

ImageList read_image_list(const std::string& list_file, std::int64_t num_classes) {
  std::ifstream in(list_file);
  CUDANET_CHECK(in.good(), IoError, "cannot open image list '", list_file, "'");
  const fs::path base = fs::path(list_file).parent_path();
  ImageList list;
  std::int64_t max_label = -1;
  std::string line;
  for (std::int64_t lineno = 1; std::getline(in, line); ++lineno) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    // The label is the last field, so paths may contain spaces.
    const auto end = line.find_last_not_of(" \t\r");
    const auto sep = line.find_last_of(" \t", end);
    CUDANET_CHECK(sep != std::string::npos && sep > first, ValueError, list_file, ":", lineno,
                  ": expected 'path label', got '", line, "'");
    const std::string label_text = line.substr(sep + 1, end - sep);
    std::int64_t label = -1;
    std::istringstream ls(label_text);
    ls >> label;
    CUDANET_CHECK(!ls.fail() && ls.eof() && label >= 0, ValueError, list_file, ":", lineno,
                  ": label '", label_text, "' is not a non-negative integer");
    CUDANET_CHECK(num_classes <= 0 || label < num_classes, ValueError, list_file, ":", lineno,
                  ": label ", label, " is outside [0, ", num_classes, ")");
    fs::path p = line.substr(first, line.find_last_not_of(" \t", sep) - first + 1);
    if (p.is_relative()) p = base / p;
    list.paths.push_back(p.string());
    list.labels.push_back(label);
    max_label = std::max(max_label, label);
  }
  CUDANET_CHECK(!list.paths.empty(), ValueError, "image list '", list_file, "' has no entries");
  const std::int64_t n = num_classes > 0 ? num_classes : max_label + 1;
  for (std::int64_t c = 0; c < n; ++c) list.classes.push_back(std::to_string(c));
  return list;
}

bool is_image_dataset_spec(const std::string& spec) {
  return spec.rfind("imagefolder:", 0) == 0 || spec.rfind("list:", 0) == 0;
}

ImageList load_image_list(const std::string& spec, std::int64_t num_classes) {
  if (spec.rfind("imagefolder:", 0) == 0) return scan_image_folder(spec.substr(12));
  if (spec.rfind("list:", 0) == 0) return read_image_list(spec.substr(5), num_classes);
  CUDANET_THROW(ValueError, "unknown image data set '", spec,
                "': expected imagefolder:DIR or list:FILE");
}

}  // namespace cudanet::train
