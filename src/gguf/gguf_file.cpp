#include "gguf/gguf_file.h"

#include <cstring>
#include <limits>

namespace ll::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
// Hostile-file guards: far above any real model, far below what would exhaust memory.
constexpr uint64_t kMaxStringLen = 1ull << 30;
constexpr uint64_t kMaxArrayLen = 1ull << 31;
constexpr uint64_t kMaxCount = 1ull << 24;
constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 8;

// Block geometry of every ggml type id we know, so tensor sizes can be validated even for
// types we do not execute.
struct TypeGeom {
  uint32_t id;
  int block;
  int bytes;
};
constexpr TypeGeom kTypeGeoms[] = {
    {0, 1, 4},      {1, 1, 2},      {2, 32, 18},   {3, 32, 20},    {6, 32, 22},    {7, 32, 24},
    {8, 32, 34},    {9, 32, 36},    {10, 256, 84}, {11, 256, 110}, {12, 256, 144}, {13, 256, 176},
    {14, 256, 210}, {15, 256, 292}, {16, 256, 66}, {17, 256, 74},  {18, 256, 98},  {19, 256, 50},
    {20, 32, 18},   {21, 256, 110}, {22, 256, 82}, {23, 256, 136}, {24, 1, 1},     {25, 1, 2},
    {26, 1, 4},     {27, 1, 8},     {28, 1, 8},    {29, 256, 56},  {30, 1, 2},
};

const TypeGeom* find_geom(uint32_t id) {
  for (const TypeGeom& g : kTypeGeoms) {
    if (g.id == id) return &g;
  }
  return nullptr;
}

bool is_scalar_int(ValueType t) {
  switch (t) {
    case ValueType::kU8:
    case ValueType::kI8:
    case ValueType::kU16:
    case ValueType::kI16:
    case ValueType::kU32:
    case ValueType::kI32:
    case ValueType::kU64:
    case ValueType::kI64:
      return true;
    default:
      return false;
  }
}

}  // namespace

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kU8:
      return "uint8";
    case ValueType::kI8:
      return "int8";
    case ValueType::kU16:
      return "uint16";
    case ValueType::kI16:
      return "int16";
    case ValueType::kU32:
      return "uint32";
    case ValueType::kI32:
      return "int32";
    case ValueType::kF32:
      return "float32";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "string";
    case ValueType::kArray:
      return "array";
    case ValueType::kU64:
      return "uint64";
    case ValueType::kI64:
      return "int64";
    case ValueType::kF64:
      return "float64";
  }
  return "unknown";
}

bool Value::is_int() const {
  return is_scalar_int(type) || type == ValueType::kBool;
}
bool Value::is_float() const {
  return type == ValueType::kF32 || type == ValueType::kF64;
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

int64_t TensorInfo::rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < ne.size(); ++i) n *= ne[i];
  return n;
}

