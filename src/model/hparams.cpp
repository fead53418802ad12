#include "model/hparams.h"

namespace ll::model {

namespace {

Status require_int(const gguf::File& f, const std::string& key, int* out, int64_t max = 1 << 24) {
  auto r = f.get_int(key);
  if (!r.is_ok()) return invalid_argument("model metadata: " + r.status().message());
  if (*r <= 0 || *r > max) {
    return invalid_argument("model metadata: '" + key + "' = " + std::to_string(*r) +
                            " is out of range");
  }
  *out = static_cast<int>(*r);
  return Status::ok();
}

}  // namespace

Result<HParams> read_common_hparams(const gguf::File& f) {
  HParams hp;
  hp.arch = f.architecture();
  if (hp.arch.empty()) return invalid_argument("model metadata: 'general.architecture' is missing");
  const std::string a = hp.arch + ".";
  LL_RETURN_IF_ERROR(require_int(f, a + "embedding_length", &hp.n_embd));
  LL_RETURN_IF_ERROR(require_int(f, a + "block_count", &hp.n_layer, 4096));
  LL_RETURN_IF_ERROR(require_int(f, a + "feed_forward_length", &hp.n_ff));
  LL_RETURN_IF_ERROR(require_int(f, a + "attention.head_count", &hp.n_head, 4096));
  hp.n_head_kv = static_cast<int>(f.get_int_or(a + "attention.head_count_kv", hp.n_head));
  hp.n_ctx_train = static_cast<int>(f.get_int_or(a + "context_length", 2048));
  if (hp.n_head_kv <= 0 || hp.n_head % hp.n_head_kv != 0) {
    return invalid_argument("model metadata: head_count " + std::to_string(hp.n_head) +
                            " is not a multiple of head_count_kv " + std::to_string(hp.n_head_kv));
  }
  hp.head_dim = static_cast<int>(f.get_int_or(a + "attention.key_length", hp.n_embd / hp.n_head));
  if (hp.head_dim <= 0) {
    return invalid_argument("model metadata: head dimension " + std::to_string(hp.head_dim) +
                            " must be positive");
  }
  hp.norm_eps =
      static_cast<float>(f.get_float_or(a + "attention.layer_norm_rms_epsilon",
                                        f.get_float_or(a + "attention.layer_norm_epsilon", 1e-5)));
  // A worker's partial file may lack the embedding and LM head; the head records their facts
  // under lingualinked.* keys when it writes such a file.
  const gguf::TensorInfo* emb = f.find_tensor("token_embd.weight");
  if (emb) {
    if (emb->ne.size() != 2)
      return invalid_argument("model: tensor 'token_embd.weight' is not 2-D");
    if (emb->ne[0] != hp.n_embd)
      return invalid_argument("model: token_embd.weight row length " + std::to_string(emb->ne[0]) +
                              " != embedding_length " + std::to_string(hp.n_embd));
    hp.n_vocab = static_cast<int>(emb->ne[1]);
  } else {
    hp.n_vocab = static_cast<int>(f.get_int_or("lingualinked.n_vocab", 0));
    if (hp.n_vocab <= 0) return invalid_argument("model: tensor 'token_embd.weight' is missing");
  }
  hp.tied_output =
      f.get_bool_or("lingualinked.tied_output", f.find_tensor("output.weight") == nullptr);
  return hp;
}

Status read_rope(const gguf::File& f, HParams* hp) {
  const std::string a = hp->arch + ".";
  if (hp->head_dim % 2 != 0) {
    return invalid_argument("model metadata: head dimension " + std::to_string(hp->head_dim) +
                            " must be even for rope");
  }
  hp->n_rot = static_cast<int>(f.get_int_or(a + "rope.dimension_count", hp->head_dim));
  if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0) {
    return invalid_argument("model metadata: rope.dimension_count " + std::to_string(hp->n_rot) +
                            " is invalid for head dimension " + std::to_string(hp->head_dim));
  }
  hp->rope_freq_base = static_cast<float>(f.get_float_or(a + "rope.freq_base", 10000.0));
  // Older files say rope.scale_linear; newer ones rope.scaling.type + rope.scaling.factor.
  const std::string type = f.get_string_or(a + "rope.scaling.type", "");
  double factor = f.get_float_or(a + "rope.scaling.factor", 0.0);
  if (type.empty() && factor == 0.0) factor = f.get_float_or(a + "rope.scale_linear", 0.0);
  if (type == "linear" || (type.empty() && factor != 0.0)) {
    if (factor <= 0.0)
      return invalid_argument("model metadata: rope scaling factor " + std::to_string(factor) +
                              " must be positive");
    hp->rope_freq_scale = static_cast<float>(1.0 / factor);
  } else if (!type.empty() && type != "none") {
    return unsupported("model metadata: rope.scaling.type '" + type +
                       "' is not supported (none, linear)");
  }
  hp->rope_freq_factors = f.find_tensor("rope_freqs.weight") != nullptr;
  return Status::ok();
}

}  // namespace ll::model
