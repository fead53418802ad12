// Issue 6 acceptance, end to end with the real binary on loopback: `run` over 1..4 workers
// gives tokens bit-identical to single-device `generate`, greedy and seeded; cached weights are
// not sent again; a second run reuses the workers; a wrong cluster key is refused clearly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "process.h"
#include "shared_dir.h"
#include "temp_dir.h"

namespace ll::testing {
namespace {

namespace fs = std::filesystem;

std::string tmp(const std::string& name) {
  return temp_path(name);
}

nlohmann::json run_json(const std::vector<std::string>& args) {
  std::string out, err;
  const int rc = run_binary(args, &out, &err);
  EXPECT_EQ(rc, 0) << err;
  auto j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << out << err;
  return j;
}

std::string synth_model() {
  const std::string path = tmp("synth_q8.gguf");
  if (!fs::exists(path)) {
    std::string out;
    EXPECT_EQ(run_binary({"synth", "--preset", "tiny", "--type", "Q8_0", "-o", path}, &out), 0);
  }
  return path;
}

struct Workers {
  std::unique_ptr<runtime::LocalCluster> cluster;
  std::string key;
  Workers(int n, const std::string& tag) {
    key = tmp(tag + ".key");
    std::string out;
    if (!fs::exists(key)) EXPECT_EQ(run_binary({"keygen", "-o", key}, &out), 0);
    cluster = start_workers(n, tag, key, [&](int i) {
      return std::vector<std::string>{"--cache-dir", tmp(tag + "_cache_" + std::to_string(i))};
    });
  }
  std::string list(int n) const { return cluster ? cluster->address_list(n) : ""; }
};

void check_model(const std::string& model, const std::string& prompt_ids,
                 const std::vector<std::string>& cuts_by_n) {
  Workers w(4, fs::path(model).stem().string());
  for (const char* temp : {"0", "0.8"}) {
    auto want = run_json({"generate", "-m", model, "--prompt-ids", prompt_ids, "-n", "24", "--temp",
                          temp, "--seed", "7", "--json"});
    for (int n = 1; n <= 4; ++n) {
      std::vector<std::string> args = {
          "run", "-m",           model,      "--workers", w.list(n),     "--key",
          w.key, "--prompt-ids", prompt_ids, "-n",        "24",          "--temp",
          temp,  "--seed",       "7",        "--json",    "--cache-dir", tmp("head_cache")};
      // Fixed cuts put segment boundaries inside layers (residual edges cross several devices).
      if (!cuts_by_n[n - 1].empty()) args.insert(args.end(), {"--cuts", cuts_by_n[n - 1]});
      auto got = run_json(args);
      EXPECT_EQ(got["tokens"], want["tokens"])
          << model << " with " << n << " workers, temp " << temp;
      EXPECT_EQ(got["prompt_tokens"], want["prompt_tokens"]);
    }
  }
}

TEST(Distributed, Stories260KMatchesGenerate) {
  LL_REQUIRE_SHARED("models/stories260K.gguf");
  // stories260K: 84 ops; op 5 is inside layer 0's attention (q, k, v and the residual cross).
  check_model(shared_path("models/stories260K.gguf"), "1,403,407",
              {"5", "5,40", "5,23,61", "3,20,44,70"});
}

TEST(Distributed, TinyStories656KQ8MatchesGenerate) {
  LL_REQUIRE_SHARED("models/TinyStories-656K-Q8_0.gguf");
  check_model(shared_path("models/TinyStories-656K-Q8_0.gguf"), "1", {"", "7,20", "", "2,7,12,30"});
}

TEST(Distributed, SyntheticMatchesGenerate) {
  check_model(synth_model(), "1,5,9", {"", "", "6,18,27", ""});
}

TEST(Distributed, RestartedWorkerReceivesNoWeightsAgain) {
  const std::string model = synth_model();
  auto args = [&](const Workers& w) {
    return std::vector<std::string>{
        "run", "-m",           model,    "--workers", w.list(2),     "--key",
        w.key, "--prompt-ids", "1,2",    "-n",        "4",           "--temp",
        "0",   "--json",       "--cuts", "10,20",     "--cache-dir", tmp("head_cache")};
  };
  // Fresh cache dirs for this test's workers.
  for (int i = 0; i < 2; ++i) fs::remove_all(tmp("restart_cache_" + std::to_string(i)));
  uint64_t first;
  {
    Workers w(2, "restart");
    auto j = run_json(args(w));
    first = j["weight_bytes_sent"].get<uint64_t>();
    EXPECT_GT(first, 0u);
    // A second run against the same workers works without restarting them.
    auto again = run_json(args(w));
    EXPECT_EQ(again["tokens"], j["tokens"]);
    EXPECT_EQ(again["weight_bytes_sent"].get<uint64_t>(), 0u);
  }
  Workers w(2, "restart");  // same names -> same cache dirs
  auto j = run_json(args(w));
  EXPECT_EQ(j["weight_bytes_sent"].get<uint64_t>(), 0u) << "first run sent " << first;
}

TEST(Distributed, WrongClusterKeyIsRefusedOnBothSides) {
  const std::string model = synth_model();
  Workers w(1, "keyA");
  const std::string other = tmp("keyB.key");
  std::string out, err;
  if (!fs::exists(other)) ASSERT_EQ(run_binary({"keygen", "-o", other}, &out), 0);
  const int rc = run_binary({"run", "-m", model, "--workers", w.list(1), "--key", other,
                             "--prompt-ids", "1", "-n", "2", "--json"},
                            &out, &err);
  EXPECT_NE(rc, 0);
  EXPECT_NE(err.find("cluster key"), std::string::npos) << err;
  // The worker's I/O thread logs the refusal right after answering the handshake the head saw
  // fail; once the worker has stopped (that thread joined) the line is in its log.
  ASSERT_TRUE(w.cluster);
  w.cluster->worker(0).terminate();
  const std::string wlog = w.cluster->worker(0).log();
  EXPECT_NE(wlog.find("cluster key"), std::string::npos) << wlog;
}

std::string write_spec(const std::string& name, const std::string& json) {
  const std::string path = tmp(name);
  std::ofstream(path) << json;
  return path;
}

TEST(Cluster, EvenPlacementNamesDevicesBySpecName) {
  const std::string model = synth_model();
  const std::string spec = write_spec("abc.json", R"({
    "head": {"name": "alpha", "latency_ms": 1, "latency_p95_ms": 3},
    "workers": [{"name": "beta", "speed": 0.5}, {"name": "gamma", "bandwidth": "1Gbit/s"}]})");
  auto want = run_json(
      {"generate", "-m", model, "--prompt-ids", "1,5,9", "-n", "8", "--temp", "0", "--json"});
  auto got =
      run_json({"cluster", "--device-spec", spec, "-m", model, "--prompt-ids", "1,5,9", "-n", "8",
                "--temp", "0", "--json", "--placement", "even", "--cache-dir", tmp("abc_cache")});
  EXPECT_EQ(got["tokens"], want["tokens"]);
  // even: every device, in spec order, each named as the spec names it.
  ASSERT_EQ(got["devices"].size(), 3u) << got.dump();
  EXPECT_EQ(got["devices"][0]["name"], "alpha");
  EXPECT_EQ(got["devices"][1]["name"], "beta");
  EXPECT_EQ(got["devices"][2]["name"], "gamma");
  EXPECT_EQ(got["plan"]["plan"]["devices"][0]["name"], "alpha");
  EXPECT_TRUE(got["plan"]["baselines"]["even"]["devices"][1]["name"] == "beta");
}

TEST(Cluster, SpecErrorsNameTheField) {
  const std::string model = synth_model();
  auto err_of = [&](const std::string& name, const std::string& json) {
    std::string out, err;
    EXPECT_NE(run_binary({"cluster", "--device-spec", write_spec(name, json), "-m", model,
                          "--prompt-ids", "1", "-n", "1"},
                         &out, &err),
              0);
    return err;
  };
  const std::string cpu = err_of("cpu.json", R"({"workers": [{"name": "w", "cpu_share": 0.5}]})");
  EXPECT_NE(cpu.find("workers[0].cpu_share: was removed: use \"speed\""), std::string::npos) << cpu;
  const std::string speed = err_of("speed.json", R"({"workers": [{"name": "w", "speed": 0}]})");
  EXPECT_NE(speed.find("workers[0].speed: must be in (0, 1]"), std::string::npos) << speed;
  const std::string typo = err_of("typo.json", R"({"workers": [{"name": "w", "sped": 0.5}]})");
  EXPECT_NE(typo.find("workers[0]: unknown field \"sped\""), std::string::npos) << typo;
}

}  // namespace
}  // namespace ll::testing
