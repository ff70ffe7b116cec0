// `cudanet make-synthetic-imagefolder`: a learnable ImageFolder of synthetic JPEGs.
#include <cstdio>
#include <iostream>

#include "tools/args.h"
#include "tools/commands.h"
#include "train/synthetic_images.h"

namespace cudanet::tools {

namespace {

// The arguments of make-synthetic-imagefolder in `out` and `o`; false when --help was given.
bool parse_synthetic(const std::vector<std::string>& args, std::string* out_dir,
                     train::SyntheticFolderOptions* opts) {
  // OUT is the one positional argument; every option takes a value.
  std::vector<std::string> rest;
  std::string& out = *out_dir;
  train::SyntheticFolderOptions& o = *opts;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("-", 0) == 0) {
      rest.push_back(args[i]);
      if (args[i] != "--help" && args[i] != "-h" && i + 1 < args.size()) rest.push_back(args[++i]);
    } else {
      CUDANET_CHECK(out.empty(), UsageError, "unexpected argument '", args[i], "'");
      out = args[i];
    }
  }
  std::string size = "256";
  std::int64_t quality = o.quality;
  ArgParser p(
      "make-synthetic-imagefolder OUT",
      "Writes OUT/class<NN>/img<NNNNN>.jpg: shapes, colours and textures that depend on the "
      "class, with random placement and noise (deterministic per seed).");
  p.flag("--classes", &o.classes, "number of classes")
      .flag("--per-class", &o.per_class, "images per class")
      .flag("--size", &size, "image size: S (S×S) or WxH, e.g. 500x375")
      .flag("--seed", &o.seed, "seed of the random content")
      .flag("--quality", &quality, "JPEG quality (1-100)");
  if (!p.parse(rest)) return false;
  CUDANET_CHECK(!out.empty(), UsageError, "make-synthetic-imagefolder needs the output directory");
  int w = 0, h = 0;
  char tail = 0;
  if (std::sscanf(size.c_str(), "%dx%d%c", &w, &h, &tail) == 2) {
  } else if (std::sscanf(size.c_str(), "%d%c", &w, &tail) == 1) {
    h = w;
  } else {
    throw UsageError("--size '" + size + "' is not S or WxH", __FILE__, __LINE__);
  }
  o.width = w;
  o.height = h;
  o.quality = static_cast<int>(quality);
  return true;
}

}  // namespace

int check_make_synthetic_imagefolder(const std::vector<std::string>& args) {
  std::string out;
  train::SyntheticFolderOptions o;
  parse_synthetic(args, &out, &o);
  return 0;
}

int run_make_synthetic_imagefolder(const std::vector<std::string>& args) {
  std::string out;
  train::SyntheticFolderOptions o;
  if (!parse_synthetic(args, &out, &o)) return 0;
  const int w = o.width, h = o.height;
  CUDANET_CHECK(train::jpeg_available(), Error,
                "this cudanet was built without libjpeg-turbo (TurboJPEG): it cannot write JPEGs");
  try {
    const std::int64_t n = train::write_synthetic_imagefolder(out, o);
    std::cout << "wrote " << n << " JPEGs (" << o.classes << " classes x " << o.per_class << ", "
              << w << "x" << h << ", seed " << o.seed << ") to " << out << "\n";
  } catch (const ValueError& e) {
    throw UsageError(e.message(), __FILE__, __LINE__);
  }
  return 0;
}

}  // namespace cudanet::tools
