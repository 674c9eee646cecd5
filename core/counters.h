// Fixed sets of named event counters (drop reasons, retransmissions, ...), indexed by an
// enum class whose last enumerator is `count_`. Cheap enough for the per-packet path.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace curvecp {

template <typename Enum>
class Counters {
 public:
  static constexpr size_t size = static_cast<size_t>(Enum::count_);

  void add(Enum e, uint64_t n = 1) { values_[static_cast<size_t>(e)] += n; }
  uint64_t get(Enum e) const { return values_[static_cast<size_t>(e)]; }
  uint64_t total() const {
    uint64_t t = 0;
    for (uint64_t v : values_) t += v;
    return t;
  }
  void merge(const Counters& o) {
    for (size_t i = 0; i < size; ++i) values_[i] += o.values_[i];
  }

 private:
  std::array<uint64_t, size> values_{};
};

}  // namespace curvecp
