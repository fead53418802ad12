// The HTTP server end to end, in-process, on a synthetic model: wire formats, streaming,
// concurrency through a 3-device ring, client disconnects, metrics, auth.
#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "runtime/ring.h"
#include "server/generation.h"
#include "server/server_test_util.h"

namespace ll::server::testing {
namespace {

json completion(const std::string& prompt, int max_tokens, bool stream = false) {
  return json{{"model", synth_model_id()},
              {"prompt", prompt},
              {"max_tokens", max_tokens},
              {"temperature", 0},
              {"stream", stream}};
}

json chat(const std::string& user, int max_tokens, bool stream = false) {
  return json{{"model", synth_model_id()},
              {"messages", json::array({{{"role", "system"}, {"content", "You are terse."}},
                                        {{"role", "user"}, {"content", user}}})},
              {"max_tokens", max_tokens},
              {"temperature", 0},
              {"stream", stream}};
}

std::string text_of(const Reply& r) {
  EXPECT_EQ(r.status, 200) << r.body;
  if (r.status != 200) return "<" + r.body + ">";
  const json& c = r.j["choices"][0];
  return c.contains("message") ? c["message"]["content"].get<std::string>()
                               : c["text"].get<std::string>();
}

// As llama-server: one model is served, so any model name (or none) selects it and the answer
// names the served one; any Content-Type is parsed as JSON (curl -d sends form-urlencoded).
TEST(Server, AnyModelNameAndAnyContentTypeAreAccepted) {
  auto s = serve_synth(1, 2);
  const std::string want = text_of(post(*s, "/v1/completions", completion("Once upon", 6)));
  json gpt = completion("Once upon", 6);
  gpt["model"] = "gpt-4o";
  json none = completion("Once upon", 6);
  none.erase("model");
  for (const json& body : {gpt, none}) {
    for (const char* type :
         {"application/json", "application/x-www-form-urlencoded", "text/plain"}) {
      Reply r = post(*s, "/v1/completions", body.dump(), type);
      EXPECT_EQ(text_of(r), want) << body.dump() << " as " << type;
      EXPECT_EQ(r.j["model"], synth_model_id()) << r.body;
    }
  }
  json c = chat("Hello", 4);
  c["model"] = "gpt-4o";
  Reply cr = post(*s, "/v1/chat/completions", c.dump(), "text/plain");
  EXPECT_EQ(cr.status, 200) << cr.body;
  EXPECT_EQ(cr.j["model"], synth_model_id());
  // Still strict: a model that is not a string, and a body that is not JSON.
  gpt["model"] = 5;
  EXPECT_EQ(post(*s, "/v1/completions", gpt).j["error"]["param"], "model");
  Reply form =
      post(*s, "/v1/completions", "prompt=Once&max_tokens=4", "application/x-www-form-urlencoded");
  EXPECT_EQ(form.status, 400) << form.body;
  EXPECT_NE(form.j["error"]["message"].get<std::string>().find("JSON"), std::string::npos);
}

TEST(Server, HealthModelsAndCompletionShape) {
  auto s = serve_synth(1, 2);
  auto c = s->client();
  auto h = to_reply(c.Get("/health"));
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.j, json({{"status", "ok"}}));
  auto m = to_reply(c.Get("/v1/models"));
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.j["object"], "list");
  EXPECT_EQ(m.j["data"][0]["id"], synth_model_id());
  EXPECT_EQ(to_reply(c.Get(("/v1/models/" + synth_model_id()).c_str())).status, 200);
  EXPECT_EQ(to_reply(c.Get("/v1/models/other")).j["error"]["code"], "model_not_found");

