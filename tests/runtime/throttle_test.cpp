// The emulated device speed: validation, schedules, and that a pass is never cheaper than
// 1/speed of its work (lower bounds only: how much longer a loaded machine takes is
// bench_emulator's business, not a unit test's).
#include <gtest/gtest.h>

#include <time.h>

#include <atomic>
#include <chrono>

#include "core/clock.h"
#include "core/work_meter.h"
#include "runtime/throttle.h"

namespace ll::runtime {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

TEST(Throttle, ValidatesSpeedAndSchedule) {
  EXPECT_TRUE(Throttle::validate(1, {}, "head").is_ok());
  EXPECT_TRUE(Throttle::validate(0.2, {{10, 0.3}, {20, 1}}, "head").is_ok());
  EXPECT_EQ(Throttle::validate(0, {}, "workers[1]").message(),
            "workers[1].speed: must be in (0, 1], got 0.000000");
  EXPECT_EQ(Throttle::validate(1.5, {}, "w").message(), "w.speed: must be in (0, 1], got 1.500000");
  EXPECT_EQ(Throttle::validate(1, {{10, 0.3}, {5, 1}}, "w").message(),
            "w.speed_schedule[1].at_s: must be >= 0 and increasing");
  EXPECT_EQ(Throttle::validate(1, {{10, 2}}, "w").message(),
            "w.speed_schedule[0].speed: must be in (0, 1]");
}

TEST(Throttle, ParsesScheduleText) {
  auto s = parse_speed_schedule("10:0.3,20.5:1");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  ASSERT_EQ(s->size(), 2u);
  EXPECT_DOUBLE_EQ((*s)[1].at_s, 20.5);
  EXPECT_DOUBLE_EQ((*s)[0].speed, 0.3);
  EXPECT_EQ(parse_speed_schedule("10:0.3,x").status().message(),
            "speed schedule: expected at_s:speed, got \"x\"");
  EXPECT_FALSE(parse_speed_schedule("10:0").is_ok());
}

TEST(Throttle, FullSpeedNeverWaits) {
  Throttle t;
  EXPECT_FALSE(t.active());
  EXPECT_EQ(t.pay(1.0, 1.0), 0);  // would be a second's sleep otherwise
}

TEST(Throttle, ScheduleStartsAtTheFirstPass) {
  Throttle t(0.5, {{0, 0.25}});
  EXPECT_TRUE(t.active());
  EXPECT_DOUBLE_EQ(t.speed_now(), 0.5);  // not started: the initial speed (the profiler's)
  t.start_schedule();
  EXPECT_DOUBLE_EQ(t.speed_now(), 0.25);
}

TEST(Throttle, APassCostsAtLeastItsWorkOverSpeed) {
  Throttle t(0.25, {});
  const double work = 0.002;
  const double t0 = now_s();
  double paid = 0;
  for (int i = 0; i < 20; ++i) paid += t.pay(work, work);
  // Idle time is measured: at least the 3x the work that a speed of 0.25 asks for.
  EXPECT_GE(paid, 20 * work * 3 * 0.999);
  EXPECT_GE(now_s() - t0, 20 * work * 3 * 0.999);
}

TEST(Throttle, AWaitForACoreIsNotMultiplied) {
  // 10 ms of work that took 50 ms of wall time (the process waited for a core): a device at
  // 0.25 would have taken 40 ms, so nothing is owed. Paying for the wall time instead would
  // idle 150 ms.
  Throttle t(0.25, {});
  EXPECT_EQ(t.pay(0.010, 0.050), 0);
  // Nor is the overrun credited: the next pass still costs its work over the speed.
  const double t0 = now_s();
  const double paid = t.pay(0.002, 0.002);
  EXPECT_GE(paid, 0.006 * 0.999);
  EXPECT_GE(now_s() - t0, 0.006 * 0.999);
}

TEST(Throttle, PartOfTheWaitCountsTowardsTheIdling) {
  // 10 ms of work in 20 ms of wall time at 0.25: 40 ms in all, so 20 ms more.
  Throttle t(0.25, {});
  const double paid = t.pay(0.010, 0.020);
  EXPECT_GE(paid, 0.020 * 0.999);
}

TEST(WorkMeter, WaitingIsNotWork) {
  // A thread that is off its core (here: asleep, as when another process holds the core)
  // does no work, while its wall time runs.
  ThreadPool pool(2);
  const WorkMeter m(&pool);
  timespec ts{0, 30'000'000};
  nanosleep(&ts, nullptr);
  EXPECT_GE(m.wall_s(), 0.030 * 0.999);
  EXPECT_LT(m.work_s(), 0.010);
}

TEST(WorkMeter, ComputingIsWorkAndNeverMoreThanTheWallTime) {
  ThreadPool pool(2);
  const WorkMeter m(&pool);
  std::atomic<double> sink{0};
  pool.parallel_for(2, [&](int64_t, int) {
    double x = 0;
    for (int i = 0; i < 20'000'000; ++i) x += 1e-9 * i;
    sink = sink + x;
  });
  EXPECT_GT(m.work_s(), 0);
  EXPECT_GT(pool.workers_cpu_s(), 0);  // the pool's own thread did its half
}

TEST(WorkMeter, SerialWorkOnTheCallerCountsInFull) {
  // Code outside the pool's sections runs on the caller alone: its CPU time is all work,
  // not a share of it over the pool's two threads.
  ThreadPool pool(2);
  const double cpu0 = thread_cpu_s();
  const WorkMeter m(&pool);
  volatile double x = 0;
  for (int i = 0; i < 30'000'000; ++i) x = x + 1e-9 * i;
  const double caller = thread_cpu_s() - cpu0;
  ASSERT_GT(caller, 0.001);
  EXPECT_GE(m.work_s(), 0.99 * caller - 1e-4);
}

TEST(Throttle, PassPaymentsAreCounted) {
  // The device's stage time is its compute plus what it idled for passes (not for profiling).
  Throttle t(0.5, {});
  t.add_pass_payment(t.pay(0.001, 0.001));
  const double paid = t.passes_paid_s();
  EXPECT_GE(paid, 0.001 * 0.999);
  t.pay(0.001, 0.001);  // e.g. the profiler's
  EXPECT_EQ(t.passes_paid_s(), paid);
}

}  // namespace
}  // namespace ll::runtime
