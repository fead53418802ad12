// One generation as an HTTP handler sees it. The scheduler thread detokenizes each token,
// applies stop strings and appends the text here; the handler thread takes the text as it
// comes (streaming) or at the end. Abandoning (client gone, server stopping) makes the next
// token callback return false, which is how the scheduler frees the slot.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "server/api_error.h"
#include "server/backend.h"
#include "server/metrics.h"
#include "server/openai_request.h"
#include "server/stop_matcher.h"

namespace ll::server {

// A request turned into tokens and checked against the context.
struct PreparedGeneration {
  std::vector<int32_t> prompt;
  int n_predict = 16;
  model::SamplerParams sampling;
  std::vector<std::string> stops;
};

ApiResult<PreparedGeneration> prepare_generation(const Backend& backend, const GenerationParams& p);

class LiveGenerations;

class Generation {
 public:
  struct Outcome {
    std::string finish_reason;  // "stop", "length", "cancelled" or "error"
    Status status;
    int prompt_tokens = 0;
    int completion_tokens = 0;
  };

  // Submits to the backend's scheduler. The generation, the counters and the live set are
  // shared with the scheduler's callbacks, which may run after the HTTP server is gone.
  static Result<std::shared_ptr<Generation>> start(Backend& backend, PreparedGeneration prep,
                                                   std::shared_ptr<ServerCounters> counters,
                                                   std::shared_ptr<LiveGenerations> live);
  Generation(const tok::Tokenizer& tok, std::vector<std::string> stops,
             std::shared_ptr<ServerCounters> counters, std::shared_ptr<LiveGenerations> live);

  // New text since the last call; waits until there is some or the generation ended, at most
  // `timeout`. Returns false if the wait timed out with nothing new.
  bool take(std::chrono::milliseconds timeout, std::string& text, bool& done);
  // Blocks until the end; returns all text not taken yet.
  std::string wait_all();
  Outcome outcome() const;
  // The client is gone: stop at the next token.
  void abandon() { abandoned_ = true; }

 private:
  bool on_token(int32_t id);
  void on_done(const Status& st, const std::string& reason);

  const tok::Tokenizer& tok_;
  std::shared_ptr<ServerCounters> counters_;
  std::shared_ptr<LiveGenerations> live_;
  std::atomic<bool> abandoned_{false};
  // Scheduler thread only.
  tok::StreamDecoder decoder_;
  StopMatcher stop_;
  // Shared with the handler thread.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;
  bool done_ = false;
  Outcome outcome_;
};

// Open generations, so a stopping server can abandon them all.
class LiveGenerations {
 public:
  void add(Generation* g);
  void remove(Generation* g);
  // Abandons every open generation and every one added from now on.
  void abandon_all();
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::set<Generation*> live_;
  bool closed_ = false;
};

}  // namespace ll::server
