// Human units and the devices file: values, defaults and error messages.
#include <gtest/gtest.h>

#include <filesystem>

#include "plan/devices_file.h"
#include "plan/profile_json.h"
#include "plan/units.h"

namespace ll::plan {
namespace {

TEST(PlanUnits, ParsesSizesRatesAndDurations) {
  EXPECT_DOUBLE_EQ(*parse_size("1.5GiB"), 1.5 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(*parse_size("512 MiB"), 512.0 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(*parse_size("2GB"), 2e9);
  EXPECT_DOUBLE_EQ(*parse_size("1000"), 1000);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("100Mbit/s"), 12.5e6);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("1Gbps"), 125e6);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("10GB/s"), 1e10);
  EXPECT_DOUBLE_EQ(*parse_flop_rate("50GFLOP/s"), 50e9);
  EXPECT_DOUBLE_EQ(*parse_flop_rate("1.5 TFLOPS"), 1.5e12);
  EXPECT_DOUBLE_EQ(*parse_duration("5ms"), 5e-3);
  EXPECT_DOUBLE_EQ(*parse_duration("200us"), 200e-6);
  EXPECT_DOUBLE_EQ(*parse_duration("1s"), 1);
}

TEST(PlanUnits, RejectsJunk) {
  for (const char* bad : {"abc", "", "-1GiB", "5 parsecs", "GiB", "1e999GiB", "2 Gib "}) {
    EXPECT_FALSE(parse_size(bad).is_ok()) << bad;
  }
  auto r = parse_size("abc");
  EXPECT_EQ(r.status().message(), "expected size like \"2GiB\", got \"abc\"");
  EXPECT_FALSE(parse_bandwidth("100 Mbit").is_ok());
  EXPECT_FALSE(parse_duration("5 minutes").is_ok());
}

TEST(PlanUnits, FormatsForPeople) {
  EXPECT_EQ(format_bytes(1.5 * 1024 * 1024 * 1024), "1.50 GiB");
  EXPECT_EQ(format_bytes(600.0 * 1024 * 1024), "600.0 MiB");
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bandwidth(12.5e6), "100.0 Mbit/s");
  EXPECT_EQ(format_ms(0.0123), "12.3 ms");
}

std::string example(const std::string& name) {
  return std::string(LL_SOURCE_DIR) + "/examples/devices/" + name;
}

TEST(PlanDevicesFile, EveryExampleLoads) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(example(""))) {
    if (e.path().extension() != ".json") continue;
    auto f = load_devices_file(e.path().string());
    EXPECT_TRUE(f.is_ok()) << e.path() << ": " << f.status().to_string();
    ++n;
  }
  EXPECT_GE(n, 4);
}

