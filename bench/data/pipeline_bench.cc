// The JPEG pipeline alone: decoded + augmented images per second (resize shorter side to 256,
// random 227 crop, random mirror, mean/std normalisation into NCHW float), on one thread and
// through the ImageLoader with W worker threads. Prints one JSON object.
//   cudanet_pipeline_bench DIR [--workers 1,2,4] [--seconds 3] [--batch 64] [--crop 227]
// DIR is an ImageFolder (e.g. from `cudanet make-synthetic-imagefolder DIR --size 500x375`).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/image_folder.h"
#include "train/image_loader.h"
#include "train/image_transform.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace cudanet;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// One thread, no loader: read the file, decode_augment_jpeg, repeat for `seconds`.
double single_thread_rate(const train::ImageList& list, const train::ImageTransform& t,
                          double seconds) {
  std::vector<float> out(3 * static_cast<std::size_t>(t.crop) * t.crop);
  std::int64_t n = 0;
  const auto t0 = Clock::now();
  do {
    const std::string& path = list.paths[static_cast<std::size_t>(n % list.size())];
    const std::string bytes = read_file(path);
    train::decode_augment_jpeg(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), t,
                               1, static_cast<std::uint64_t>(n), out.data());
    ++n;
  } while (since(t0) < seconds);
  return static_cast<double>(n) / since(t0);
}

// One thread: read and decode only (DCT-scaled towards the resize), to split the time.
double decode_only_rate(const train::ImageList& list, int resize, double seconds) {
  std::int64_t n = 0;
  const auto t0 = Clock::now();
  do {
    const std::string bytes = read_file(list.paths[static_cast<std::size_t>(n % list.size())]);
    train::decode_jpeg(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), resize);
    ++n;
  } while (since(t0) < seconds);
  return static_cast<double>(n) / since(t0);
}

// The ImageLoader with `workers` threads on the CPU device, batches consumed as they come.
double loader_rate(const train::ImageList& list, const train::ImageTransform& t, int workers,
                   std::int64_t batch, double seconds) {
  train::ImageLoaderOptions o;
  o.batch_size = batch;
  o.workers = workers;
  o.prefetch = 4;
  o.transform = t;
  train::ImageLoader loader(list, o);
  std::int64_t n = 0, epoch = 0;
  const auto t0 = Clock::now();
  while (since(t0) < seconds) {
    loader.start_epoch(epoch++);
    train::Batch b;
    while (loader.next(b)) {
      n += b.size();
      if (since(t0) >= seconds) break;
    }
  }
  return static_cast<double>(n) / since(t0);
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) v.push_back(std::atoi(item.c_str()));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [--workers 1,2] [--seconds S] [--batch B] [--crop C]\n",
                 argv[0]);
    return 2;
  }
  std::vector<int> workers = {1};
  double seconds = 3;
  std::int64_t batch = 64;
  train::ImageTransform t;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--workers") {
      workers = parse_list(value);
    } else if (flag == "--seconds") {
      seconds = std::atof(value.c_str());
    } else if (flag == "--batch") {
      batch = std::atoll(value.c_str());
    } else if (flag == "--crop") {
      t.crop = std::atoi(value.c_str());
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  try {
    const train::ImageList list = train::scan_image_folder(argv[1]);
    single_thread_rate(list, t, 0.5);  // warm the page cache and the thread's buffers
    const double one = single_thread_rate(list, t, seconds);
    const double decode = decode_only_rate(list, t.resize, seconds);
    std::printf(
        "{\"images\": %lld, \"crop\": %d, \"single_thread_images_per_sec\": %.1f, "
        "\"decode_only_images_per_sec\": %.1f, \"loader\": [",
        static_cast<long long>(list.size()), t.crop, one, decode);
    for (std::size_t i = 0; i < workers.size(); ++i) {
      const double r = loader_rate(list, t, workers[i], batch, seconds);
      std::printf("%s{\"workers\": %d, \"images_per_sec\": %.1f, \"per_worker\": %.1f}",
                  i ? ", " : "", workers[i], r, r / workers[i]);
      std::fflush(stdout);
    }
    std::printf("]}\n");
  } catch (const Error& e) {
    std::fprintf(stderr, "cudanet_pipeline_bench: %s\n", e.message().c_str());
    return 1;
  }
  return 0;
}
