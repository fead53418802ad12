// Subcommand registry: each tools/cmd_*.cpp registers itself, so main.cpp stays thin and
// adding a subcommand touches one file.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace ll::tools {

// setup() adds options to the subcommand and returns the function that runs it (exit code).
using CommandSetup = std::function<std::function<int()>(CLI::App& sub)>;

bool register_command(const std::string& name, const std::string& description, CommandSetup setup);

}  // namespace ll::tools
