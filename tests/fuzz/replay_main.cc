// Runs a fuzz target's LLVMFuzzerTestOneInput on files, without libFuzzer: each argument is a file
// or a directory whose files are replayed in name order. What the fuzzer would report (a crash, a
// sanitizer error, an uncaught exception) ends the program abnormally; otherwise it prints how
// many inputs ran and exits 0. An empty or missing corpus is an error (exit 1).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::uint8_t> read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg(argv[i]);
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(arg, ec)) {
        if (e.is_regular_file(ec)) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      inputs.insert(inputs.end(), files.begin(), files.end());
    } else if (fs::is_regular_file(arg, ec)) {
      inputs.push_back(arg);
    } else {
      std::fprintf(stderr, "replay: %s is neither a file nor a directory\n", argv[i]);
      return 1;
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs (usage: %s FILE_OR_DIR...)\n", argv[0]);
    return 1;
  }
  for (const fs::path& p : inputs) {
    const std::vector<std::uint8_t> bytes = read_all(p);
    // A copy of exactly the file's size on the heap, so ASan sees reads past its end.
    std::vector<std::uint8_t> exact(bytes);
    exact.shrink_to_fit();
    static const std::uint8_t kNothing = 0;  // libFuzzer never passes a null pointer
    LLVMFuzzerTestOneInput(exact.empty() ? &kNothing : exact.data(), exact.size());
  }
  std::printf("replay: %zu inputs ran cleanly\n", inputs.size());
  return 0;
}
