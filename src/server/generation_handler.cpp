// The two generation endpoints: validate, tokenize, submit, then answer with one JSON object
// or an SSE stream fed from the scheduler thread.
#include <chrono>

#include "server/http_internal.h"
#include "server/openai_response.h"

namespace ll::server {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Without tokens for this long, a stream sends an SSE comment: it keeps proxies from timing out
// and is how a client that left while queued is noticed.
constexpr auto kHeartbeat = std::chrono::seconds(2);
constexpr auto kPoll = std::chrono::milliseconds(250);

ApiError outcome_error(const Generation::Outcome& o) {
  if (o.finish_reason == "cancelled") {
    return ApiError{503, "The request was cancelled: " + o.status.message(), "server_error", "",
                    ""};
  }
  if (o.status.code() == StatusCode::kOutOfMemory) {  // the ring lost capacity (failover.md)
    return ApiError{503, "The cluster cannot serve now: " + o.status.message(), "server_error", "",
                    ""};
  }
  return ApiError{500, "Generation failed: " + o.status.message(), "server_error", "", ""};
}

bool normal_end(const Generation::Outcome& o) {
  return o.finish_reason == "stop" || o.finish_reason == "length";
}

struct SseStream {
  std::shared_ptr<Generation> gen;
  ResponseMeta meta;
  bool include_usage = false;
  bool started = false;
  bool finished = false;
  Clock::time_point last_write = Clock::now();

  bool write(httplib::DataSink& sink, const std::string& s) {
    // A failed write is the only sign of a client that closed the connection.
    if (!sink.write(s.data(), s.size())) {
      gen->abandon();
      return false;
    }
    last_write = Clock::now();
    return true;
  }

  // One call of httplib's chunked content provider: waits briefly for text, sends it.
  bool pump(httplib::DataSink& sink) {
    if (!started) {
      started = true;
      if (meta.endpoint == Endpoint::kChat &&
          !write(sink, sse_event(chunk_json(meta, "", "", true)))) {
        return false;
      }
    }
    std::string text;
    bool done = false;
    if (!gen->take(kPoll, text, done)) {
      return Clock::now() - last_write < kHeartbeat || write(sink, ": keep-alive\n\n");
    }
    if (!text.empty() && !write(sink, sse_event(chunk_json(meta, text, "")))) return false;
    if (!done) return true;
    const Generation::Outcome o = gen->outcome();
    std::string tail;
    if (normal_end(o)) {
      tail = sse_event(chunk_json(meta, "", o.finish_reason));
      if (include_usage)
        tail += sse_event(usage_chunk_json(meta, o.prompt_tokens, o.completion_tokens));
    } else {
      // Headers (200) are long gone; OpenAI streams report late errors as an error event.
      tail = sse_event(outcome_error(o).to_json());
    }
    tail += "data: [DONE]\n\n";
    finished = true;
    if (!write(sink, tail)) return false;
    sink.done();
    return true;
  }
};

}  // namespace

void handle_generation(ServerContext& ctx, Endpoint endpoint, const std::string& body,
                       httplib::Response& res) {
  Backend& b = ctx.backend;
  if (ctx.stopping) {
    return send_error(res, ApiError{503, "The server is shutting down.", "server_error", "", ""});
  }
  auto parsed = parse_generation_request(body, endpoint);
  if (!parsed.ok) return send_error(res, parsed.error);
  const GenerationParams& p = parsed.value;
  auto prep = prepare_generation(b, p);
  if (!prep.ok) return send_error(res, prep.error);
  auto gen = Generation::start(b, std::move(prep.value), ctx.counters, ctx.live);
  if (!gen.is_ok()) {
    const Status& st = gen.status();
    if (st.code() == StatusCode::kInvalidArgument)
      return send_error(res, bad_request(st.message()));
    return send_error(res, ApiError{503, st.message(), "server_error", "", ""});
  }
  const ResponseMeta meta = ResponseMeta::make(endpoint, b.model_id);

  if (!p.stream) {
    // httplib 0.11 gives a handler no view of its connection, so a client that leaves during a
    // non-streamed request is not noticed; the request runs to max_tokens and frees its slot.
    std::string text = (*gen)->wait_all();
    const Generation::Outcome o = (*gen)->outcome();
    if (!normal_end(o)) return send_error(res, outcome_error(o));
    return send_json(
        res, 200,
        completion_json(meta, text, o.finish_reason, o.prompt_tokens, o.completion_tokens));
  }

  auto s = std::make_shared<SseStream>();
  s->gen = *gen;
  s->meta = meta;
  s->include_usage = p.include_usage;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream", [s](size_t, httplib::DataSink& sink) { return s->pump(sink); },
      // Called when httplib is done with the response, also when it stopped calling pump
      // because the socket went away or the server is stopping.
      [s](bool) {
        if (!s->finished) s->gen->abandon();
      });
}

}  // namespace ll::server