// A bounds-checked cursor; every read reports where it failed.
class Parser {
 public:
  Parser(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  Status read_bytes(void* out, size_t n, const char* what) {
    if (n > size_ - pos_) {
      return corrupt("truncated file: need " + std::to_string(n) + " bytes for " + what +
                     " at offset " + std::to_string(pos_) + ", file has " + std::to_string(size_));
    }
    std::memcpy(out, data_ + pos_, n);
    pos_ += n;
    return Status::ok();
  }
  template <typename T>
  Status read(T* out, const char* what) {
    return read_bytes(out, sizeof(T), what);
  }

  Status read_string(std::string* out, const std::string& what) {
    uint64_t len;
    LL_RETURN_IF_ERROR(read(&len, what.c_str()));
    if (len > kMaxStringLen) {
      return corrupt(what + ": string length " + std::to_string(len) + " is implausible");
    }
    if (len > size_ - pos_) {
      return corrupt("truncated file: " + what + " needs " + std::to_string(len) +
                     " bytes at offset " + std::to_string(pos_));
    }
    out->assign(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return Status::ok();
  }

  Status read_value(ValueType type, Value* v, const std::string& key, int depth) {
    v->type = type;
    switch (type) {
      case ValueType::kU8: {
        uint8_t x;
        LL_RETURN_IF_ERROR(read(&x, key.c_str()));
        set_u(v, x);
        break;
      }
      case ValueType::kI8: {
        int8_t x;
        LL_RETURN_IF_ERROR(read(&x, key.c_str()));
        set_i(v, x);
        break;
      }
      case ValueType::kU16: {
        uint16_t x;
        LL_RETURN_IF_ERROR(read(&x, key.c_str()));
        set_u(v, x);
        break;
      }
      case ValueType::kI16: {
        int16_t x;
        LL_RETURN_IF_ERROR(read(&x, key.c_str()));
        set_i(v, x);
        break;
      }
      case ValueType::kU32: {
        uint32_t x;
        LL_RETURN_IF_ERROR(read(&x, key.c_str()));
        set_u(v, x);
        break;
      }
      case ValueType::kI32: {
        int32_t x;
        LL_RETURN_IF_ERROR(read(&x, key.c_str()));
        set_i(v, x);
        break;
      }
      case ValueType::kU64: {
        uint64_t x;
        LL_RETURN_IF_ERROR(read(&x, key.c_str()));
        set_u(v, x);
        break;
      }
      case ValueType::kI64: {
        int64_t x;
        LL_RETURN_IF_ERROR(read(&x, key.c_str()));
        set_i(v, x);
        break;
      }
      case ValueType::kF32: {
        float x;
        LL_RETURN_IF_ERROR(read(&x, key.c_str()));
        v->f64 = x;
        break;
      }
      case ValueType::kF64: {
        double x;
        LL_RETURN_IF_ERROR(read(&x, key.c_str()));
        v->f64 = x;
        break;
      }
      case ValueType::kBool: {
        uint8_t x;
        LL_RETURN_IF_ERROR(read(&x, key.c_str()));
        if (x > 1) return corrupt(key + ": bool value " + std::to_string(x) + " is not 0 or 1");
        set_u(v, x);
        break;
      }
      case ValueType::kString:
        LL_RETURN_IF_ERROR(read_string(&v->str, key));
        break;
      case ValueType::kArray:
        LL_RETURN_IF_ERROR(read_array(v, key, depth));
        break;
      default:
        return corrupt(key + ": unknown metadata value type " +
                       std::to_string(static_cast<uint32_t>(type)));
    }
    return Status::ok();
  }

  Status read_array(Value* v, const std::string& key, int depth) {
    if (depth >= kMaxArrayDepth) return corrupt(key + ": arrays nested too deeply");
    uint32_t et;
    uint64_t n;
    LL_RETURN_IF_ERROR(read(&et, key.c_str()));
    LL_RETURN_IF_ERROR(read(&n, key.c_str()));
    if (et > static_cast<uint32_t>(ValueType::kF64)) {
      return corrupt(key + ": unknown array element type " + std::to_string(et));
    }
    if (n > kMaxArrayLen)
      return corrupt(key + ": array length " + std::to_string(n) + " is implausible");
    // Every element takes a minimum number of bytes, so a count larger than what is left is a lie.
    ValueType elem_t = static_cast<ValueType>(et);
    uint64_t min_bytes = elem_t == ValueType::kString ? 8 : elem_t == ValueType::kArray ? 12 : 1;
    if (n > (size_ - pos_) / min_bytes) {
      return corrupt("truncated file: " + key + " claims " + std::to_string(n) +
                     " elements but only " + std::to_string(size_ - pos_) + " bytes remain");
    }
    ValueType elem = static_cast<ValueType>(et);
    v->elem_type = elem;
    v->array_len = n;
    Value tmp;
    if (elem == ValueType::kString) {
      v->strs.resize(n);
      for (uint64_t i = 0; i < n; ++i) LL_RETURN_IF_ERROR(read_string(&v->strs[i], key));
    } else if (elem == ValueType::kF32 || elem == ValueType::kF64) {
      v->floats.resize(n);
      for (uint64_t i = 0; i < n; ++i) {
        LL_RETURN_IF_ERROR(read_value(elem, &tmp, key, depth + 1));
        v->floats[i] = tmp.f64;
      }
    } else if (elem == ValueType::kArray) {
      v->arrays.resize(n);
      for (uint64_t i = 0; i < n; ++i)
        LL_RETURN_IF_ERROR(read_value(elem, &v->arrays[i], key, depth + 1));
    } else {
      v->ints.resize(n);
      for (uint64_t i = 0; i < n; ++i) {
        LL_RETURN_IF_ERROR(read_value(elem, &tmp, key, depth + 1));
        v->ints[i] = tmp.i64;
      }
    }
    return Status::ok();
  }

  size_t pos() const { return pos_; }

 private:
  static void set_u(Value* v, uint64_t x) {
    v->u64 = x;
    v->i64 = static_cast<int64_t>(x);
  }
  static void set_i(Value* v, int64_t x) {
    v->i64 = x;
    v->u64 = static_cast<uint64_t>(x);
  }
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;

 public:
  static Result<std::unique_ptr<File>> parse_file(std::unique_ptr<MappedFile> mapped);
};

Result<std::unique_ptr<File>> Parser::parse_file(std::unique_ptr<MappedFile> mapped) {
  std::unique_ptr<File> f(new File());
  const std::string where = mapped->path();
  Parser p(mapped->data(), mapped->size());
  uint32_t magic;
  if (mapped->size() < 4)
    return corrupt(where + ": file too small to be GGUF (" + std::to_string(mapped->size()) +
                   " bytes)");
  LL_RETURN_IF_ERROR(p.read(&magic, "magic"));
  if (magic != kMagic) return corrupt(where + ": not a GGUF file (bad magic)");
  LL_RETURN_IF_ERROR(p.read(&f->version_, "version"));
  if (f->version_ == 1)
    return unsupported(where + ": GGUF version 1 is not supported (only 2 and 3)");
  if (f->version_ != 2 && f->version_ != 3) {
    return unsupported(where + ": unknown GGUF version " + std::to_string(f->version_));
  }
  uint64_t n_tensors, n_kv;
  LL_RETURN_IF_ERROR(p.read(&n_tensors, "tensor count"));
  LL_RETURN_IF_ERROR(p.read(&n_kv, "metadata count"));
  if (n_tensors > kMaxCount)
    return corrupt(where + ": tensor count " + std::to_string(n_tensors) + " is implausible");
  if (n_kv > kMaxCount)
    return corrupt(where + ": metadata count " + std::to_string(n_kv) + " is implausible");

  // Each entry occupies a minimum number of bytes, so counts the file cannot hold are lies;
  // checking before allocating keeps a 100-byte hostile file from reserving gigabytes.
  constexpr uint64_t kMinKvBytes = 8 + 4 + 1, kMinTensorBytes = 8 + 4 + 8 + 4 + 8;
  const uint64_t remaining = mapped->size() - p.pos();
  if (n_kv > remaining / kMinKvBytes || n_tensors > remaining / kMinTensorBytes) {
    return corrupt(where + ": truncated file: header claims " + std::to_string(n_kv) +
                   " metadata entries and " + std::to_string(n_tensors) + " tensors but only " +
                   std::to_string(remaining) + " bytes follow");
  }
  f->kv_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key;
    LL_RETURN_IF_ERROR(p.read_string(&key, "metadata key #" + std::to_string(i)));
    uint32_t type;
    LL_RETURN_IF_ERROR(p.read(&type, "metadata value type"));
    if (type > static_cast<uint32_t>(ValueType::kF64)) {
      return corrupt(where + ": metadata '" + key + "' has unknown value type " +
                     std::to_string(type));
    }
    Value v;
    LL_RETURN_IF_ERROR(p.read_value(static_cast<ValueType>(type), &v, "metadata '" + key + "'", 0));
    for (const auto& kv : f->kv_) {
      if (kv.first == key) return corrupt(where + ": duplicate metadata key '" + key + "'");
    }
    f->kv_.emplace_back(std::move(key), std::move(v));
  }

  if (const Value* a = f->find("general.alignment")) {
    if (!a->is_int() || a->u64 == 0 || (a->u64 & (a->u64 - 1)) != 0 || a->u64 > (1u << 20)) {
      return corrupt(where + ": general.alignment must be a power of two integer");
    }
    f->alignment_ = a->u64;
  }

  f->tensors_.resize(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo& t = f->tensors_[i];
    LL_RETURN_IF_ERROR(p.read_string(&t.name, "tensor name #" + std::to_string(i)));
    uint32_t n_dims;
    LL_RETURN_IF_ERROR(p.read(&n_dims, "tensor dims"));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return corrupt(where + ": tensor '" + t.name + "' has " + std::to_string(n_dims) +
                     " dimensions (1.." + std::to_string(kMaxDims) + " allowed)");
    }
    t.ne.resize(n_dims);
    uint64_t n_elem = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne;
      LL_RETURN_IF_ERROR(p.read(&ne, "tensor dimension"));
      if (ne == 0 || ne > (1ull << 40)) {
        return corrupt(where + ": tensor '" + t.name + "' dimension " + std::to_string(d) + " = " +
                       std::to_string(ne) + " is invalid");
      }
      if (n_elem > std::numeric_limits<int64_t>::max() / ne) {
        return corrupt(where + ": tensor '" + t.name + "' element count overflows");
      }
      n_elem *= ne;
      t.ne[d] = static_cast<int64_t>(ne);
    }
    LL_RETURN_IF_ERROR(p.read(&t.type_id, "tensor type"));
    LL_RETURN_IF_ERROR(p.read(&t.offset, "tensor offset"));
    const TypeGeom* g = find_geom(t.type_id);
    if (!g)
      return corrupt(where + ": tensor '" + t.name + "' has unknown type id " +
                     std::to_string(t.type_id));
    if (t.ne[0] % g->block != 0) {
      return corrupt(where + ": tensor '" + t.name + "' row length " + std::to_string(t.ne[0]) +
                     " is not a multiple of its block size " + std::to_string(g->block));
    }
    t.n_bytes = n_elem / g->block * g->bytes;
    if (dtype_info(t.type_id)) t.dtype = static_cast<DType>(t.type_id);
    if (t.offset % f->alignment_ != 0) {
      return corrupt(where + ": tensor '" + t.name + "' offset " + std::to_string(t.offset) +
                     " is not aligned to " + std::to_string(f->alignment_));
    }
    for (uint64_t j = 0; j < i; ++j) {
      if (f->tensors_[j].name == t.name)
        return corrupt(where + ": duplicate tensor name '" + t.name + "'");
    }
  }

  uint64_t data_off = (p.pos() + f->alignment_ - 1) / f->alignment_ * f->alignment_;
  const uint64_t file_size = mapped->size();
  if (n_tensors > 0 && data_off > file_size) {
    return corrupt(where + ": truncated file: data section starts at " + std::to_string(data_off) +
                   " beyond end " + std::to_string(file_size));
  }
  f->data_offset_ = data_off;
  for (TensorInfo& t : f->tensors_) {
    uint64_t avail = file_size > data_off ? file_size - data_off : 0;
    if (t.offset > avail || t.n_bytes > avail - t.offset) {
      return corrupt(where + ": truncated file: tensor '" + t.name + "' data [" +
                     std::to_string(t.offset) + ", +" + std::to_string(t.n_bytes) +
                     ") lies outside the data section (" + std::to_string(avail) + " bytes)");
    }
    t.data = mapped->data() + data_off + t.offset;
  }
  f->mapped_ = std::move(mapped);
  return f;
}

