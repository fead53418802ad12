#include "server/generation.h"

#include <random>

namespace ll::server {

namespace {

uint64_t random_seed() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

// For the message only; saturates instead of overflowing for absurd max_tokens.
std::string total_tokens(int64_t a, int64_t b) {
  return b > INT64_MAX - a ? "more than " + std::to_string(INT64_MAX) : std::to_string(a + b);
}

}  // namespace

ApiResult<PreparedGeneration> prepare_generation(const Backend& backend,
                                                 const GenerationParams& p) {
  const tok::Tokenizer& tok = *backend.tokenizer;
  PreparedGeneration g;
  const bool chat = p.endpoint == Endpoint::kChat;
  const std::string param = chat ? "messages" : "prompt";
  if (chat) {
    // The template writes special tokens as text; only parse_special turns them into ids.
    g.prompt = tok.encode(backend.chat_template.render(p.messages), true, true);
  } else if (p.prompt_is_ids) {
    for (int64_t id : p.prompt_ids) {
      if (id < 0 || id >= tok.n_vocab()) {
        return bad_request("Token id " + std::to_string(id) +
                               " in 'prompt' is outside the vocabulary [0, " +
                               std::to_string(tok.n_vocab()) + ").",
                           "prompt");
      }
      g.prompt.push_back(static_cast<int32_t>(id));
    }
  } else {
    g.prompt = tok.encode(p.prompt, true, false);
  }
  if (g.prompt.empty()) {
    if (tok.bos_id() < 0) return bad_request("The prompt is empty.", param);
    g.prompt.push_back(tok.bos_id());
  }
  const int64_t n_ctx = backend.n_ctx();
  const int64_t n_prompt = static_cast<int64_t>(g.prompt.size());
  if (n_prompt >= n_ctx) {
    return bad_request("This model's maximum context length is " + std::to_string(n_ctx) +
                           " tokens, but the prompt has " + std::to_string(n_prompt) +
                           " tokens, leaving no room for a completion.",
                       param);
  }
  // OpenAI's defaults: 16 tokens for completions, the rest of the context for chat.
  int64_t max_tokens = p.max_tokens
                           ? *p.max_tokens
                           : (chat ? n_ctx - n_prompt : std::min<int64_t>(16, n_ctx - n_prompt));
  if (max_tokens > n_ctx - n_prompt) {  // not n_prompt + max_tokens: that can overflow
    return bad_request("This model's maximum context length is " + std::to_string(n_ctx) +
                           " tokens. However, you requested " + total_tokens(n_prompt, max_tokens) +
                           " tokens (" + std::to_string(n_prompt) + " in the prompt, " +
                           std::to_string(max_tokens) +
                           " for the completion). Please reduce the prompt or max_tokens.",
                       p.max_tokens ? "max_tokens" : param);
  }
  g.n_predict = static_cast<int>(max_tokens);
  g.sampling = p.sampling;
  if (!p.seed_given) g.sampling.seed = random_seed();
  g.stops = p.stop;
  if (chat) {
    for (auto& s : backend.chat_template.default_stops()) g.stops.push_back(s);
  }
  return g;
}

Generation::Generation(const tok::Tokenizer& tok, std::vector<std::string> stops,
                       std::shared_ptr<ServerCounters> counters,
                       std::shared_ptr<LiveGenerations> live)
    : tok_(tok),
      counters_(std::move(counters)),
      live_(std::move(live)),
      decoder_(tok),
      stop_(std::move(stops)) {}

Result<std::shared_ptr<Generation>> Generation::start(Backend& backend, PreparedGeneration prep,
                                                      std::shared_ptr<ServerCounters> counters,
                                                      std::shared_ptr<LiveGenerations> live) {
  auto g = std::make_shared<Generation>(*backend.tokenizer, std::move(prep.stops), counters, live);
  g->outcome_.prompt_tokens = static_cast<int>(prep.prompt.size());
  runtime::GenRequest r;
  r.prompt = std::move(prep.prompt);
  r.n_predict = prep.n_predict;
  r.sampling = prep.sampling;
  // The callbacks own the generation: it lives until the scheduler is done with it.
  r.on_token = [g](int32_t id) { return g->on_token(id); };
  r.on_done = [g](const Status& st, const std::string& reason) { g->on_done(st, reason); };
  const tok::Tokenizer* tok = backend.tokenizer.get();
  r.is_eog = [tok](int32_t id) { return tok->is_eog(id); };
  live->add(g.get());
  auto id = backend.scheduler->submit(std::move(r));
  if (!id.is_ok()) {
    live->remove(g.get());
    return id.status();
  }
  counters->started++;
  counters->prompt_tokens += g->outcome_.prompt_tokens;
  return g;
}

bool Generation::on_token(int32_t id) {
  if (abandoned_) return false;
  counters_->completion_tokens++;
  counters_->token_rate.add(1);
  std::string piece;
  // End-of-generation tokens carry no text; the scheduler ends the sequence after this call.
  if (!tok_.is_eog(id)) piece = stop_.push(decoder_.push(id));
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++outcome_.completion_tokens;
    text_ += piece;
  }
  cv_.notify_all();
  return !stop_.stopped();
}

void Generation::on_done(const Status& st, const std::string& reason) {
  std::string tail = stop_.push(decoder_.flush());
  tail += stop_.flush();
  // Returning false from on_token reads as "cancelled" to the scheduler; a stop string is a
  // normal end.
  const bool by_stop_string = stop_.stopped() && !abandoned_;
  const std::string finish = by_stop_string ? "stop" : reason;
  // Bookkeeping first: once done_ is set the handler may answer and the server may go away.
  if (finish == "stop" || finish == "length") {
    counters_->completed++;
  } else if (finish == "cancelled") {
    counters_->cancelled++;
  } else {
    counters_->failed++;
  }
  live_->remove(this);
  {
    std::lock_guard<std::mutex> lock(mu_);
    text_ += tail;
    done_ = true;
    outcome_.finish_reason = finish;
    outcome_.status = by_stop_string ? Status::ok() : st;
  }
  cv_.notify_all();
}

bool Generation::take(std::chrono::milliseconds timeout, std::string& text, bool& done) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [this] { return done_ || !text_.empty(); })) return false;
  text.swap(text_);
  text_.clear();
  done = done_;
  return true;
}

std::string Generation::wait_all() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_; });
  std::string out;
  out.swap(text_);
  return out;
}

Generation::Outcome Generation::outcome() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outcome_;
}

void LiveGenerations::add(Generation* g) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) g->abandon();
  live_.insert(g);
}

void LiveGenerations::remove(Generation* g) {
  std::lock_guard<std::mutex> lock(mu_);
  live_.erase(g);
}

void LiveGenerations::abandon_all() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  for (Generation* g : live_) g->abandon();
}

size_t LiveGenerations::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.size();
}

}  // namespace ll::server
