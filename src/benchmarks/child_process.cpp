#include "benchmarks/child_process.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <sstream>

#include "arrakis/error.hpp"

namespace arrakis {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

nlohmann::json run_child_for_json(const std::vector<std::string>& command, const std::vector<std::string>& environment,
                                  const std::string& what) {
  if (command.empty()) throw Error(fmt::format("{}: no child command to measure in", what));
  std::string line_to_run;
  for (const auto& assignment : environment) line_to_run += shell_quote(assignment) + " ";
  if (!environment.empty()) line_to_run = "env " + line_to_run;
  for (const auto& arg : command) line_to_run += shell_quote(arg) + " ";
  FILE* pipe = ::popen(line_to_run.c_str(), "r");
  if (!pipe) throw Error(fmt::format("{}: cannot start {}", what, line_to_run));
  std::string output, last;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = ::pclose(pipe);
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line.front() == '{') last = line;
  if (status != 0 || last.empty())
    throw Error(fmt::format("{}: the child process failed (exit status {}): {}", what, status, output));
  auto json = nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) throw Error(fmt::format("{}: the child process printed no valid JSON: {}", what, last));
  return json;
}

}  // namespace arrakis