TEST(PlanDevicesFile, Hetero3Values) {
  auto f = load_devices_file(example("hetero3.json"));
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  const Cluster& c = f->cluster;
  ASSERT_EQ(c.devices.size(), 3u);
  EXPECT_EQ(c.head_index(), 0);
  EXPECT_EQ(c.devices[1].name, "desktop");
  EXPECT_DOUBLE_EQ(c.devices[1].decode_bytes_per_s.get(DType::kQ8_0), 40e9);
  EXPECT_DOUBLE_EQ(c.devices[0].decode_bytes_per_s.get(DType::kQ4_0), 10e9);
  EXPECT_DOUBLE_EQ(c.devices[1].mem_budget_bytes, 6.0 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(c.devices[1].per_segment_overhead_s, 25e-6);
  EXPECT_DOUBLE_EQ(c.links[2][1].bandwidth_bytes_per_s, 125e6);
  EXPECT_DOUBLE_EQ(c.links[2][1].latency_s_median, 0.5e-3);
  EXPECT_DOUBLE_EQ(c.links[2][1].latency_s_p95, 1.5e-3);
  ASSERT_TRUE(f->run.has_value());
  EXPECT_EQ(f->run->ctx, 2048);
}

TEST(PlanDevicesFile, PerTypeRatesAndSymmetricLinks) {
  auto f = load_devices_file(example("phones3.json"));
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  const DeviceProfile& top = f->cluster.devices[0];
  EXPECT_DOUBLE_EQ(top.decode_bytes_per_s.get(DType::kQ4_0), 24e9);
  EXPECT_DOUBLE_EQ(top.decode_bytes_per_s.get(DType::kBF16), 0);  // no default given
  EXPECT_DOUBLE_EQ(top.prefill_flops_per_s.get(DType::kF16), 60e9);
  EXPECT_DOUBLE_EQ(top.per_segment_overhead_s, 80e-6);
  // One-way links: each phone's uplink.
  EXPECT_DOUBLE_EQ(f->cluster.links[2][1].bandwidth_bytes_per_s, 50e6 / 8);
  EXPECT_DOUBLE_EQ(f->cluster.links[2][1].latency_s_p95, 25e-3);
  EXPECT_DOUBLE_EQ(f->cluster.links[1][2].bandwidth_bytes_per_s, 100e6 / 8);
  EXPECT_DOUBLE_EQ(f->cluster.links[1][2].latency_s_median, 5e-3);
}

std::string err(const std::string& json) {
  auto f = parse_devices_json(json);
  return f.is_ok() ? "" : f.status().message();
}

const char* kTwo =
    R"("devices": [{"name": "a", "mem_budget": "1GiB", "decode_gbps": 1},
                   {"name": "b", "mem_budget": "1GiB", "decode_gbps": 1}])";

TEST(PlanDevicesFile, ErrorsNameTheField) {
  std::string three = R"({"default_link": {"latency_ms": 1, "bandwidth": "1Gbit/s"},
    "devices": [{"name": "a", "mem_budget": "1GiB", "decode_gbps": 1},
                {"name": "b", "mem_budget": "1GiB", "decode_gbps": 1},
                {"name": "c", "mem_budget": "abc", "decode_gbps": 1}]})";
  EXPECT_EQ(err(three), "devices[2].mem_budget: expected size like \"2GiB\", got \"abc\"");
  EXPECT_EQ(err(std::string("{") + kTwo + "}"), "links: no link from a to b and no default_link");
  EXPECT_EQ(err(R"({"devices": [{"name": "a", "mem_budgt": "1GiB"}]})"),
            "devices[0]: unknown field \"mem_budgt\"");
  EXPECT_EQ(err(R"({"devices": [{"name": "a", "mem_budget": "1GiB"}]})"),
            "devices[0]: missing decode rate (\"decode\": \"10GB/s\" or \"decode_gbps\": 10)");
  EXPECT_EQ(err(R"({"devices": [{"name": "a", "mem_budget": 5, "decode": {"IQ2_XS": 1}}]})"),
            "devices[0].decode: unknown type \"IQ2_XS\" (use " +
                std::string(supported_type_names()) + " or default)");
  EXPECT_EQ(err(R"({"devices": [{"name": "a", "mem_budget": 5, "decode": 1, "decode_gbps": 1}]})"),
            "devices[0]: give either decode or decode_gbps, not both");
  EXPECT_EQ(err(std::string("{") + kTwo +
                R"(, "links": [{"from": "a", "to": "x", "latency_ms": 1, "bandwidth": 1}]})"),
            "links[0].to: no device named \"x\"");
  EXPECT_EQ(err(std::string("{") + kTwo +
                R"(, "links": [{"from": "a", "to": "b", "latency_ms": 1,
                                "bandwidth": "fast"}]})"),
            "links[0].bandwidth: expected bandwidth like \"100Mbit/s\", got \"fast\"");
  EXPECT_EQ(err(std::string("{") + kTwo + R"(, "default_link": {"latency_ms": 1, "bandwidth": 1},
                "run": {"n_seqs": 0}})"),
            "run.n_seqs: expected an integer >= 1");
  EXPECT_NE(err(R"({"devices": [)").find("not valid JSON"), std::string::npos);
}

