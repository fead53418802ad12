// How the runtime pipelines a layout with several streams, and what that yields: the
// scheduler's waves (runtime/scheduler.h), each pass's time, and tokens/s from a seeded
// simulation of the waves circling the ring over links with their latency tails.
#pragma once

#include <vector>

#include "plan/cost.h"

namespace ll::plan {

// Decode rows of each wave in flight with n_seqs streams, as the scheduler forms them
// (runtime/scheduler.h): one wave per device at most, ceil(n_seqs / devices) rows at most, and
// the shapes the prompts' waves leave (8 streams on 3 devices: 3, 3, 2; 4 on 3: 2, 1, 1).
std::vector<int> wave_rows(const Evaluation& ev, int n_seqs);
// Mean decode rows a pass carries with n_seqs streams (at least 1).
double rows_per_pass(const Evaluation& ev, int n_seqs);
// Seconds one pass of `rows` decode rows takes on device d of the evaluated assignment (the
// first row reads the weights; a row beyond it costs only the kernels' extra work).
double pass_s(const CostModel& cost, const Evaluation& ev, int d, double rows);

// Tokens/s of n_seqs concurrent streams. One stream: 1 / latency. Several: the waves are
// simulated around the ring (each device and each device's uplink first in, first out; a
// pass's messages delayed by one draw from the links' latency tails, seeded per device), since
// near the point where the ring's round trip and its slowest stage bound it equally, latency
// jitter alone costs 20 %. NaN when a pass or a hop takes forever.
double tok_s_at_n_seqs(const CostModel& cost, const Evaluation& ev, int n_seqs);

}  // namespace ll::plan
