// Issue 7: 16 concurrent greedy requests to `serve` on 3 local worker processes each return
// exactly what the same prompt returns alone. A synthetic model is enough (any model's output
// depends on its prompt, so cross-talk between sequences shows), so no ../shared is needed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "process.h"
#include "runtime/child_process.h"
#include "temp_dir.h"

namespace ll::testing {
namespace {

struct Completion {
  std::string text;
  std::string error;  // empty when the response is a completion
};

Completion curl_completion(const std::string& url, const std::string& prompt) {
  nlohmann::json body = {{"prompt", prompt}, {"max_tokens", 20}, {"temperature", 0}};
  const std::string cmd = "curl -s -m 60 -H 'Content-Type: application/json' -d '" + body.dump() +
                          "' " + url + "/v1/completions";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {"", "popen failed"};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (rc != 0 || j.is_discarded() || j.contains("error") || !j.contains("choices") ||
      !j["choices"].is_array() || j["choices"].empty() || !j["choices"][0]["text"].is_string()) {
    return {"", "curl exit " + std::to_string(rc) + ", response: " + out};
  }
  return {j["choices"][0]["text"].get<std::string>(), ""};
}

TEST(ServeCluster, SixteenConcurrentRequestsOnThreeWorkersMatchAlone) {
  if (std::system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "curl not installed";
  const std::string model = temp_path("serve_synth.gguf");
  std::string out;
  ASSERT_EQ(run_binary({"synth", "--preset", "tiny", "--type", "Q8_0", "-o", model}, &out), 0);
  runtime::SpawnOptions so;
  so.log_file = temp_path("serve.log");
  const std::string ready = temp_path("serve.ready");
  // Fixed cuts: the ring has the head and all three workers whatever the profiles say.
  auto server = runtime::ChildProcess::spawn(
      binary(),
      {"lingualinked", "serve", "-m", model, "--n-devices", "4", "--cuts", "6,18,27", "--port", "0",
       "--max-seqs", "16", "--ctx", "128", "--cache-dir", temp_path("serve_cache"), "--ready-file",
       ready},
      so);
  ASSERT_TRUE(server.is_ok()) << server.status().to_string();
  runtime::ChildProcess& srv = **server;
  // The server's log explains most failures; the child is stopped by its destructor.
  struct LogOnFailure {
    runtime::ChildProcess& srv;
    ~LogOnFailure() {
      if (::testing::Test::HasFailure())
        std::fprintf(stderr, "server log:\n%s\n", srv.log().c_str());
    }
  } log_on_failure{srv};
  auto url = srv.wait_for_file(ready, 120);
  ASSERT_TRUE(url.is_ok()) << url.status().to_string();
  EXPECT_NE(srv.log().find("ring of 4 devices over ZeroMQ"), std::string::npos);

  std::vector<std::string> prompts;
  for (int i = 0; i < 16; ++i)
    prompts.push_back(std::vector<std::string>{"Once upon a time", "The cat", "Lily had a",
                                               "One day, Tom"}[i % 4] +
                      std::string(i / 4, '!'));
  std::vector<Completion> together(16);
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i)
    threads.emplace_back([&, i] { together[i] = curl_completion(*url, prompts[i]); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 16; ++i) {
    const Completion alone = curl_completion(*url, prompts[i]);
    EXPECT_EQ(together[i].error, "") << "request " << i << " (concurrent)";
    EXPECT_EQ(alone.error, "") << "request " << i << " (alone)";
    EXPECT_FALSE(alone.text.empty()) << "request " << i;
    EXPECT_EQ(together[i].text, alone.text) << "request " << i;
  }
  srv.terminate();
  EXPECT_EQ(srv.exit_code(), 0) << srv.exit_status().value_or("still running");
}

}  // namespace
}  // namespace ll::testing