TEST(PlanDevicesFile, OneWayLinksAndDefaults) {
  std::string j = std::string("{") + kTwo + R"(,
    "default_link": {"latency": "2ms", "latency_p95": "6ms", "bandwidth": "100Mbit/s"},
    "links": [{"from": "b", "to": "a", "symmetric": false, "bandwidth_mbps": 8}]})";
  auto f = parse_devices_json(j);
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  const auto& l = f->cluster.links;
  EXPECT_DOUBLE_EQ(l[1][0].bandwidth_bytes_per_s, 1e6);
  EXPECT_DOUBLE_EQ(l[1][0].latency_s_median, 2e-3);  // kept from default_link
  EXPECT_DOUBLE_EQ(l[0][1].bandwidth_bytes_per_s, 12.5e6);
  EXPECT_DOUBLE_EQ(l[0][1].latency_s_p95, 6e-3);
  EXPECT_EQ(f->cluster.head_index(), 0);
  EXPECT_FALSE(f->run.has_value());
}

TEST(PlanDevicesFile, MissingFileIsNotFound) {
  auto f = load_devices_file("/nonexistent/devices.json");
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
}

TEST(PlanProfileJson, RoundTripsAProfile) {
  DeviceProfile p;
  p.name = "phone";
  p.arch = "arm64-dotprod";
  p.threads = 4;
  p.mem_budget_bytes = 3.5e9;
  p.head = true;
  p.decode_bytes_per_s.by_type[DType::kQ8_0] = 1.25e10;
  p.decode_bytes_per_s.fallback = 3e9;
  p.prefill_flops_per_s.by_type[DType::kQ4_0] = 7.5e10;
  p.decode_large_bytes_per_s.by_type[DType::kQ8_0] = 9e9;
  p.other_flops_per_s = 2.5e9;
  p.per_segment_overhead_s = 21e-6;
  const nlohmann::json j = device_profile_to_json(p);
  auto back = device_profile_from_text(j.dump(), "cache");
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(device_profile_to_json(*back), j);
  EXPECT_EQ(back->name, "phone");
  EXPECT_TRUE(back->head);
  EXPECT_EQ(back->threads, 4);
  EXPECT_DOUBLE_EQ(back->decode_bytes_per_s.get(DType::kQ8_0), 1.25e10);
  EXPECT_DOUBLE_EQ(back->decode_bytes_per_s.get(DType::kF16), 3e9);  // the fallback
  EXPECT_DOUBLE_EQ(back->decode_large_bytes_per_s.get(DType::kQ8_0), 9e9);
  EXPECT_DOUBLE_EQ(back->prefill_flops_per_s.get(DType::kQ4_0), 7.5e10);
  EXPECT_DOUBLE_EQ(back->per_segment_overhead_s, 21e-6);
}

TEST(PlanProfileJson, ErrorsNameTheField) {
  auto err = [](const std::string& text) {
    auto r = device_profile_from_text(text, "profile of w1");
    return r.is_ok() ? std::string() : r.status().message();
  };
  // Used to dereference an unchecked dtype_from_name in the profile cache reader.
  EXPECT_EQ(err(R"({"name": "w", "mem_budget": 5, "decode": {"Q9_9": 1}})"),
            "profile of w1.decode: unknown type \"Q9_9\" (use " +
                std::string(supported_type_names()) + " or default)");
  EXPECT_EQ(err(R"({"name": "w", "decode": 1})"),
            "profile of w1.mem_budget: missing (e.g. \"2GiB\")");
  EXPECT_EQ(err(R"({"name": 3, "mem_budget": 5, "decode": 1})"),
            "profile of w1.name: expected a string");
  EXPECT_EQ(err(R"({"name": "w", "mem_budget": 5, "decode": 1, "threads": 0})"),
            "profile of w1.threads: expected an integer >= 1");
  EXPECT_EQ(err(R"({"name": "w", "mem_budget": 5, "decode": "fast"})"),
            "profile of w1.decode: expected bandwidth like \"100Mbit/s\", got \"fast\"");
  EXPECT_EQ(err("[1]"), "profile of w1: expected an object");
  EXPECT_NE(err("{").find("not valid JSON"), std::string::npos);
}

}  // namespace
}  // namespace ll::plan
