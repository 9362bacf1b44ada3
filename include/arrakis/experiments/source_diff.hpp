#pragma once
// Line diffs of experiment sources, in the unified format `diff -u` and `git diff` print.
#include <string>
#include <vector>

namespace arrakis {

enum class DiffOp { Same, Removed, Added };

struct DiffLine {
  DiffOp op;
  std::string text;
};

/// A shortest edit script from `before` to `after` (longest common subsequence of lines).
std::vector<DiffLine> diff_lines(const std::vector<std::string>& before, const std::vector<std::string>& after);

/// A unified diff of two texts (split on '\n') with `context` lines around each change and `---`/`+++` headers
/// naming them; empty when the texts are equal.
std::string unified_diff(const std::string& before, const std::string& after, const std::string& before_label,
                         const std::string& after_label, int context = 3);

}  // namespace arrakis
