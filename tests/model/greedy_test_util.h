// Greedy runs of a model file for the tests that compare re-encoded models with their source
// (derived_test, kquant_model_test): tokens and the logits of every step.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/engine.h"
#include "model/generate.h"

namespace ll::model::testing {

struct GreedyRun {
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> logits;  // [step][n_vocab]
};

// n greedy steps from BOS; teacher-forced on `forced` when given, so logits compare position by
// position with the run that chose those tokens. Empty when the model does not load.
inline GreedyRun greedy(const std::string& path, int n,
                        const std::vector<int32_t>* forced = nullptr) {
  auto m = Model::load(path);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  if (!m.is_ok()) return {};
  auto e = Engine::create(**m, 1, n + 2);
  EXPECT_TRUE(e.is_ok()) << e.status().to_string();
  if (!e.is_ok()) return {};
  GreedyRun r;
  auto logits = (*e)->eval(graph::Batch::prompt({1}, 0));
  for (int i = 0; i < n; ++i) {
    r.logits.push_back(*logits);
    r.tokens.push_back(Sampler::argmax(logits->data(), (*e)->n_vocab()));
    const int32_t next = forced ? (*forced)[i] : r.tokens.back();
    logits = (*e)->eval(graph::Batch::prompt({next}, i + 1));
  }
  return r;
}

// How many leading tokens two runs share.
inline int greedy_agreement(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return static_cast<int>(i);
}

}  // namespace ll::model::testing
