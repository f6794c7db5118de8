// A small reader of fuzzer bytes, for targets that build structured values
// (gid parts, an Xid) from the input. The same in the libFuzzer and the
// replay build, so a corpus file means the same thing in both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace twopc::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }

  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }

  template <class T>
  T Integer() {
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>((v << 8) | Byte());
    return v;
  }

  // Up to `max` bytes, the length taken from the input first.
  std::string Bytes(size_t max) {
    size_t n = max == 0 ? 0 : Byte() % (max + 1);
    std::string out;
    while (n-- > 0 && !empty()) out.push_back(static_cast<char>(Byte()));
    return out;
  }

  // Whatever is left.
  std::string_view Rest() {
    std::string_view rest(reinterpret_cast<const char*>(data_) + pos_, size_ - pos_);
    pos_ = size_;
    return rest;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace twopc::fuzz

// Stops the run, so that the fuzzer (or the replay test) reports the input.
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)
