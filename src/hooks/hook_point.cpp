#include "arrakis/hooks/hook_point.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

#include <memory>

#include "arrakis/error.hpp"

namespace arrakis {

NameFilter::NameFilter(std::vector<std::string> names) : names_(std::move(names)) {}

NameFilter::NameFilter(std::initializer_list<const char*> names) : names_(std::vector<std::string>{}) {
  for (const char* n : names) names_->emplace_back(n);
}

NameFilter::NameFilter(std::function<bool(const std::string&)> predicate) : predicate_(std::move(predicate)) {}

bool NameFilter::matches(const std::string& name) const {
  if (names_) {
    for (const auto& n : *names_)
      if (n == name) return true;
    return false;
  }
  return !predicate_ || predicate_(name);
}

namespace {

// Bounds on user patterns: no pattern can overflow the stack while compiling or matching, or match for ever
// (catastrophic backtracking such as '(.*.*)*X' gives up after the match budget).
constexpr std::size_t kMaxPatternLength = 4096;
constexpr uint32_t kMaxNestedGroups = 200;
constexpr uint32_t kMatchLimit = 1'000'000;  // backtracking steps per name
constexpr uint32_t kDepthLimit = 10'000;     // nested backtracking frames per name
constexpr uint32_t kHeapLimitKiB = 20'000;   // PCRE2's backtracking memory per name

std::string shown(const std::string& pattern) { return pattern.size() <= 80 ? pattern : pattern.substr(0, 77) + "..."; }

struct CompiledPattern {
  std::string pattern;
  std::shared_ptr<pcre2_code> code;
  std::shared_ptr<pcre2_match_context> limits;
};

}  // namespace

NameFilter names_matching(const std::string& pattern) {
  const auto invalid = [&](const std::string& why) {
    return Error(fmt::format("hook-name pattern '{}' is not a valid regular expression: {}", shown(pattern), why));
  };
  if (pattern.size() > kMaxPatternLength)
    throw invalid(fmt::format("it is {} characters long (at most {})", pattern.size(), kMaxPatternLength));
  std::unique_ptr<pcre2_compile_context, decltype(&pcre2_compile_context_free)> context(
      pcre2_compile_context_create(nullptr), &pcre2_compile_context_free);
  pcre2_set_parens_nest_limit(context.get(), kMaxNestedGroups);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0, &error, &offset, context.get());
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    throw invalid(fmt::format("{} at offset {}", reinterpret_cast<const char*>(message), offset));
  }
  CompiledPattern compiled{
      pattern, std::shared_ptr<pcre2_code>(code, &pcre2_code_free),
      std::shared_ptr<pcre2_match_context>(pcre2_match_context_create(nullptr), &pcre2_match_context_free)};
  pcre2_set_match_limit(compiled.limits.get(), kMatchLimit);
  pcre2_set_depth_limit(compiled.limits.get(), kDepthLimit);
  pcre2_set_heap_limit(compiled.limits.get(), kHeapLimitKiB);
  return NameFilter([compiled](const std::string& name) {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
        pcre2_match_data_create_from_pattern(compiled.code.get(), nullptr), &pcre2_match_data_free);
    const int rc = pcre2_match(compiled.code.get(), reinterpret_cast<PCRE2_SPTR>(name.data()), name.size(), 0, 0,
                               match.get(), compiled.limits.get());
    if (rc >= 0) return true;
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(rc, message, sizeof message);
    throw Error(
        fmt::format("hook-name pattern '{}' gave up matching '{}' ({}): it backtracks too much; write it "
                    "without nested repetition such as '(a+)*'",
                    shown(compiled.pattern), name, reinterpret_cast<const char*>(message)));
  });
}

}  // namespace arrakis
