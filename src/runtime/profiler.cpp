#include "runtime/profiler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/work_meter.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "kernels/packed.h"
#include "plan/profile_json.h"

namespace ll::runtime {

namespace {

// A measurement window ends on time or after this many rounds (a fake clock never moves).
constexpr int kMaxRounds = 100000;
// A slowed device's timed round lasts about as long as a forward pass, since it idles after
// each round as after each pass (what a round costs right after idling counts for as much).
constexpr double kThrottledRoundS = 0.015;

std::string arch_name() {
#if defined(__x86_64__)
  return std::string("x86_64-") + kernels::isa_name(kernels::best_isa());
#elif defined(__aarch64__)
  return std::string("arm64-") + kernels::isa_name(kernels::best_isa());
#else
  return "unknown";
#endif
}

// rows copies of row in type t: quantized once (the K-quant quantizers search for scales, and
// every type is measured), copied rows-1 times.
void fill_rows(DType t, const std::vector<float>& row, uint8_t* w, int64_t rows) {
  const int64_t cols = static_cast<int64_t>(row.size());
  const size_t rb = row_bytes(t, cols);
  kernels::quantize_row(t, row.data(), w, cols);
  for (int64_t r = 1; r < rows; ++r) std::memcpy(w + rb * r, w, rb);
}

// `rows` copies of `row` in type t as the executor runs them. Quantized types are packed from
// one block of rows used again and again (the rows are all equal), so a probe's matrix is never
// held unpacked as well; other types are held whole.
struct Product {
  static constexpr int64_t kBlockRows = 1024;
  Product(DType t, const std::vector<float>& row, int64_t rows)
      : t(t), rows(rows), cols(static_cast<int64_t>(row.size())) {
    const bool pack = kernels::packable(t, rows, cols);
    const int64_t held = pack ? std::min(rows, kBlockRows) : rows;
    w.resize(row_bytes(t, cols) * held);  // [held, cols] in type t
    fill_rows(t, row, w.data(), held);
    if (!pack) return;
    std::vector<kernels::PackedMatrix::Part> parts;
    for (int64_t r = 0; r < rows; r += held) parts.push_back({w.data(), std::min(held, rows - r)});
    packed = kernels::PackedMatrix::pack(t, parts, cols);
    std::vector<uint8_t>().swap(w);
  }
  void run(const float* x, int64_t batch, float* y, ThreadPool* pool) const {
    if (packed.n_rows() > 0) return packed.matmul(x, batch, y, pool);
    kernels::matmul(t, w.data(), rows, cols, x, batch, y, pool);
  }
  DType t;
  int64_t rows, cols;
  std::vector<uint8_t> w;
  kernels::PackedMatrix packed;
};

// The median of per-round rates: robust to a round preempted by another process (on a shared
// machine) and to the throttle's oversleep credit, which shortens the round after a long one
// (the best round, used before, was biased by exactly that credit).
double median_rate(std::vector<double> rates) {
  if (rates.empty()) return 0;
  std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
  return rates[rates.size() / 2];
}

// Runs `round` (work units per call) until the window closes; returns the median rate.
// The throttle is paid the round's work as this machine's idle cores would have done it
// (core/work_meter.h), as a forward pass pays it.
template <typename Fn>
double measure_rate(const Clock& clock, double seconds, Throttle* th, const ThreadPool* pool,
                    double work, Fn round) {
  std::vector<double> rates;
  // A slowed device idles 1/speed - 1 of the window: it gets as many rounds as a fast one.
  const double t_end = clock.now_s() + (th && th->active() ? seconds / th->speed_now() : seconds);
  do {
    const double t0 = clock.now_s();
    const WorkMeter meter(pool);
    int n = 0;
    do {
      round();
      ++n;
    } while (th && th->active() && meter.wall_s() < kThrottledRoundS);
    if (th) th->pay(meter.work_s(), meter.wall_s());
    const double dt = clock.now_s() - t0;
    if (dt > 0) rates.push_back(n * work / dt);
  } while (clock.now_s() < t_end && static_cast<int>(rates.size()) < kMaxRounds);
  return median_rate(std::move(rates));
}

// Work per second of [rows, cols] x `batch` products in type t (the weights synthetic, the
// same row repeated), `work` units per product.
double measure_product(const Clock& clock, DType t, int64_t rows, int64_t cols, int64_t batch,
                       double work, ThreadPool* pool, double seconds, Throttle* th) {
  std::vector<float> row(cols), x(cols * batch), y(rows * batch);
  for (int64_t i = 0; i < cols; ++i) row[i] = std::sin(0.01f * i);
  for (int64_t i = 0; i < cols * batch; ++i) x[i] = std::cos(0.003f * i);
  const Product product(t, row, rows);
  product.run(x.data(), batch, y.data(), pool);  // warm-up
  return measure_rate(clock, seconds, th, pool, work,
                      [&] { product.run(x.data(), batch, y.data(), pool); });
}

// Bytes/s of weights for passes of `batch` rows (1: a decode token; 4: the small batches of
// pipelined streams, whose rows share one read of the weights) over `working_set` bytes of
// weights: plan::kProbeWorkingSetBytes for `decode` and `decode4`, kLargeWorkingSetBytes for
// `decode_large`. A segment's weights are read from memory on every pass, but a server's L3
// keeps part of 128 MiB from one round to the next, as it does for a share of that size (this
// VM's EPYC, Q4_0, one thread: 32 MiB 36 GB/s, 64 MiB 27, 128 MiB 25-31); 256 MiB, like four
// matrices of 128 MiB taken in turn, reads 20, what a larger share gets.
double measure_decode(const Clock& clock, DType t, ThreadPool* pool, double seconds, Throttle* th,
                      int batch, double working_set = plan::kProbeWorkingSetBytes) {
  const int64_t cols = 2048;
  const int64_t rows =
      std::max<int64_t>(kernels::kPackRows, static_cast<int64_t>(working_set / row_bytes(t, cols)) /
                                                kernels::kPackRows * kernels::kPackRows);
  const double bytes = static_cast<double>(row_bytes(t, cols) * rows);
  return measure_product(clock, t, rows, cols, batch, bytes, pool, seconds, th);
}

// The large working set is measured for packed types only (the others would be held whole).
bool has_large_probe(DType t) {
  return kernels::packable(t, kernels::kPackRows, 2048);
}

// Matmul FLOP/s of a prompt-sized batch (compute-bound: the weights stay in the caches).
double measure_prefill(const Clock& clock, DType t, ThreadPool* pool, double seconds,
                       Throttle* th) {
  const int64_t cols = 1024, rows = 1024, batch = 64;
  return measure_product(clock, t, rows, cols, batch, 2.0 * rows * cols * batch, pool, seconds, th);
}

double measure_other(const Clock& clock, double seconds, Throttle* th) {
  const int n = 4096;
  std::vector<float> x(n), w(n, 1.0f), y(n);
  for (int i = 0; i < n; ++i) x[i] = std::sin(0.1f * i);
  // rms_norm ~4 FLOP/elem, silu ~6, add 1 (the same weights as graph/costs.cpp).
  return measure_rate(clock, seconds, th, nullptr, 64.0 * n * 11, [&] {
    for (int k = 0; k < 64; ++k) {
      kernels::rms_norm(x.data(), w.data(), y.data(), n, 1e-5f);
      kernels::silu(y.data(), y.data(), n);
      kernels::add(x.data(), y.data(), y.data(), n);
    }
  });
}

// Profiles of an emulated slower device are its own ("-s0.300").
std::string speed_tag(const ProfileOptions& o) {
  if (!o.throttle || !(o.throttle->speed() < 1)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "-s%.3f", o.throttle->speed());
  return buf;
}

}  // namespace

double os_available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kb;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;
}

