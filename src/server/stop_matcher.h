// Stop strings on detokenized text. A stop string may span several tokens, so text that could
// still turn out to be the start of one is held back instead of being streamed to the client.
#pragma once

#include <string>
#include <vector>

namespace ll::server {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Appends generated text; returns what is now safe to send. After a stop string is found,
  // the text before it is returned, stopped() turns true and further pushes return "".
  std::string push(const std::string& text);
  // End of generation without a stop: everything held back.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace ll::server
