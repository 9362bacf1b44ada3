#include "tokenizer/pre_tokenizers/split_pre_tokenizer.hpp"

#include <fmt/format.h>

#include <array>
#include <deque>
#include <vector>

namespace arrakis::tok {

namespace {

// A stretch of the text: a match of the pattern (a delimiter, after `invert`) or a gap between matches.
struct Segment {
  std::size_t begin, end;
  bool delimiter;
};

// Splitting runs on every piece of every text, so the segment lists are per-thread vectors reused instead of
// allocated each time. A Sequence calls split() again from inside `emit`, so each nesting depth has its own.
class Scratch {
 public:
  Scratch() : segments_(acquire()) {}
  ~Scratch() { --depth(); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  std::vector<Segment>& segments() noexcept { return segments_; }

 private:
  static std::size_t& depth() {
    thread_local std::size_t d = 0;
    return d;
  }
  static std::vector<Segment>& acquire() {
    thread_local std::deque<std::vector<Segment>> pool;  // a deque keeps references valid as it grows
    if (pool.size() <= depth()) pool.emplace_back();
    std::vector<Segment>& segments = pool[depth()++];
    segments.clear();
    return segments;
  }
  std::vector<Segment>& segments_;
};

}  // namespace

SplitBehavior split_behavior_from_json(const Json& value, const JsonPlace& place) {
  static constexpr std::array<std::pair<std::string_view, SplitBehavior>, 5> kNames = {{
      {"Removed", SplitBehavior::Removed},
      {"Isolated", SplitBehavior::Isolated},
      {"MergedWithPrevious", SplitBehavior::MergedWithPrevious},
      {"MergedWithNext", SplitBehavior::MergedWithNext},
      {"Contiguous", SplitBehavior::Contiguous},
  }};
  const std::string& name = as_string(value, place);
  for (const auto& [spelling, behavior] : kNames)
    if (name == spelling) return behavior;
  place.fail(fmt::format(
      "split behavior \"{}\" is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous", name));
}

void SplitPreTokenizer::split(std::string_view text, bool at_start, PieceSink emit) const {
  // The text as matches and the gaps between them, covering it all (Hugging Face's find_matches).
  Scratch scratch;
  std::vector<Segment>& segments = scratch.segments();
  std::size_t last = 0;
  pattern_.for_each_match(text, [&](std::size_t begin, std::size_t end) {
    if (begin > last) segments.push_back({last, begin, invert_});
    segments.push_back({begin, end, !invert_});
    last = end;
  });
  if (last < text.size()) segments.push_back({last, text.size(), invert_});

  // Merge the segments into pieces as the behavior says. A piece ends up as [begin, end) of `text`.
  std::size_t out = 0;  // segments[0, out) are the pieces so far (compacted in place)
  const auto push = [&](const Segment& s) { segments[out++] = {s.begin, s.end, false}; };
  switch (behavior_) {
    case SplitBehavior::Removed:
      for (const Segment& s : segments)
        if (!s.delimiter) push(s);
      break;
    case SplitBehavior::Isolated: out = segments.size(); break;
    case SplitBehavior::Contiguous: {
      bool previous_delimiter = false;
      for (std::size_t i = 0; i < segments.size(); ++i) {
        const Segment s = segments[i];
        if (out > 0 && s.delimiter == previous_delimiter)
          segments[out - 1].end = s.end;
        else
          push(s);
        previous_delimiter = s.delimiter;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous_delimiter = false;
      for (std::size_t i = 0; i < segments.size(); ++i) {
        const Segment s = segments[i];
        if (out > 0 && s.delimiter && !previous_delimiter)
          segments[out - 1].end = s.end;
        else
          push(s);
        previous_delimiter = s.delimiter;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      // Hugging Face walks backwards: a delimiter joins the piece after it unless that piece is a delimiter too.
      bool next_delimiter = false;
      std::size_t first = segments.size();  // pieces are built in segments[first, size), growing leftwards
      for (std::size_t i = segments.size(); i-- > 0;) {
        const Segment s = segments[i];
        if (first < segments.size() && s.delimiter && !next_delimiter)
          segments[first].begin = s.begin;
        else
          segments[--first] = {s.begin, s.end, false};
        next_delimiter = s.delimiter;
      }
      for (std::size_t i = first; i < segments.size(); ++i) segments[out++] = segments[i];
      break;
    }
  }
  for (std::size_t i = 0; i < out; ++i) {
    const Segment& piece = segments[i];
    if (piece.end > piece.begin) emit(text.substr(piece.begin, piece.end - piece.begin), at_start && piece.begin == 0);
  }
}

}  // namespace arrakis::tok
