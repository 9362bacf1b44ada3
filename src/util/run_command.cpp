#include "util/run_command.hpp"

#include <sys/wait.h>

#include <cstdio>

namespace arrakis {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CommandOutput run_command(const std::vector<std::string>& command, const std::vector<std::string>& environment,
                          bool merge_stderr) {
  std::string line;
  if (!environment.empty()) line = "env ";
  for (const auto& assignment : environment) line += shell_quote(assignment) + " ";
  for (const auto& arg : command) line += shell_quote(arg) + " ";
  line += merge_stderr ? "2>&1" : "2>/dev/null";
  FILE* pipe = ::popen(line.c_str(), "r");
  if (!pipe) return {.status = -1, .output = {}};
  CommandOutput result;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.status = status == -1 ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return result;
}

}  // namespace arrakis