Result<plan::DeviceProfile> profile_device(const std::string& name, const ProfileOptions& o) {
  // The version changes whenever the kernels' speed does, so stale profiles are not reused
  // (2: packed Q8_0/Q4_0 weights; 3: plan/profile_json.h's schema; 4: rates for every type of
  // the traits table; 5: decode over 128 MiB and median rates; 6: 4-row decode rates; 7: packed
  // batches of 2-8 rows streamed and prefetched as decode is, much faster 4-row rates; 8: a
  // slowed device's rounds last ~15 ms and its window 1/speed as long; 9: decode rates over a
  // working set no cache keeps, plan::kLargeWorkingSetBytes).
  constexpr int kProfileVersion = 9;
  const std::string cache = o.cache_dir.empty()
                                ? ""
                                : o.cache_dir + "/profile-v" + std::to_string(kProfileVersion) +
                                      "-" + arch_name() + "-t" + std::to_string(o.threads) +
                                      speed_tag(o) + ".json";
  plan::DeviceProfile p;
  bool cached = false;
  if (!cache.empty() && std::filesystem::exists(cache)) {
    std::ifstream in(cache);
    std::stringstream text;
    text << in.rdbuf();
    auto r = plan::device_profile_from_text(text.str(), cache);
    if (r.is_ok()) {
      p = *r;
      cached = true;
    } else {
      LL_LOG_INFO("re-measuring: %s", r.status().message().c_str());
    }
  }
  std::vector<DType> types = o.types;
  if (types.empty()) {
    for (const TypeTraits& tt : all_types()) types.push_back(tt.type);
  }
  bool measured = false;
  ThreadPool pool(o.threads);
  // Only the rates a cached profile lacks are measured.
  auto missing = [&](const plan::RateTable& r, DType t) {
    const bool m = !r.by_type.count(t);
    measured = measured || m;
    return m;
  };
  for (DType t : types) {
    if (missing(p.decode_bytes_per_s, t)) {
      p.decode_bytes_per_s.by_type[t] =
          measure_decode(*o.clock, t, &pool, o.seconds_per_type, o.throttle, 1);
    }
    if (missing(p.decode4_bytes_per_s, t)) {
      p.decode4_bytes_per_s.by_type[t] =
          measure_decode(*o.clock, t, &pool, o.seconds_per_type / 2, o.throttle, 4);
    }
    if (missing(p.prefill_flops_per_s, t)) {
      p.prefill_flops_per_s.by_type[t] =
          measure_prefill(*o.clock, t, &pool, o.seconds_per_type / 2, o.throttle);
    }
    if (has_large_probe(t) && missing(p.decode_large_bytes_per_s, t)) {
      p.decode_large_bytes_per_s.by_type[t] = measure_decode(
          *o.clock, t, &pool, o.seconds_per_type, o.throttle, 1, plan::kLargeWorkingSetBytes);
    }
  }
  if (!cached) {
    p.arch = arch_name();
    p.threads = o.threads;
    p.other_flops_per_s = measure_other(*o.clock, o.seconds_per_type / 2, o.throttle);
    p.per_segment_overhead_s = 20e-6;  // dispatch of one forward pass through a segment
  }
  p.name = name;
  p.mem_budget_bytes = o.mem_budget_bytes > 0 ? o.mem_budget_bytes : os_available_memory() * 0.8;
  if (measured && !cache.empty()) {  // name and budget are cached too, and replaced on reading
    std::error_code ec;
    std::filesystem::create_directories(o.cache_dir, ec);
    std::ofstream out(cache);
    out << plan::device_profile_to_json(p).dump(2);
  }
  return p;
}

}  // namespace ll::runtime
