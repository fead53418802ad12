// GGUF (v2, v3) reader over mmap. Everything is validated before use: a truncated or
// hostile file yields a Status naming the problem, never a crash or an over-read.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "core/types.h"

namespace ll::gguf {

enum class ValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
const char* value_type_name(ValueType t);

// A metadata value. Scalars use one of the scalar fields; arrays keep their elements in
// the vector matching the element type's family (ints also hold bools and unsigned).
struct Value {
  ValueType type = ValueType::kU8;
  ValueType elem_type = ValueType::kU8;  // arrays only
  uint64_t u64 = 0;                      // unsigned ints, bool
  int64_t i64 = 0;                       // signed ints (and unsigned that fit)
  double f64 = 0;                        // floats
  std::string str;                       // strings
  std::vector<int64_t> ints;             // arrays of integer or bool
  std::vector<double> floats;            // arrays of F32/F64
  std::vector<std::string> strs;         // arrays of strings
  std::vector<Value> arrays;             // arrays of arrays
  uint64_t array_len = 0;

  bool is_int() const;    // any integer scalar type
  bool is_float() const;  // F32/F64 scalar
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> ne;     // ne[0] is the innermost (contiguous, row) dimension
  uint32_t type_id = 0;        // raw ggml type id
  std::optional<DType> dtype;  // set when we can execute this type
  uint64_t offset = 0;         // relative to the data section
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // inside the mapping, bounds-checked

  int64_t n_elements() const;
  int64_t rows() const;  // product of ne[1..]
};

class File {
 public:
  static Result<std::unique_ptr<File>> open(const std::string& path);
  // Parses an existing mapping (from_memory for fuzzers and tests).
  static Result<std::unique_ptr<File>> parse(std::unique_ptr<MappedFile> mapped);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::string& path() const { return mapped_->path(); }
  const MappedFile& mapped() const { return *mapped_; }

  const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;
  // Typed getters: NotFound when absent, InvalidArgument naming the key on a type mismatch.
  Result<std::string> get_string(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;   // any integer type, or bool
  Result<double> get_float(std::string_view key) const;  // float or integer types
  Result<bool> get_bool(std::string_view key) const;
  const std::vector<std::string>* get_string_array(std::string_view key) const;
  const std::vector<double>* get_float_array(std::string_view key) const;
  const std::vector<int64_t>* get_int_array(std::string_view key) const;
  int64_t get_int_or(std::string_view key, int64_t dflt) const;
  double get_float_or(std::string_view key, double dflt) const;
  bool get_bool_or(std::string_view key, bool dflt) const;
  std::string get_string_or(std::string_view key, std::string dflt) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

  // The GGUF key prefix of the model, e.g. "llama" from general.architecture.
  std::string architecture() const { return get_string_or("general.architecture", ""); }

 private:
  File() = default;
  std::unique_ptr<MappedFile> mapped_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<TensorInfo> tensors_;
  friend class Parser;
};

}  // namespace ll::gguf
