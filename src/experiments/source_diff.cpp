#include "arrakis/experiments/source_diff.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

namespace arrakis {
namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// "start,count" as diff -u writes it: a count of one is left out, and an empty side is numbered by the line
// before it.
std::string hunk_range(long start, long count) {
  if (count == 1) return fmt::format("{}", start);
  return fmt::format("{},{}", count == 0 ? start - 1 : start, count);
}

}  // namespace

std::vector<DiffLine> diff_lines(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  // lcs[i][j] = length of the longest common subsequence of a[i:] and b[j:]. Sources are small (hundreds of lines),
  // so the quadratic table is cheap.
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> lcs(n + 1, std::vector<int>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;)
    for (std::size_t j = m; j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::vector<DiffLine> out;
  std::size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      out.push_back({DiffOp::Same, a[i++]});
      ++j;
    } else if (j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out.push_back({DiffOp::Added, b[j++]});
    } else {
      out.push_back({DiffOp::Removed, a[i++]});
    }
  }
  // Removals before additions within each changed run, as diff -u prints them.
  for (std::size_t k = 0; k < out.size();) {
    std::size_t e = k;
    while (e < out.size() && out[e].op != DiffOp::Same) ++e;
    std::stable_partition(out.begin() + static_cast<long>(k), out.begin() + static_cast<long>(e),
                          [](const DiffLine& d) { return d.op == DiffOp::Removed; });
    k = e == k ? k + 1 : e;
  }
  return out;
}

std::string unified_diff(const std::string& before, const std::string& after, const std::string& before_label,
                         const std::string& after_label, int context) {
  auto a = split_lines(before), b = split_lines(after);
  auto lines = diff_lines(a, b);
  if (std::all_of(lines.begin(), lines.end(), [](const DiffLine& d) { return d.op == DiffOp::Same; })) return {};

  std::string out = fmt::format("--- {}\n+++ {}\n", before_label, after_label);
  const long total = static_cast<long>(lines.size()), ctx = std::max(context, 0);
  long k = 0;
  while (k < total) {
    while (k < total && lines[k].op == DiffOp::Same) ++k;
    if (k == total) break;
    // A hunk: from ctx lines before this change to ctx lines after the last change within 2 * ctx of the previous.
    long start = std::max(0L, k - ctx), end = k;
    while (true) {
      while (end < total && lines[end].op != DiffOp::Same) ++end;
      long next = end;
      while (next < total && lines[next].op == DiffOp::Same) ++next;
      if (next < total && next - end <= 2 * ctx) {
        end = next;
        continue;
      }
      end = std::min(total, end + ctx);
      break;
    }
    // Line numbers (1-based) where the hunk starts in each text.
    long a_line = 1, b_line = 1;
    for (long q = 0; q < start; ++q) {
      if (lines[q].op != DiffOp::Added) ++a_line;
      if (lines[q].op != DiffOp::Removed) ++b_line;
    }
    long a_count = 0, b_count = 0;
    std::string body;
    for (long q = start; q < end; ++q) {
      char mark = lines[q].op == DiffOp::Same ? ' ' : lines[q].op == DiffOp::Removed ? '-' : '+';
      if (lines[q].op != DiffOp::Added) ++a_count;
      if (lines[q].op != DiffOp::Removed) ++b_count;
      body += mark + lines[q].text + "\n";
    }
    out += fmt::format("@@ -{} +{} @@\n", hunk_range(a_line, a_count), hunk_range(b_line, b_count));
    out += body;
    k = end;
  }
  return out;
}

}  // namespace arrakis
