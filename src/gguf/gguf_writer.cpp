#include "gguf/gguf_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace ll::gguf {

namespace {

template <typename T>
void append(std::vector<uint8_t>* out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out->insert(out->end(), p, p + sizeof(T));
}

void append_string(std::vector<uint8_t>* out, const std::string& s) {
  append<uint64_t>(out, s.size());
  out->insert(out->end(), s.begin(), s.end());
}

}  // namespace

void Writer::put(const std::string& key, ValueType type, std::vector<uint8_t> bytes) {
  for (Kv& kv : kv_) {
    if (kv.key == key) {
      kv.type = type;
      kv.bytes = std::move(bytes);
      return;
    }
  }
  kv_.push_back(Kv{key, type, std::move(bytes)});
}

void Writer::set_u32(const std::string& key, uint32_t v) {
  std::vector<uint8_t> b;
  append(&b, v);
  put(key, ValueType::kU32, std::move(b));
}
void Writer::set_i32(const std::string& key, int32_t v) {
  std::vector<uint8_t> b;
  append(&b, v);
  put(key, ValueType::kI32, std::move(b));
}
void Writer::set_f32(const std::string& key, float v) {
  std::vector<uint8_t> b;
  append(&b, v);
  put(key, ValueType::kF32, std::move(b));
}
void Writer::set_bool(const std::string& key, bool v) {
  put(key, ValueType::kBool, {static_cast<uint8_t>(v ? 1 : 0)});
}
void Writer::set_string(const std::string& key, const std::string& v) {
  std::vector<uint8_t> b;
  append_string(&b, v);
  put(key, ValueType::kString, std::move(b));
}
void Writer::set_string_array(const std::string& key, const std::vector<std::string>& v) {
  std::vector<uint8_t> b;
  append<uint32_t>(&b, static_cast<uint32_t>(ValueType::kString));
  append<uint64_t>(&b, v.size());
  for (const auto& s : v) append_string(&b, s);
  put(key, ValueType::kArray, std::move(b));
}
void Writer::set_f32_array(const std::string& key, const std::vector<float>& v) {
  std::vector<uint8_t> b;
  append<uint32_t>(&b, static_cast<uint32_t>(ValueType::kF32));
  append<uint64_t>(&b, v.size());
  for (float x : v) append(&b, x);
  put(key, ValueType::kArray, std::move(b));
}
void Writer::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  std::vector<uint8_t> b;
  append<uint32_t>(&b, static_cast<uint32_t>(ValueType::kI32));
  append<uint64_t>(&b, v.size());
  for (int32_t x : v) append(&b, x);
  put(key, ValueType::kArray, std::move(b));
}

namespace {
void encode_value(std::vector<uint8_t>* b, const Value& v) {
  switch (v.type) {
    case ValueType::kU8:
    case ValueType::kI8:
    case ValueType::kBool:
      append<uint8_t>(b, static_cast<uint8_t>(v.u64));
      break;
    case ValueType::kU16:
    case ValueType::kI16:
      append<uint16_t>(b, static_cast<uint16_t>(v.u64));
      break;
    case ValueType::kU32:
    case ValueType::kI32:
      append<uint32_t>(b, static_cast<uint32_t>(v.u64));
      break;
    case ValueType::kU64:
    case ValueType::kI64:
      append<uint64_t>(b, v.u64);
      break;
    case ValueType::kF32:
      append<float>(b, static_cast<float>(v.f64));
      break;
    case ValueType::kF64:
      append<double>(b, v.f64);
      break;
    case ValueType::kString:
      append_string(b, v.str);
      break;
    case ValueType::kArray: {
      append<uint32_t>(b, static_cast<uint32_t>(v.elem_type));
      append<uint64_t>(b, v.array_len);
      Value e;
      e.type = v.elem_type;
      for (uint64_t i = 0; i < v.array_len; ++i) {
        switch (v.elem_type) {
          case ValueType::kString:
            append_string(b, v.strs[i]);
            break;
          case ValueType::kF32:
          case ValueType::kF64:
            e.f64 = v.floats[i];
            encode_value(b, e);
            break;
          case ValueType::kArray:
            encode_value(b, v.arrays[i]);
            break;
          default:
            e.u64 = static_cast<uint64_t>(v.ints[i]);
            encode_value(b, e);
            break;
        }
      }
      break;
    }
  }
}
}  // namespace

