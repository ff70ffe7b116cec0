// Device: where a tensor's memory lives and where its operations run.
//
// Note: the device is a property of each tensor, never a global mode. `Device::cuda(i)` names a
// GPU whether or not one is present; using it on a machine without that GPU throws CudaError.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

namespace cudanet {

enum class DeviceType : std::int8_t { kCPU = 0, kCUDA = 1 };

class Device {
 public:
  constexpr Device() = default;  // the CPU
  constexpr Device(DeviceType type, int index) : type_(type), index_(index) {}

  static constexpr Device cpu() { return Device(); }
  static constexpr Device cuda(int index = 0) { return Device(DeviceType::kCUDA, index); }
  // Parses "cpu", "cuda", "cuda:N"; throws ValueError otherwise.
  static Device parse(const std::string& text);

  constexpr DeviceType type() const { return type_; }
  constexpr int index() const { return index_; }
  constexpr bool is_cpu() const { return type_ == DeviceType::kCPU; }
  constexpr bool is_cuda() const { return type_ == DeviceType::kCUDA; }
  std::string str() const;  // "cpu" or "cuda:N"

  friend constexpr bool operator==(Device a, Device b) {
    return a.type_ == b.type_ && a.index_ == b.index_;
  }
  friend constexpr bool operator!=(Device a, Device b) { return !(a == b); }

 private:
  DeviceType type_ = DeviceType::kCPU;
  int index_ = 0;
};

std::ostream& operator<<(std::ostream& os, Device d);

}  // namespace cudanet
