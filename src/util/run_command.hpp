#pragma once
// Running another program (Chromium for static figures, a child `arrakis` for fresh-process benchmarks).
#include <string>
#include <vector>

namespace arrakis {

struct CommandOutput {
  int status = 0;      // the exit status (0: success); -1 when it could not be started
  std::string output;  // its standard output (standard error when `merge_stderr`)
};

/// Runs `command` (argv; each argument quoted for the shell) with `environment` assignments ("NAME=value") added.
/// Its standard error is discarded unless `merge_stderr`.
CommandOutput run_command(const std::vector<std::string>& command, const std::vector<std::string>& environment = {},
                          bool merge_stderr = false);

/// `s` as one shell word.
std::string shell_quote(const std::string& s);

}  // namespace arrakis
