#pragma once
// Benchmarks that measure in a fresh process (memory from zero, or a different environment) run a child `arrakis`
// command and read the JSON object it prints last.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace arrakis {

/// Runs `command` (argv) with `environment` assignments ("NAME=value") added; returns the last line of its output
/// that is a JSON object. arrakis::Error naming `what`, with the child's output, when it fails.
nlohmann::json run_child_for_json(const std::vector<std::string>& command, const std::vector<std::string>& environment,
                                  const std::string& what);

}  // namespace arrakis
