#include "server/backend.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <mutex>

#include "core/clock.h"

#include "core/log.h"
#include "graph/segment.h"
#include "runtime/local_ring.h"
#include "server/cluster_status.h"

namespace ll::server {

ChatTemplate detect_chat_template(const gguf::File& file, const tok::Tokenizer& tokenizer) {
  ChatContext ctx;
  ctx.arch = file.architecture();
  if (tokenizer.is_valid(tokenizer.bos_id())) ctx.bos = tokenizer.token_text(tokenizer.bos_id());
  if (tokenizer.is_valid(tokenizer.eos_id())) ctx.eos = tokenizer.token_text(tokenizer.eos_id());
  ctx.has_llama3_headers = tokenizer.token_to_id("<|start_header_id|>") >= 0;
  ChatTemplate t = ChatTemplate::detect(file.get_string_or("tokenizer.chat_template", ""), ctx);
  if (!t.warning.empty()) LL_LOG_WARN("%s", t.warning.c_str());
  return t;
}

Result<std::unique_ptr<Backend>> load_backend_model(const BackendOptions& o) {
  if (o.max_seqs < 1) return invalid_argument("--max-seqs must be at least 1");
  if (o.ctx < 0) return invalid_argument("--ctx must not be negative");
  if (o.prefill_chunk < 0) return invalid_argument("--prefill-chunk must not be negative");
  auto b = std::make_unique<Backend>();
  b->model_id = std::filesystem::path(o.model_path).stem().string();
  LL_ASSIGN_OR_RETURN(b->model, model::Model::load(o.model_path));
  auto tok = tok::Tokenizer::from_gguf(*b->model->file);
  if (!tok.is_ok()) {
    return invalid_argument("the server needs the model's tokenizer: " + tok.status().message());
  }
  b->tokenizer = std::move(tok).value();
  b->chat_template = detect_chat_template(*b->model->file, *b->tokenizer);
  return b;
}

int backend_ctx(const Backend& b, const BackendOptions& o) {
  if (o.ctx > 0) return o.ctx;
  const int trained = b.model->hp().n_ctx_train;
  return std::min(trained > 0 ? trained : 2048, 4096);
}

Result<std::unique_ptr<runtime::Ring>> make_local_ring(const Backend& b, const BackendOptions& o) {
  if (o.cluster < 1) return invalid_argument("--n-devices must be at least 1");
  const model::Model& m = *b.model;
  LL_ASSIGN_OR_RETURN(auto seg, graph::segment_default(m.graph, o.cluster));
  LL_ASSIGN_OR_RETURN(
      auto ring, runtime::LocalRing::create(m.graph, seg, *m.weights, backend_ctx(b, o), o.max_seqs,
                                            {o.threads}));
  return std::unique_ptr<runtime::Ring>(std::move(ring));
}

void attach_ring(Backend& b, std::unique_ptr<runtime::Ring> ring, int n_devices,
                 std::string description, const BackendOptions& o) {
  b.ring = std::move(ring);
  b.n_devices = n_devices;
  b.description = std::move(description);
  runtime::SchedulerOptions so;
  so.max_seqs = o.max_seqs;
  so.prefill_chunk = o.prefill_chunk;
  b.scheduler = std::make_unique<runtime::Scheduler>(*b.ring, so);
  std::string names;
  for (const ClusterDevice& d : b.cluster.devices) names += (names.empty() ? "" : ", ") + d.name;
  b.cluster.events.add("deploy", b.description + (names.empty() ? "" : ": " + names));
}

std::function<BackendMetrics()> net_ring_metrics(runtime::NetRing& ring) {
  // Asking every device is a network round trip: a poll of /metrics or of the status page
  // within a second of the last gets the same figures.
  struct Cache {
    std::mutex mu;
    double at_s = -1;
    BackendMetrics value;
  };
  auto cache = std::make_shared<Cache>();
  return [&ring, cache] {
    std::lock_guard<std::mutex> lock(cache->mu);
    const double now = mono_now_s();
    if (cache->at_s >= 0 && now - cache->at_s < 1.0) return cache->value;
    BackendMetrics m;
    auto stats = ring.device_stats();
    if (!stats.is_ok()) return m;
    cache->at_s = now;
    for (const auto& d : *stats) {
      DeviceMetrics dm;
      dm.name = d.value("name", "");
      dm.steps = static_cast<uint64_t>(d.value("steps", 0.0));
      dm.busy_s = d.value("busy_s", 0.0);
      if (dm.steps > 0) dm.stage_ms = 1000.0 * dm.busy_s / dm.steps;
      dm.bytes_sent = d.value("bytes_sent", 0.0);
      dm.bytes_received = d.value("bytes_received", 0.0);
      m.devices.push_back(dm);
    }
    cache->value = m;
    return m;
  };
}

Result<std::unique_ptr<Backend>> make_backend(const BackendOptions& o) {
  // Checked before loading so a bad command line fails at once.
  if (!o.workers.empty()) {
    return unsupported(
        "--workers is not wired to the server yet; use --n-devices N for an "
        "in-process ring");
  }
  if (!o.device_spec.empty()) {
    return unsupported(
        "--device-spec is not wired to the server yet; --n-devices N splits the "
        "model evenly");
  }
  if (o.cluster < 1) return invalid_argument("--n-devices must be at least 1");
  LL_ASSIGN_OR_RETURN(auto b, load_backend_model(o));
  // The one switch between ring kinds: a networked ring is built here, next to the local one.
  LL_ASSIGN_OR_RETURN(auto ring, make_local_ring(*b, o));
  LL_ASSIGN_OR_RETURN(auto seg, graph::segment_default(b->model->graph, o.cluster));
  b->cluster.devices = devices_from_segments(b->model->graph, seg);
  attach_ring(
      *b, std::move(ring), o.cluster,
      "in-process ring of " + std::to_string(o.cluster) + " device" + (o.cluster == 1 ? "" : "s"),
      o);
  return b;
}

}  // namespace ll::server
