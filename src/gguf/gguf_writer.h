// Writes GGUF v3 files: metadata first, then tensor infos, then aligned tensor data.
// Tensor data is produced by callbacks so multi-GB synthetic models stream to disk.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "gguf/gguf_file.h"

namespace ll::gguf {

class Writer {
 public:
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, const std::string& v);
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  // Copies a value read from another file (any type, including nested arrays).
  void set_value(const std::string& key, const Value& v);

  // fill(out, n_bytes) writes the tensor's bytes; it is called once, in order, during write().
  using Fill = std::function<void(uint8_t* out, size_t n_bytes)>;
  void add_tensor(const std::string& name, std::vector<int64_t> ne, DType type, Fill fill);

  // progress(done_bytes, total_bytes) is called after each tensor.
  Status write(const std::string& path,
               const std::function<void(uint64_t, uint64_t)>& progress = nullptr) const;

  uint32_t alignment = 32;

 private:
  struct Kv {
    std::string key;
    ValueType type;
    std::vector<uint8_t> bytes;  // encoded value (without key and type)
  };
  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    DType type;
    Fill fill;
  };
  void put(const std::string& key, ValueType type, std::vector<uint8_t> bytes);
  std::vector<Kv> kv_;
  std::vector<Tensor> tensors_;
};

// Writes a GGUF with all of src's metadata plus only the named tensors (a worker's share).
// extra() may add metadata (e.g. facts about the tensors left out).
Status write_subset(const File& src, const std::vector<std::string>& tensor_names,
                    const std::string& path, const std::function<void(Writer&)>& extra = nullptr);

}  // namespace ll::gguf
