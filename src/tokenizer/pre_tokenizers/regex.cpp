#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pre_tokenizers/regex.hpp"

#include <fmt/format.h>
#include <pcre2.h>

#include <array>

#include "arrakis/error.hpp"
#include "tokenizer/utf8.hpp"

namespace arrakis::tok {

namespace {

std::string pcre2_message(int code) {
  std::array<PCRE2_UCHAR, 256> buffer{};
  pcre2_get_error_message(code, buffer.data(), buffer.size());
  return reinterpret_cast<const char*>(buffer.data());
}

// Match data and a JIT stack per thread, created once: matching must not allocate per call (encode runs once per
// text, often on millions of short texts), and the Tokenizer is shared between threads.
struct ThreadScratch {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;

  ThreadScratch() {
    // Only the whole match (pair 0) is read; with more groups pcre2_match returns 0 and still sets pair 0.
    data = pcre2_match_data_create(16, nullptr);
    context = pcre2_match_context_create(nullptr);
    // The default JIT stack is 32 KiB on the machine stack; allow long subjects to backtrack further.
    jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (!data || !context || !jit_stack) throw std::bad_alloc();
    pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~ThreadScratch() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
  ThreadScratch(const ThreadScratch&) = delete;
  ThreadScratch& operator=(const ThreadScratch&) = delete;
};

ThreadScratch& scratch() {
  thread_local ThreadScratch s;
  return s;
}

// Unicode's White_Space, which is what \s means in Python's regex module and Oniguruma (Hugging Face). PCRE2's
// \s with UCP also takes U+180E (Mongolian vowel separator, a format character since Unicode 6.3).
constexpr std::string_view kWhiteSpace =
    R"(\t-\r\x20\x85\xA0\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

// `pattern` with \s and \S spelled as White_Space classes (inside a class only \s can be, which is all tokenizer
// patterns use).
std::string with_white_space_classes(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 64);
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size();) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char escaped = pattern[i + 1];
      if (escaped == 's') {
        out += in_class ? std::string(kWhiteSpace) : fmt::format("[{}]", kWhiteSpace);
      } else if (escaped == 'S' && !in_class) {
        out += fmt::format("[^{}]", kWhiteSpace);
      } else if (escaped == 'Q') {  // \Q...\E is literal
        const std::size_t end = pattern.find("\\E", i + 2);
        const std::size_t stop = end == std::string_view::npos ? pattern.size() : end + 2;
        out += pattern.substr(i, stop - i);
        i = stop;
        continue;
      } else {
        out += pattern.substr(i, 2);
      }
      i += 2;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      ++i;
      if (i < pattern.size() && pattern[i] == '^') out += pattern[i++];
      if (i < pattern.size() && pattern[i] == ']') out += pattern[i++];  // a leading ] is a literal
      continue;
    }
    if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {  // [:alpha:]
      const std::size_t end = pattern.find(":]", i + 2);
      const std::size_t stop = end == std::string_view::npos ? pattern.size() : end + 2;
      out += pattern.substr(i, stop - i);
      i = stop;
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
    ++i;
  }
  return out;
}

}  // namespace

Regex::Regex(std::string_view pattern) : pattern_(pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  const std::string compiled = with_white_space_classes(pattern_);
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled.data()), compiled.size(),
                        PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error_code, &error_offset, nullptr);
  if (!code_)
    throw Error(fmt::format("regular expression \"{}\" does not compile at offset {}: {}", pattern_, error_offset,
                            pcre2_message(error_code)));
  // Without JIT (a build without it, or a pattern it cannot handle) the interpreter gives the same matches.
  jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() { pcre2_code_free(code_); }

Regex::Regex(Regex&& other) noexcept
    : pattern_(std::move(other.pattern_)), code_(std::exchange(other.code_, nullptr)), jit_(other.jit_) {}

Regex& Regex::operator=(Regex&& other) noexcept {
  if (this != &other) {
    pcre2_code_free(code_);
    pattern_ = std::move(other.pattern_);
    code_ = std::exchange(other.code_, nullptr);
    jit_ = other.jit_;
  }
  return *this;
}

std::optional<std::pair<std::size_t, std::size_t>> Regex::find(std::string_view text, std::size_t start) const {
  if (start > text.size()) return std::nullopt;
  ThreadScratch& s = scratch();
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const int rc = jit_ ? pcre2_jit_match(code_, subject, text.size(), start, 0, s.data, s.context)
                      : pcre2_match(code_, subject, text.size(), start, 0, s.data, s.context);
  if (rc == PCRE2_ERROR_NOMATCH) return std::nullopt;
  if (rc < 0)
    throw Error(fmt::format("regular expression \"{}\" failed on a text of {} bytes: {}", pattern_, text.size(),
                            pcre2_message(rc)));
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(s.data);
  return std::pair<std::size_t, std::size_t>{ovector[0], ovector[1]};
}

void Regex::for_each_match(std::string_view text, FunctionRef<void(std::size_t, std::size_t)> on_match) const {
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto match = find(text, pos);
    if (!match) return;
    const auto [begin, end] = *match;
    if (end <= begin) {  // empty (or \K-reversed) match: step over one character
      if (begin >= text.size()) return;
      pos = begin + utf8_step(text, begin).length;
      continue;
    }
    on_match(begin, end);
    pos = end;
  }
}

void split_isolated(const Regex& regex, std::string_view text, FunctionRef<void(std::string_view)> emit) {
  std::size_t last = 0;
  regex.for_each_match(text, [&](std::size_t begin, std::size_t end) {
    if (begin > last) emit(text.substr(last, begin - last));
    emit(text.substr(begin, end - begin));
    last = end;
  });
  if (last < text.size()) emit(text.substr(last));
}

}  // namespace arrakis::tok
