#include "model/quant_mix.h"

#include <cctype>
#include <cstdlib>

namespace ll::model {
namespace {

struct Mix {
  const char* name;
  DType base;
};
constexpr Mix kMixes[] = {
    {"Q4_K_M", DType::kQ4_K}, {"Q5_K_M", DType::kQ5_K}, {"Q3_K_M", DType::kQ3_K}};

std::string upper(const std::string& s) {
  std::string u;
  for (char c : s) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

// Layer index of "blk.N....", or -1.
int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::atoi(name.c_str() + 4);
}

bool has(const std::string& name, const char* role) {
  return name.find(role) != std::string::npos;
}

// The layers llama.cpp's mixes give more bits: the first and last eighth, and every third one
// in between.
bool more_bits(int layer, int n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

DType mix_choice(DType base, const std::string& name, int n_layer) {
  if (name == "output.weight") return DType::kQ6_K;
  const int layer = layer_of(name);
  const bool v = has(name, ".attn_v."), down = has(name, ".ffn_down.");
  if (base == DType::kQ3_K) {
    if (v) return layer < 2 ? DType::kQ5_K : DType::kQ4_K;
    if (down)
      return layer < n_layer / 16 ? DType::kQ5_K : more_bits(layer, n_layer) ? DType::kQ4_K : base;
    if (has(name, ".attn_output.")) return DType::kQ4_K;
    return base;
  }
  // Q4_K_M and Q5_K_M: attn_v and ffn_down of the layers above in Q6_K.
  if ((v || down) && layer >= 0 && more_bits(layer, n_layer)) return DType::kQ6_K;
  return base;
}

}  // namespace

Result<QuantScheme> parse_quant_scheme(const std::string& name) {
  const std::string u = upper(name);
  for (const Mix& m : kMixes) {
    if (u == m.name) return QuantScheme{m.name, m.base, true};
  }
  auto t = dtype_from_name(u);
  if (!t || *t == DType::kQ8_K) {
    return invalid_argument("unknown type '" + name + "' (" + quant_scheme_names() + ")");
  }
  return QuantScheme{std::string(dtype_name(*t)), *t, false};
}

std::string quant_scheme_names() {
  std::string s;
  for (const TypeTraits& t : all_types()) {
    if (t.type != DType::kQ8_K) s += (s.empty() ? "" : ", ") + std::string(t.name);
  }
  for (const Mix& m : kMixes) s += std::string(", ") + m.name;
  return s;
}

DType fallback_type(DType wanted, int64_t ne0) {
  if (ne0 % dtype_info(wanted).block_size == 0) return wanted;
  DType t = wanted;
  switch (wanted) {
    case DType::kQ2_K:
    case DType::kQ3_K:
      t = DType::kQ4_0;
      break;
    case DType::kQ4_K:
      t = DType::kQ5_0;
      break;
    case DType::kQ5_K:
      t = DType::kQ5_1;
      break;
    case DType::kQ6_K:
    case DType::kQ8_K:
      t = DType::kQ8_0;
      break;
    default:
      break;
  }
  return ne0 % dtype_info(t).block_size == 0 ? t : DType::kF16;
}

TensorType choose_tensor_type(const QuantScheme& s, const std::string& name, int64_t ne0,
                              int n_layer) {
  const DType wanted = s.mix ? mix_choice(s.base, name, n_layer) : s.base;
  return {fallback_type(wanted, ne0), wanted};
}

}  // namespace ll::model
