#include "runtime/throttle.h"

#include <time.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>

namespace ll::runtime {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void sleep_until_s(double t) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(std::floor(t));
  ts.tv_nsec = static_cast<long>((t - std::floor(t)) * 1e9);
  // steady_clock is CLOCK_MONOTONIC on Linux; an absolute deadline survives EINTR.
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace

Throttle::Throttle(double speed, std::vector<SpeedStep> schedule)
    : speed_(speed), schedule_(std::move(schedule)) {}

Status Throttle::validate(double speed, const std::vector<SpeedStep>& schedule,
                          const std::string& what) {
  if (!(speed > 0 && speed <= 1))
    return invalid_argument(what + ".speed: must be in (0, 1], got " + std::to_string(speed));
  double prev = -1;
  for (size_t i = 0; i < schedule.size(); ++i) {
    const std::string f = what + ".speed_schedule[" + std::to_string(i) + "]";
    if (!(schedule[i].speed > 0 && schedule[i].speed <= 1))
      return invalid_argument(f + ".speed: must be in (0, 1]");
    if (!(schedule[i].at_s >= 0) || schedule[i].at_s <= prev)
      return invalid_argument(f + ".at_s: must be >= 0 and increasing");
    prev = schedule[i].at_s;
  }
  return Status::ok();
}

Result<std::vector<SpeedStep>> parse_speed_schedule(const std::string& text) {
  std::vector<SpeedStep> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    SpeedStep st;
    char extra;
    if (std::sscanf(item.c_str(), "%lf:%lf%c", &st.at_s, &st.speed, &extra) != 2)
      return invalid_argument("speed schedule: expected at_s:speed, got \"" + item + "\"");
    out.push_back(st);
    pos = end + 1;
  }
  LL_RETURN_IF_ERROR(Throttle::validate(1, out, "speed schedule"));
  return out;
}

void Throttle::start_schedule() {
  if (schedule_t0_ < 0) schedule_t0_ = now_s();
}

double Throttle::speed_now() const {
  double s = speed_;
  if (schedule_t0_ < 0) return s;
  const double t = now_s() - schedule_t0_;
  for (const SpeedStep& st : schedule_) {
    if (st.at_s <= t) s = st.speed;
  }
  return s;
}

double Throttle::pay(double work_s, double wall_s) {
  const double s = speed_now();
  if (s >= 1 || !(work_s > 0)) return 0;
  // A pass that already took longer than the device would (it waited for a core) owes
  // nothing, and is not credited: the device is not made faster afterwards.
  const double owed = work_s / s - wall_s;
  if (owed <= 0) return 0;
  const double want = owed - credit_s_;
  if (want <= 0) {
    credit_s_ = -want;
    return 0;
  }
  const double t0 = now_s();
  sleep_until_s(t0 + want);
  const double slept = now_s() - t0;
  credit_s_ = slept - want;
  return slept;
}

void ThrottledOutbox::settle() {
  throttle_->start_schedule();
  const double busy = node_->busy_s(), work = node_->work_s();
  if (busy > last_busy_s_)
    throttle_->add_pass_payment(throttle_->pay(work - last_work_s_, busy - last_busy_s_));
  last_busy_s_ = busy;
  last_work_s_ = work;
}

Status ThrottledOutbox::send_tensors(int to, uint32_t step, const graph::Batch& batch,
                                     std::vector<std::pair<int, std::vector<float>>> tensors) {
  settle();
  return inner_->send_tensors(to, step, batch, std::move(tensors));
}

Status ThrottledOutbox::send_token(int32_t seq, uint32_t step, int32_t token, uint64_t rng_state) {
  settle();
  return inner_->send_token(seq, step, token, rng_state);
}

Status ThrottledOutbox::send_scores(int32_t seq, uint32_t step, std::vector<double> log_probs) {
  settle();
  return inner_->send_scores(seq, step, std::move(log_probs));
}

}  // namespace ll::runtime
