// The head over ZeroMQ: connects to the workers, profiles devices and links, plans with the
// MILP planner, ships missing weights (content-addressed), deploys, then drives the ring. The
// head itself is device 0: it owns tokenization, the session and the embedding segment.
#pragma once

#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/model.h"
#include "net/endpoint.h"
#include "plan/planner.h"
#include "runtime/device_node.h"
#include "runtime/plan_bridge.h"
#include "runtime/ring.h"
#include "runtime/throttle.h"

namespace ll::runtime {

struct HeadOptions {
  std::vector<std::string> workers;  // addresses, e.g. tcp://127.0.0.1:5555
  net::ClusterKey key;
  bool insecure = false;
  plan::Objective objective = plan::Objective::kLatency;
  int n_ctx = 512;
  int max_seqs = 1;
  int threads = 1;
  double mem_budget_bytes = 0;  // head device; 0 = from the OS
  std::string cache_dir = ".lingualinked-cache";
  double added_latency_s = 0;
  double bandwidth_bytes_per_s = 0;
  double latency_p95_s = 0;  // jitter and loss of the emulated link (net/traffic_shaper.h)
  double loss_rate = 0;
  std::string
      name;  // default "head-<host>-<pid>": a ROUTER keeps a routing id until it notices the
             // old connection is gone, so a second run must not reuse the first one's name
  // Shown for the head in plans and statistics (a local cluster's spec name); default name.
  std::string display_name;
  // Which of the planner's assignments to deploy: "plan", or a baseline ("even", "memory").
  std::string placement = "plan";
  // Fixed cuts instead of planning (tests): one coarse segment per device, in worker order.
  std::vector<int> force_cuts;
  bool quiet = false;
  // Emulated speed of the head device (runtime/throttle.h).
  double speed = 1;
  std::vector<SpeedStep> speed_schedule;
};

class NetRing : public Ring, private Outbox {
 public:
  static Result<std::unique_ptr<NetRing>> create(const model::Model& m,
                                                 const std::string& model_path,
                                                 const HeadOptions& o);
  ~NetRing() override;

  Status start_sequence(int32_t seq, const model::SamplerParams& p,
                        const std::vector<int32_t>& history) override;
  Status submit(uint32_t step, const graph::Batch& batch) override;
  Result<TokenEvent> next_token(double timeout_s) override;
  Status end_sequence(int32_t seq) override;
  int n_ctx() const override { return o_.n_ctx; }

  int n_devices() const { return static_cast<int>(names_.size()); }
  const nlohmann::json& plan_json() const { return plan_json_; }
  const std::string& plan_text() const { return plan_text_; }
  double predicted_tok_s() const { return predicted_tok_s_; }
  uint64_t weight_bytes_sent() const { return weight_bytes_sent_; }
  // Per-device busy seconds, forward passes and bytes, asked from every worker.
  Result<nlohmann::json> device_stats();
  double head_busy_s() const { return node_->busy_s(); }

 private:
  NetRing(const model::Model& m, const HeadOptions& o)
      : m_(m), o_(o), throttle_(o.speed, o.speed_schedule) {}
  Status setup(const std::string& model_path);
  Result<net::Received> wait_from(const std::string& peer, net::MsgType type, double timeout_s);
  Status ship_weights(int device, const std::string& path, const std::string& key);
  Status send_tensors(int to, uint32_t step, const graph::Batch& batch,
                      std::vector<std::pair<int, std::vector<float>>> tensors) override;
  Status send_token(int32_t seq, uint32_t step, int32_t token) override;

  const model::Model& m_;
  HeadOptions o_;
  std::unique_ptr<net::Endpoint> ep_;
  std::vector<std::string> names_;        // ring order: names_[0] is the head
  std::vector<std::string> shown_names_;  // the same devices as people know them
  graph::Segmentation coarse_;
  std::unique_ptr<DeviceNode> node_;
  std::deque<TokenEvent> local_tokens_;
  nlohmann::json plan_json_;
  std::string plan_text_;
  double predicted_tok_s_ = 0;
  uint64_t weight_bytes_sent_ = 0;
  nlohmann::json stats_base_;
  std::deque<net::Received> stash_;  // replies that arrived before they were waited for
  Throttle throttle_;
};

}  // namespace ll::runtime
