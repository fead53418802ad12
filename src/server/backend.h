// What the HTTP server generates with: a Ring (in-process or networked) driven by a Scheduler,
// plus the tokenizer and chat template read from the model file. make_backend() is the one
// place that decides which ring to build; the server only sees Backend.
#pragma once

#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/net_ring.h"
#include "runtime/ring.h"
#include "runtime/scheduler.h"
#include "server/chat_template.h"
#include "server/cluster_info.h"
#include "tokenizer/tokenizer.h"

namespace ll::server {

// Figures only some rings know; exported by /metrics and GET /v1/cluster/status when present.
// Devices are in ring order (index 0 = head), as in ClusterInfo::devices.
struct DeviceMetrics {
  static constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();
  std::string name;              // the device's name, as in ClusterInfo::devices
  double stage_ms = kUnknown;    // mean time per forward pass
  uint64_t steps = 0;            // forward passes run
  double busy_s = kUnknown;      // seconds spent in forward passes so far (utilization)
  double bytes_sent = kUnknown;  // so far, all links
  double bytes_received = kUnknown;
  bool up = true;  // false once the ring lost it
};
struct LinkMetrics {
  std::string from, to;
  uint64_t bytes = 0;                                            // sent so far
  double latency_ms = std::numeric_limits<double>::quiet_NaN();  // measured one-way
};
struct BackendMetrics {
  std::vector<DeviceMetrics> devices;
  std::vector<LinkMetrics> links;
};

struct BackendOptions {
  std::string model_path;
  std::vector<std::string> workers;  // networked ring (not wired yet)
  int cluster = 1;                   // devices in all (serve --n-devices); in-process ring here
  std::string device_spec;           // devices file for placing segments (not wired yet)
  int max_seqs = 4;                  // KV slots, i.e. sequences generated at once
  int ctx = 0;                       // tokens per sequence; 0 = min(trained context, 4096)
  int prefill_chunk = 0;             // prompt rows per forward pass; 0 = whole prompt
  int threads = 1;                   // per device
};

struct Backend {
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // Declaration order matters: members are destroyed bottom-up, so the scheduler stops (and
  // tells every open request) before the ring, tokenizer and weights go away.
  std::string model_id;     // the model file's stem, as /v1/models lists it
  std::string description;  // for the startup log, e.g. "local ring of 3 devices"
  int n_devices = 1;        // at start-up; live_devices() follows moves and failovers
  int live_devices() const {
    const int n = ring ? ring->live_devices() : 0;
    return n > 0 ? n : n_devices;
  }
  // Before the ring: events may be logged until the ring and scheduler are gone.
  ClusterInfo cluster;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  ChatTemplate chat_template;
  std::unique_ptr<runtime::Ring> ring;
  std::unique_ptr<runtime::Scheduler> scheduler;
  // Optional: a ring that measures its devices and links fills this in.
  std::function<BackendMetrics()> metrics;

  int n_ctx() const { return ring->n_ctx(); }
};

// Per-device figures of a networked ring for /metrics, asked from every device on each call
// (safe while requests generate). Empty when a device does not answer.
std::function<BackendMetrics()> net_ring_metrics(runtime::NetRing& ring);

// Loads the model, its tokenizer and chat template, then builds the ring the options ask for.
Result<std::unique_ptr<Backend>> make_backend(const BackendOptions& options);

// The steps of make_backend, public so another ring (or a test's wrapper around one) can be
// plugged in: load, build a ring, attach it (which starts the scheduler).
Result<std::unique_ptr<Backend>> load_backend_model(const BackendOptions& options);

// The chat format for a model file: its tokenizer.chat_template, or its architecture's format
// when it has none (an unknown template is logged and rendered as a plain transcript).
ChatTemplate detect_chat_template(const gguf::File& file, const tok::Tokenizer& tokenizer);
int backend_ctx(const Backend& backend, const BackendOptions& options);
Result<std::unique_ptr<runtime::Ring>> make_local_ring(const Backend& backend,
                                                       const BackendOptions& options);
void attach_ring(Backend& backend, std::unique_ptr<runtime::Ring> ring, int n_devices,
                 std::string description, const BackendOptions& options);

}  // namespace ll::server
