// A real trained model (../shared stories260K) through the server on an in-process ring: the
// greedy completion from BOS is the independent reference's token sequence, streamed or not.
#include <fstream>

#include "server/server_test_util.h"
#include "shared_dir.h"

namespace ll::server::testing {
namespace {

const char* kModel = "models/stories260K.gguf";

std::unique_ptr<TestServer> serve_stories(int cluster) {
  BackendOptions o;
  o.model_path = ::ll::testing::shared_path(kModel);
  o.cluster = cluster;
  o.max_seqs = 4;
  o.ctx = 256;
  auto b = make_backend(o);
  EXPECT_TRUE(b.is_ok()) << b.status().to_string();
  return serve(std::move(b).value());
}

TEST(ServerStories, GreedyFromBosMatchesTheReferenceStreamedOrNot) {
  LL_REQUIRE_SHARED(kModel);
  LL_REQUIRE_SHARED("models/reference/stories260K.greedy.json");
  std::ifstream f(::ll::testing::shared_path("models/reference/stories260K.greedy.json"));
  const json ref = json::parse(f);
  const auto ids = ref["greedy_ids"].get<std::vector<int32_t>>();
  auto s = serve_stories(3);
  const std::string want = s->backend->tokenizer->decode(ids);
  ASSERT_FALSE(want.empty());
  json req = {{"model", "stories260K"},
              {"prompt", json::array({ref["bos"].get<int>()})},
              {"max_tokens", ids.size()},
              {"temperature", 0}};
  Reply r = post(*s, "/v1/completions", req);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["choices"][0]["text"], want);
  EXPECT_EQ(r.j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r.j["usage"]["completion_tokens"], ids.size());
  req["stream"] = true;
  Reply sr = post(*s, "/v1/completions", req);
  SseResult sse = parse_sse(sr.body);
  EXPECT_TRUE(sse.done && sse.well_formed);
  EXPECT_EQ(sse_text(sse), want);
}

TEST(ServerStories, TextPromptAndChatProduceStories) {
  LL_REQUIRE_SHARED(kModel);
  auto s = serve_stories(2);
  Reply r = post(*s, "/v1/completions",
                 json{{"model", "stories260K"},
                      {"prompt", "Once upon a time"},
                      {"max_tokens", 20},
                      {"temperature", 0}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_GT(r.j["choices"][0]["text"].get<std::string>().size(), 20u);
  // No chat template in this file: the plain transcript is used, and it stops before "User:".
  Reply c =
      post(*s, "/v1/chat/completions",
           json{{"model", "stories260K"},
                {"messages", json::array({{{"role", "user"}, {"content", "Tell me a story."}}})},
                {"max_tokens", 40},
                {"temperature", 0}});
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(c.j["choices"][0]["message"]["content"].get<std::string>().find("\nUser:"),
            std::string::npos);
}

}  // namespace
}  // namespace ll::server::testing
