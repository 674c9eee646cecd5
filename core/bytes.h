// Little-endian integer access and bounds-checked cursors over byte spans.
// Every multi-byte integer in CurveCP is little-endian (CURVECP.md 0.1).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace curvecp {

using Bytes = std::span<const uint8_t>;
using MutableBytes = std::span<uint8_t>;

template <typename T>
inline T load_le(const uint8_t* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(p[i]) << (8 * i));
  return v;
}

template <typename T>
inline void store_le(uint8_t* p, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

inline uint16_t load_le16(const uint8_t* p) { return load_le<uint16_t>(p); }
inline uint32_t load_le32(const uint8_t* p) { return load_le<uint32_t>(p); }
inline uint64_t load_le64(const uint8_t* p) { return load_le<uint64_t>(p); }
inline void store_le16(uint8_t* p, uint16_t v) { store_le<uint16_t>(p, v); }
inline void store_le32(uint8_t* p, uint32_t v) { store_le<uint32_t>(p, v); }
inline void store_le64(uint8_t* p, uint64_t v) { store_le<uint64_t>(p, v); }

// View an ASCII literal (without terminator) as bytes.
inline Bytes ascii(std::string_view s) {
  return Bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

inline bool bytes_equal(Bytes a, Bytes b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

// Reads fields in order; any read past the end sets a sticky failure flag and yields
// zeros, so a parser can read a whole layout and check ok() once.
class ByteReader {
 public:
  explicit ByteReader(Bytes data) : data_(data) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }

  Bytes take(size_t n) {
    if (!ok_ || n > remaining()) { ok_ = false; return {}; }
    Bytes out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  void skip(size_t n) { (void)take(n); }
  template <typename T>
  T le() {
    Bytes b = take(sizeof(T));
    return ok_ ? load_le<T>(b.data()) : T{0};
  }
  uint8_t u8() { return le<uint8_t>(); }
  uint16_t u16() { return le<uint16_t>(); }
  uint32_t u32() { return le<uint32_t>(); }
  uint64_t u64() { return le<uint64_t>(); }
  Bytes rest() { return take(remaining()); }

 private:
  Bytes data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Writes fields in order into a caller-owned buffer; overflow sets a sticky failure flag.
class ByteWriter {
 public:
  explicit ByteWriter(MutableBytes out) : out_(out) {}

  bool ok() const { return ok_; }
  size_t size() const { return pos_; }
  size_t remaining() const { return out_.size() - pos_; }
  Bytes written() const { return Bytes(out_.data(), pos_); }

  // Reserve n bytes and return them for the caller to fill (e.g. a box output).
  MutableBytes reserve(size_t n) {
    if (!ok_ || n > remaining()) { ok_ = false; return {}; }
    MutableBytes out = out_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  void put(Bytes b) {
    MutableBytes dst = reserve(b.size());
    if (ok_ && !b.empty()) std::memcpy(dst.data(), b.data(), b.size());
  }
  void zeros(size_t n) {
    MutableBytes dst = reserve(n);
    if (ok_ && n) std::memset(dst.data(), 0, n);
  }
  template <typename T>
  void le(T v) {
    MutableBytes dst = reserve(sizeof(T));
    if (ok_) store_le<T>(dst.data(), v);
  }
  void u8(uint8_t v) { le<uint8_t>(v); }
  void u16(uint16_t v) { le<uint16_t>(v); }
  void u32(uint32_t v) { le<uint32_t>(v); }
  void u64(uint64_t v) { le<uint64_t>(v); }

 private:
  MutableBytes out_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Hex helpers for keys and extensions on the command line (CURVECP.md 2.10).
// decode_hex accepts upper and lower case and requires exactly out.size()*2 digits.
bool decode_hex(std::string_view hex, MutableBytes out);
std::string encode_hex(Bytes in);

}  // namespace curvecp
