// lingualinked: one binary, many subcommands (see tools/cmd_*.cpp).
#include <cstdio>
#include <map>
#include <memory>

#include "command.h"

namespace ll::tools {
namespace {
struct Entry {
  std::string description;
  CommandSetup setup;
};
std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r;
  return r;
}
}  // namespace

bool register_command(const std::string& name, const std::string& description, CommandSetup setup) {
  registry()[name] = Entry{description, std::move(setup)};
  return true;
}
}  // namespace ll::tools

int main(int argc, char** argv) {
  CLI::App app{"LinguaLinked: one LLM across several small devices"};
  app.require_subcommand(1);
  std::map<CLI::App*, std::function<int()>> runners;
  for (auto& [name, entry] : ll::tools::registry()) {
    CLI::App* sub = app.add_subcommand(name, entry.description);
    runners[sub] = entry.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto& [sub, run] : runners) {
    if (sub->parsed()) return run();
  }
  return 1;
}
