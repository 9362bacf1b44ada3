#include "benchmarks/child_process.hpp"

#include <fmt/format.h>

#include <sstream>

#include "arrakis/error.hpp"
#include "util/run_command.hpp"

namespace arrakis {

nlohmann::json run_child_for_json(const std::vector<std::string>& command, const std::vector<std::string>& environment,
                                  const std::string& what) {
  if (command.empty()) throw Error(fmt::format("{}: no child command to measure in", what));
  const auto child = run_command(command, environment, /*merge_stderr=*/true);
  std::string last;
  std::istringstream lines(child.output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line.front() == '{') last = line;
  if (child.status != 0 || last.empty())
    throw Error(fmt::format("{}: the child process failed (exit status {}): {}", what, child.status, child.output));
  auto json = nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) throw Error(fmt::format("{}: the child process printed no valid JSON: {}", what, last));
  return json;
}

}  // namespace arrakis