void Writer::set_value(const std::string& key, const Value& v) {
  std::vector<uint8_t> b;
  encode_value(&b, v);
  put(key, v.type, std::move(b));
}

Status write_subset(const File& src, const std::vector<std::string>& tensor_names,
                    const std::string& path, const std::function<void(Writer&)>& extra) {
  Writer w;
  for (const auto& [key, value] : src.metadata()) {
    if (key == "general.alignment") continue;
    w.set_value(key, value);
  }
  w.alignment = static_cast<uint32_t>(src.alignment());
  if (extra) extra(w);
  for (const std::string& name : tensor_names) {
    const TensorInfo* t = src.find_tensor(name);
    if (!t) return not_found("tensor '" + name + "' is not in " + src.path());
    if (!t->dtype) return unsupported("tensor '" + name + "' has an unsupported type");
    w.add_tensor(name, t->ne, *t->dtype,
                 [t](uint8_t* out, size_t n) { std::memcpy(out, t->data, n); });
  }
  return w.write(path);
}

void Writer::add_tensor(const std::string& name, std::vector<int64_t> ne, DType type, Fill fill) {
  tensors_.push_back(Tensor{name, std::move(ne), type, std::move(fill)});
}

Status Writer::write(const std::string& path,
                     const std::function<void(uint64_t, uint64_t)>& progress) const {
  std::vector<uint8_t> head;
  append<uint32_t>(&head, 0x46554747);
  append<uint32_t>(&head, 3);
  append<uint64_t>(&head, tensors_.size());
  append<uint64_t>(&head, kv_.size() + (alignment != 32 ? 1 : 0));
  for (const Kv& kv : kv_) {
    append_string(&head, kv.key);
    append<uint32_t>(&head, static_cast<uint32_t>(kv.type));
    head.insert(head.end(), kv.bytes.begin(), kv.bytes.end());
  }
  if (alignment != 32) {
    append_string(&head, "general.alignment");
    append<uint32_t>(&head, static_cast<uint32_t>(ValueType::kU32));
    append<uint32_t>(&head, alignment);
  }
  std::vector<uint64_t> sizes;
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    int64_t n = 1;
    for (int64_t d : t.ne) n *= d;
    uint64_t bytes = row_bytes(t.type, t.ne[0]) * static_cast<uint64_t>(n / t.ne[0]);
    if (bytes == 0)
      return invalid_argument("tensor '" + t.name + "' row length does not fit its type's blocks");
    sizes.push_back(bytes);
    append_string(&head, t.name);
    append<uint32_t>(&head, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) append<uint64_t>(&head, static_cast<uint64_t>(d));
    append<uint32_t>(&head, static_cast<uint32_t>(t.type));
    append<uint64_t>(&head, offset);
    offset += (bytes + alignment - 1) / alignment * alignment;
  }
  const uint64_t total = offset;
  while (head.size() % alignment != 0) head.push_back(0);

  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), std::fclose);
  if (!f) return io_error("cannot create '" + path + "': " + std::strerror(errno));
  if (std::fwrite(head.data(), 1, head.size(), f.get()) != head.size())
    return io_error("write failed: " + path);
  std::vector<uint8_t> buf;
  uint64_t done = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    uint64_t padded = (sizes[i] + alignment - 1) / alignment * alignment;
    buf.assign(padded, 0);
    tensors_[i].fill(buf.data(), sizes[i]);
    if (std::fwrite(buf.data(), 1, padded, f.get()) != padded)
      return io_error("write failed: " + path + ": " + std::strerror(errno));
    done += padded;
    if (progress) progress(done, total);
  }
  if (std::fflush(f.get()) != 0) return io_error("write failed: " + path);
  return Status::ok();
}

}  // namespace ll::gguf