  auto r = post(*s, "/v1/completions", completion("Once upon", 8));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["object"], "text_completion");
  EXPECT_EQ(r.j["model"], synth_model_id());
  EXPECT_EQ(r.j["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  const json& choice = r.j["choices"][0];
  EXPECT_TRUE(choice["text"].is_string());
  EXPECT_TRUE(choice["finish_reason"] == "length" || choice["finish_reason"] == "stop");
  EXPECT_GT(r.j["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_LE(r.j["usage"]["completion_tokens"].get<int>(), 8);
  EXPECT_EQ(
      r.j["usage"]["total_tokens"].get<int>(),
      r.j["usage"]["prompt_tokens"].get<int>() + r.j["usage"]["completion_tokens"].get<int>());

  auto cr = post(*s, "/v1/chat/completions", chat("Hello", 8));
  ASSERT_EQ(cr.status, 200) << cr.body;
  EXPECT_EQ(cr.j["object"], "chat.completion");
  EXPECT_EQ(cr.j["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(cr.j["choices"][0]["message"]["content"].is_string());
}

TEST(Server, ChatTemplateSpecialTokensBecomeIds) {
  // Llama-2's template writes "</s><s>" between turns; they must tokenize to EOS and BOS.
  auto s = serve_synth(1, 1);
  Backend& b = *s->backend;
  b.chat_template = ChatTemplate::detect("[INST]");
  GenerationParams p;
  p.endpoint = Endpoint::kChat;
  p.messages = {{"user", "hi"}, {"assistant", "yo"}, {"user", "ok"}};
  auto prep = prepare_generation(b, p);
  ASSERT_TRUE(prep.ok) << prep.error.message;
  const auto& ids = prep.value.prompt;
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[0], b.tokenizer->bos_id());
  bool eos_then_bos = false;
  for (size_t i = 1; i + 1 < ids.size(); ++i) {
    eos_then_bos |= ids[i] == b.tokenizer->eos_id() && ids[i + 1] == b.tokenizer->bos_id();
  }
  EXPECT_TRUE(eos_then_bos);
  // Plain completions never parse special tokens from user text.
  p.endpoint = Endpoint::kCompletions;
  p.prompt = "a</s>b";
  auto plain = prepare_generation(b, p);
  ASSERT_TRUE(plain.ok);
  for (size_t i = 1; i < plain.value.prompt.size(); ++i)
    EXPECT_NE(plain.value.prompt[i], b.tokenizer->eos_id());
}

TEST(Server, GreedyIsDeterministicAndPromptIdsWork) {
  auto s = serve_synth(2, 2);
  const std::string a = text_of(post(*s, "/v1/completions", completion("the cat", 12)));
  EXPECT_EQ(a, text_of(post(*s, "/v1/completions", completion("the cat", 12))));
  // The same prompt as token ids (BOS included, as the text form adds it).
  const auto ids = s->backend->tokenizer->encode("the cat", true, false);
  json j = completion("", 12);
  j["prompt"] = ids;
  EXPECT_EQ(a, text_of(post(*s, "/v1/completions", j)));
}

// Slows every forward pass: requests overlap for sure, and a generation is still running when
// its client leaves. The sleep emulates a device's compute time; it synchronizes nothing.
// `started` (optional) is set at the first forward pass: the explicit signal that a request
// is generating.
class SlowRing : public runtime::Ring {
 public:
  SlowRing(std::unique_ptr<runtime::Ring> inner, int delay_ms,
           std::shared_ptr<std::promise<void>> started = nullptr)
      : inner_(std::move(inner)), delay_ms_(delay_ms), started_(std::move(started)) {}
  Status send_seq_start(const runtime::SeqRecord& r) override {
    return inner_->start_sequence(r.id, r.sampling, r.prompt);
  }
  Status submit(uint32_t step, const graph::Batch& batch) override {
    if (started_) std::call_once(started_once_, [this] { started_->set_value(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    return inner_->submit(step, batch);
  }
  Result<runtime::TokenEvent> wait_token(double t) override { return inner_->next_token(t); }
  Status send_seq_end(int32_t seq) override { return inner_->end_sequence(seq); }
  int n_ctx() const override { return inner_->n_ctx(); }

 private:
  std::unique_ptr<runtime::Ring> inner_;
  int delay_ms_;
  std::shared_ptr<std::promise<void>> started_;
  std::once_flag started_once_;
};

std::unique_ptr<TestServer> serve_slow(int max_seqs, int delay_ms, int cluster = 1,
                                       std::shared_ptr<std::promise<void>> started = nullptr) {
  const BackendOptions o = synth_backend_options(cluster, max_seqs);
  auto b = load_backend_model(o);
  EXPECT_TRUE(b.is_ok());
  auto ring = make_local_ring(**b, o);
  EXPECT_TRUE(ring.is_ok());
  attach_ring(**b, std::make_unique<SlowRing>(std::move(ring).value(), delay_ms, started), cluster,
              "slow", o);
  return serve(std::move(b).value());
}

TEST(Server, SixteenConcurrentGreedyRequestsMatchAloneOnThreeDevices) {
  auto s = serve_slow(16, 1, 3);
  std::vector<json> reqs;
  for (int i = 0; i < 16; ++i) {
    std::string prompt = "story " + std::to_string(i * 7919);
    for (int k = 0; k < i % 5; ++k) prompt += " and more";
    reqs.push_back(i % 2 ? completion(prompt, 10 + i % 7) : chat(prompt, 10 + i % 7));
  }
  auto path = [](int i) { return i % 2 ? "/v1/completions" : "/v1/chat/completions"; };
  std::vector<std::future<Reply>> futs;
  for (int i = 0; i < 16; ++i) {
    futs.push_back(std::async(std::launch::async, [&, i] { return post(*s, path(i), reqs[i]); }));
  }
  std::vector<Reply> together;
  for (auto& f : futs) together.push_back(f.get());
  // They really ran together: one scheduler round submitted several sequences' tokens.
  const auto st = s->backend->scheduler->stats();
  EXPECT_LT(st.waves * 2, st.tokens_generated) << "requests did not overlap";
  for (int i = 0; i < 16; ++i) {
    Reply alone = post(*s, path(i), reqs[i]);
    EXPECT_EQ(text_of(together[i]), text_of(alone)) << "request " << i;
    EXPECT_EQ(together[i].j["usage"], alone.j["usage"]) << "request " << i;
  }
  EXPECT_EQ(s->backend->scheduler->stats().active, 0u);
}

TEST(Server, StreamingConcatenatesToTheNonStreamedText) {
  auto s = serve_synth(3, 4);
  for (bool is_chat : {false, true}) {
    json req = is_chat ? chat("tell me", 24) : completion("tell me", 24);
    const char* path = is_chat ? "/v1/chat/completions" : "/v1/completions";
    const std::string whole = text_of(post(*s, path, req));
    req["stream"] = true;
    req["stream_options"] = {{"include_usage", true}};
    Reply r = post(*s, path, req);
    ASSERT_EQ(r.status, 200);
    SseResult sse = parse_sse(r.body);
    EXPECT_TRUE(sse.well_formed) << r.body;
    EXPECT_TRUE(sse.done) << "stream must end with data: [DONE]";
    ASSERT_GE(sse.events.size(), 2u);
    std::string finish;
    EXPECT_EQ(sse_text(sse, &finish), whole) << (is_chat ? "chat" : "completions");
    EXPECT_TRUE(finish == "length" || finish == "stop");
    const std::string object = is_chat ? "chat.completion.chunk" : "text_completion";
    for (const auto& e : sse.events) {
      EXPECT_EQ(e["object"], object);
      EXPECT_EQ(e["id"], sse.events[0]["id"]);
    }
    if (is_chat) {
      EXPECT_EQ(sse.events[0]["choices"][0]["delta"]["role"], "assistant");
    }
    // include_usage: the last chunk has no choices and the usage.
    EXPECT_TRUE(sse.events.back()["choices"].empty());
    EXPECT_GT(sse.events.back()["usage"]["completion_tokens"].get<int>(), 0);
  }
}

TEST(Server, StopStringsCutTheTextInBothModes) {
  auto s = serve_synth(2, 2);
  const std::string whole = text_of(post(*s, "/v1/completions", completion("a stop test", 40)));
  ASSERT_GE(whole.size(), 8u) << "synthetic output too short to pick a stop string";
  const std::string stop = whole.substr(whole.size() / 2, 3);
  const std::string expect = whole.substr(0, whole.find(stop));
  json req = completion("a stop test", 40);
  req["stop"] = json::array({"\x01never", stop});
  Reply r = post(*s, "/v1/completions", req);
  EXPECT_EQ(text_of(r), expect);
  EXPECT_EQ(r.j["choices"][0]["finish_reason"], "stop");
  req["stream"] = true;
  Reply sr = post(*s, "/v1/completions", req);
  std::string finish;
  EXPECT_EQ(sse_text(parse_sse(sr.body), &finish), expect);
  EXPECT_EQ(finish, "stop");
}

// Streams until `chunks` events arrived, then drops the connection.
void stream_and_leave(const TestServer& s, const json& body, int chunks) {
  httplib::Client c("127.0.0.1", s.port);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  std::string got;
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    got.append(d, n);
    size_t events = 0;
    for (size_t p = got.find("data: "); p != std::string::npos; p = got.find("data: ", p + 1))
      ++events;
    return events < static_cast<size_t>(chunks);
  };
  auto r = c.send(req);
  EXPECT_EQ(r.error(), httplib::Error::Canceled);
}

TEST(Server, ClientDisconnectMidStreamFreesTheSlot) {
  // One slot, 10 ms per token: the abandoned request alone would hold it for 4 s.
  auto s = serve_slow(1, 10);
  json long_req = completion("never ending", 400, true);
  long_req["stop"] = nullptr;
  stream_and_leave(*s, long_req, 3);
  const auto t0 = std::chrono::steady_clock::now();
  Reply next = post(*s, "/v1/completions", completion("next", 4));
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(next.status, 200) << next.body;
  EXPECT_LT(waited, 2.0) << "the abandoned stream kept its slot";
  auto st = s->backend->scheduler->stats();
  EXPECT_LT(st.tokens_generated, 100u);
  auto m = to_reply(s->client().Get("/metrics"));
  EXPECT_NE(m.body.find("ll_requests_cancelled_total 1"), std::string::npos) << m.body;
}

TEST(Server, ManyConcurrentStreamsAllFinish) {
  auto s = serve_synth(3, 8);
  std::vector<std::future<Reply>> futs;
  for (int i = 0; i < 20; ++i) {
    futs.push_back(std::async(std::launch::async, [&, i] {
      return post(*s, "/v1/chat/completions", chat("stream " + std::to_string(i), 16, true));
    }));
  }
  for (auto& f : futs) {
    Reply r = f.get();
    EXPECT_EQ(r.status, 200);
    SseResult sse = parse_sse(r.body);
    EXPECT_TRUE(sse.done && sse.well_formed) << r.body;
  }
}

TEST(Server, BurstOfConnectionsIsAcceptedAtOnce) {
  // httplib's backlog of 5 made the 6th simultaneous connection wait for a SYN retry (1 s) or fail.
  auto s = serve_synth(1, 1);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::future<int>> futs;
  for (int i = 0; i < 48; ++i) {
    futs.push_back(std::async(std::launch::async,
                              [&] { return to_reply(s->client().Get("/health")).status; }));
  }
  for (auto& f : futs) EXPECT_EQ(f.get(), 200);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.9);
}

TEST(Server, MetricsExposeSchedulerAndCounters) {
  auto s = serve_synth(3, 2);
  // One kept-alive connection: httplib counts a response (its logger hook) just after sending
  // it, in the thread that then reads the connection's next request, so /metrics on the same
  // connection is answered only after the earlier requests were counted.
  auto c = s->client();
  c.set_keep_alive(true);
  ASSERT_EQ(
      to_reply(c.Post("/v1/completions", completion("count me", 5).dump(), "application/json"))
          .status,
      200);
  EXPECT_EQ(to_reply(c.Post("/v1/completions", "{bad", "application/json")).status, 400);
  const std::vector<std::string> names = {"ll_requests_total 1",
                                          "ll_requests_completed_total 1",
                                          "ll_requests_failed_total 0",
                                          "ll_requests_cancelled_total 0",
                                          "ll_tokens_generated_total",
                                          "ll_tokens_per_second",
                                          "ll_time_to_first_token_seconds_count 1",
                                          "# TYPE ll_time_to_first_token_seconds summary",
                                          "ll_queue_depth 0",
                                          "ll_device_up{device=\"device2\"} 1",
                                          "ll_device_info{device=\"device1\",index=\"1\"",
                                          "ll_active_sequences 0",
                                          "ll_http_client_errors_total 1",
                                          "ll_info{model=\""};
  Reply m = to_reply(c.Get("/metrics"));
  ASSERT_EQ(m.status, 200);
  for (const auto& n : names) EXPECT_NE(m.body.find(n), std::string::npos) << n << "\n" << m.body;
}

// Per-device series from what a ring reports (BackendMetrics), in base units, labelled by
// device name; what nobody measured is left out rather than exported as NaN.
TEST(Server, MetricsHavePerDeviceSeries) {
  auto s = serve_synth(2, 1);
  s->backend->metrics = [] {
    BackendMetrics m;
    DeviceMetrics a;
    a.name = "device0";
    a.stage_ms = 2.5;
    a.steps = 40;
    a.busy_s = 0.1;
    a.bytes_sent = 1000;
    a.bytes_received = 2000;
    DeviceMetrics b;
    b.name = "device1";
    b.steps = 7;
    b.up = false;
    m.devices = {a, b};
    m.links = {{"device0", "device1", 123, 0.5}};
    return m;
  };
  auto m = to_reply(s->client().Get("/metrics"));
  ASSERT_EQ(m.status, 200);
  for (const char* want :
       {"ll_device_stage_seconds{device=\"device0\"} 0.0025", "ll_device_up{device=\"device0\"} 1",
        "ll_device_up{device=\"device1\"} 0",
        "ll_device_forward_passes_total{device=\"device1\"} 7",
        "ll_device_busy_seconds_total{device=\"device0\"} 0.1",
        "ll_device_sent_bytes_total{device=\"device0\"} 1000",
        "ll_device_received_bytes_total{device=\"device0\"} 2000",
        "ll_link_sent_bytes_total{from=\"device0\",to=\"device1\"} 123",
        "ll_link_latency_seconds{from=\"device0\",to=\"device1\"} 0.0005",
        "# TYPE ll_device_busy_seconds_total counter"}) {
    EXPECT_NE(m.body.find(want), std::string::npos) << want << "\n" << m.body;
  }
  EXPECT_EQ(m.body.find("NaN"), std::string::npos) << m.body;
  EXPECT_EQ(m.body.find("stage_seconds{device=\"device1\"}"), std::string::npos) << m.body;
  // Each family is announced once.
  size_t n = 0;
  for (size_t at = 0; (at = m.body.find("# TYPE ll_device_up ", at)) != std::string::npos; ++at)
    ++n;
  EXPECT_EQ(n, 1u);
  // The text format wants each family's samples in one group.
  std::set<std::string> done;
  std::string current;
  std::istringstream lines(m.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const std::string name = line.substr(0, line.find_first_of("{ "));
    if (name == current) continue;
    EXPECT_TRUE(done.insert(name).second) << name << " appears in two groups\n" << m.body;
    current = name;
  }

  // The same figures in the status JSON, with utilization from two samples of busy seconds.
  auto st = to_reply(s->client().Get("/v1/cluster/status"));
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_EQ(st.j["devices"][0]["stage_ms"], 2.5);
  EXPECT_EQ(st.j["devices"][0]["bytes_sent"], 1000);
  EXPECT_EQ(st.j["devices"][1]["up"], false);
  EXPECT_TRUE(st.j["devices"][1]["stage_ms"].is_null());
  EXPECT_EQ(st.j["links"][0]["bytes"], 123);
  EXPECT_EQ(st.j["links"][0]["latency_ms"], 0.5);
}

TEST(Server, ClusterStatusDescribesTheRing) {
  auto s = serve_synth(3, 2);
  ASSERT_EQ(post(*s, "/v1/completions", completion("status", 5)).status, 200);
  auto r = to_reply(s->client().Get("/v1/cluster/status"));
  ASSERT_EQ(r.status, 200) << r.body;
  const json& j = r.j;
  EXPECT_EQ(j["model"], synth_model_id());
  EXPECT_EQ(j["n_devices"], 3);
  EXPECT_EQ(j["n_ctx"], 512);
  EXPECT_EQ(j["requests"]["completed"], 1);
  EXPECT_GE(j["tokens_generated"].get<int>(), 1);
  EXPECT_LE(j["tokens_generated"].get<int>(), 5);
  ASSERT_EQ(j["devices"].size(), 3u);
  // The synthetic model's 2 layers are spread over the devices in order, each held once.
  int next_layer = 0;
  for (size_t i = 0; i < 3; ++i) {
    const json& d = j["devices"][i];
    EXPECT_EQ(d["name"], "device" + std::to_string(i));
    EXPECT_EQ(d["head"], i == 0);
    EXPECT_TRUE(d.contains("utilization") && d.contains("mem_bytes") && d.contains("stage_ms"));
    if (d["layers"].is_null()) continue;
    EXPECT_GE(d["layers"][0].get<int>(), next_layer - 1) << d.dump();
    next_layer = d["layers"][1].get<int>() + 1;
  }
  EXPECT_EQ(next_layer, 2);
  ASSERT_EQ(j["links"].size(), 3u);
  EXPECT_EQ(j["links"][2]["to_name"], "device0");
  ASSERT_GE(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["kind"], "deploy");
  const uint64_t last = j["events"].back()["id"];
  auto again = to_reply(
      s->client().Get(("/v1/cluster/status?events_after=" + std::to_string(last)).c_str()));
  EXPECT_TRUE(again.j["events"].empty()) << again.body;
  EXPECT_EQ(to_reply(s->client().Get("/v1/cluster/status?events_after=x")).status, 400);
  // An in-process ring has no plan and says so.
  auto svg = to_reply(s->client().Get("/v1/cluster/plan.svg"));
  EXPECT_EQ(svg.status, 404);
  EXPECT_EQ(svg.j["error"]["code"], "no_plan");
  EXPECT_EQ(to_reply(s->client().Post("/v1/cluster/status", "{}", "application/json")).status, 405);
}

TEST(Server, WebPageIsServedFromTheBinary) {
  ServerOptions so;
  so.api_key = "k";
  auto s = serve_synth(1, 1, so);
  auto c = s->client();
  auto page = c.Get("/");  // no key needed for the page itself
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type").rfind("text/html", 0), 0u);
  EXPECT_NE(page->body.find("<title>LinguaLinked</title>"), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), std::string::npos)
      << "the page must not load from elsewhere";
  EXPECT_EQ(page->body.find("https://"), std::string::npos)
      << "the page must not load from elsewhere";
  for (const char* asset : {"/app.js", "/style.css", "/index.html"}) {
    auto a = c.Get(asset);
    ASSERT_TRUE(a) << asset;
    EXPECT_EQ(a->status, 200) << asset;
    EXPECT_GT(a->body.size(), 100u) << asset;
  }
  EXPECT_EQ(c.Get("/app.js")->get_header_value("Content-Type").rfind("text/javascript", 0), 0u);
  // The data behind it still needs the key.
  EXPECT_EQ(to_reply(c.Get("/v1/cluster/status")).status, 401);
  EXPECT_EQ(to_reply(c.Get("/nothing.js")).status, 404);
  EXPECT_EQ(to_reply(c.Post("/", "{}", "application/json")).status, 405);
}

TEST(Server, ApiKeyIsRequiredWhenSet) {
  ServerOptions so;
  so.api_key = "sekret";
  auto s = serve_synth(1, 1, so);
  auto no_key = post(*s, "/v1/completions", completion("x", 2));
  EXPECT_EQ(no_key.status, 401);
  EXPECT_EQ(no_key.j["error"]["code"], "invalid_api_key");
  EXPECT_EQ(post(*s, "/v1/completions", completion("x", 2).dump(), "application/json",
                 {{"Authorization", "Bearer wrong"}})
                .status,
            401);
  EXPECT_EQ(post(*s, "/v1/completions", completion("x", 2).dump(), "application/json",
                 {{"Authorization", "Bearer sekret"}})
                .status,
            200);
  EXPECT_EQ(to_reply(s->client().Get("/v1/models")).status, 401);
  EXPECT_EQ(to_reply(s->client().Get("/health")).status, 200);
}

TEST(Server, StopWhileGeneratingEndsPromptly) {
  auto started = std::make_shared<std::promise<void>>();
  auto generating = started->get_future();
  auto s = serve_slow(2, 10, 1, started);
  auto fut = std::async(std::launch::async,
                        [&] { return post(*s, "/v1/completions", completion("slow", 400)); });
  // Stop only once the request is generating (a request not yet connected gets no answer at
  // all): the ring's first forward pass says so.
  ASSERT_EQ(generating.wait_for(std::chrono::seconds(20)), std::future_status::ready)
      << "the request never started";
  const auto t0 = std::chrono::steady_clock::now();
  s->http->stop();
  Reply r = fut.get();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  EXPECT_EQ(r.status, 503) << r.body;
}

}  // namespace
}  // namespace ll::server::testing