Result<std::unique_ptr<File>> File::open(const std::string& path) {
  LL_ASSIGN_OR_RETURN(auto mapped, MappedFile::open(path));
  return parse(std::move(mapped));
}

Result<std::unique_ptr<File>> File::parse(std::unique_ptr<MappedFile> mapped) {
  return Parser::parse_file(std::move(mapped));
}

const Value* File::find(std::string_view key) const {
  for (const auto& kv : kv_) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

Result<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found("metadata key '" + std::string(key) + "' is missing");
  if (v->type != ValueType::kString)
    return invalid_argument("metadata key '" + std::string(key) + "' is " +
                            value_type_name(v->type) + ", expected string");
  return v->str;
}

Result<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found("metadata key '" + std::string(key) + "' is missing");
  if (!v->is_int())
    return invalid_argument("metadata key '" + std::string(key) + "' is " +
                            value_type_name(v->type) + ", expected integer");
  return v->i64;
}

Result<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found("metadata key '" + std::string(key) + "' is missing");
  if (v->is_float()) return v->f64;
  if (v->is_int()) return static_cast<double>(v->i64);
  return invalid_argument("metadata key '" + std::string(key) + "' is " + value_type_name(v->type) +
                          ", expected number");
}

Result<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found("metadata key '" + std::string(key) + "' is missing");
  if (!v->is_int())
    return invalid_argument("metadata key '" + std::string(key) + "' is " +
                            value_type_name(v->type) + ", expected bool");
  return v->u64 != 0;
}

const std::vector<std::string>* File::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::kArray || v->elem_type != ValueType::kString) return nullptr;
  return &v->strs;
}

const std::vector<double>* File::get_float_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::kArray) return nullptr;
  if (v->elem_type != ValueType::kF32 && v->elem_type != ValueType::kF64) return nullptr;
  return &v->floats;
}

const std::vector<int64_t>* File::get_int_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::kArray) return nullptr;
  if (!is_scalar_int(v->elem_type) && v->elem_type != ValueType::kBool) return nullptr;
  return &v->ints;
}

int64_t File::get_int_or(std::string_view key, int64_t dflt) const {
  auto r = get_int(key);
  return r.is_ok() ? *r : dflt;
}
double File::get_float_or(std::string_view key, double dflt) const {
  auto r = get_float(key);
  return r.is_ok() ? *r : dflt;
}
bool File::get_bool_or(std::string_view key, bool dflt) const {
  auto r = get_bool(key);
  return r.is_ok() ? *r : dflt;
}
std::string File::get_string_or(std::string_view key, std::string dflt) const {
  auto r = get_string(key);
  return r.is_ok() ? *r : dflt;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace ll::gguf
