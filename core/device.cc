#include "core/device.h"

#include <cctype>

#include "core/error.h"

namespace cudanet {

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  const std::string prefix = "cuda:";
  if (text.compare(0, prefix.size(), prefix) == 0 && text.size() > prefix.size() &&
      text.size() <= prefix.size() + 4) {
    int index = 0;
    for (std::size_t i = prefix.size(); i < text.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
        CUDANET_THROW(ValueError, "invalid device '", text, "': expected cpu, cuda or cuda:N");
      }
      index = index * 10 + (text[i] - '0');
    }
    return cuda(index);
  }
  CUDANET_THROW(ValueError, "invalid device '", text, "': expected cpu, cuda or cuda:N");
}

std::string Device::str() const {
  return is_cpu() ? "cpu" : "cuda:" + std::to_string(index_);
}

std::ostream& operator<<(std::ostream& os, Device d) {
  return os << d.str();
}

}  // namespace cudanet
