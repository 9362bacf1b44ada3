#include "arrakis/experiments/experiment_source.hpp"

#include <cctype>
#include <string_view>

namespace arrakis {
namespace {

bool is_identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Length of the string or character literal starting at text[i] (a quote, or R"delim( for raw strings).
std::size_t literal_length(std::string_view text, std::size_t i) {
  if (text[i] == 'R' && i + 1 < text.size() && text[i + 1] == '"') {
    auto open = text.find('(', i + 2);
    if (open == std::string_view::npos) return text.size() - i;
    std::string close = ")" + std::string(text.substr(i + 2, open - i - 2)) + "\"";
    auto end = text.find(close, open);
    return end == std::string_view::npos ? text.size() - i : end + close.size() - i;
  }
  const char quote = text[i];
  std::size_t j = i + 1;
  while (j < text.size() && text[j] != quote) j += text[j] == '\\' ? 2 : 1;
  return std::min(j + 1, text.size()) - i;
}

bool starts_literal(std::string_view text, std::size_t i) {
  if (text[i] == '"') return true;
  // A quote after a digit is a digit separator (1'000), not a character literal.
  if (text[i] == '\'') return i == 0 || !std::isdigit(static_cast<unsigned char>(text[i - 1]));
  return text[i] == 'R' && i + 1 < text.size() && text[i + 1] == '"' && (i == 0 || !is_identifier_char(text[i - 1]));
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\n");
  return std::string(s.substr(b, e - b + 1));
}

// The word (identifier) ending just before position i, skipping spaces.
std::string word_before(std::string_view text, std::size_t i) {
  while (i > 0 && text[i - 1] == ' ') --i;
  std::size_t end = i;
  while (i > 0 && is_identifier_char(text[i - 1])) --i;
  return std::string(text.substr(i, end - i));
}

char char_before(std::string_view text, std::size_t i) {
  while (i > 0 && text[i - 1] == ' ') --i;
  return i == 0 ? '\0' : text[i - 1];
}

}  // namespace

std::string ExperimentSource::text() const {
  std::string out = tool.empty() ? std::string() : "use_tools(\"" + tool + "\") ";
  return out + (parameters.empty() ? body : parameters + " " + body);
}

std::vector<std::string> ExperimentSource::parameter_names() const {
  std::string_view list = parameters;
  if (list.size() >= 2 && list.front() == '(' && list.back() == ')') list = list.substr(1, list.size() - 2);
  std::vector<std::string> pieces;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < list.size(); ++i) {
    char c = list[i];
    if (starts_literal(list, i)) {
      i += literal_length(list, i) - 1;
    } else if (c == '(' || c == '[' || c == '{' || c == '<') {
      ++depth;
    } else if (c == ')' || c == ']' || c == '}' || c == '>') {
      --depth;
    } else if (c == ',' && depth == 0) {
      pieces.emplace_back(list.substr(start, i - start));
      start = i + 1;
    }
  }
  if (!trim(list.substr(start)).empty() || !pieces.empty()) pieces.emplace_back(list.substr(start));

  std::vector<std::string> names;
  for (std::size_t k = 0; k < pieces.size(); ++k) {
    std::string piece = trim(pieces[k]);
    if (auto eq = piece.find('='); eq != std::string::npos) piece = trim(piece.substr(0, eq));  // a default value
    std::size_t end = piece.size(), begin = end;
    while (begin > 0 && is_identifier_char(piece[begin - 1])) --begin;
    std::string rest = trim(piece.substr(0, begin));
    // A name needs a type before it: "int" or "std::string" alone, or "Foo&", are unnamed parameters.
    bool named = begin < end && !rest.empty() && !rest.ends_with("::");
    names.push_back(named ? piece.substr(begin) : "arg" + std::to_string(k));
  }
  if (!tool.empty() && !names.empty()) names.erase(names.begin());
  return names;
}

std::string format_source(const std::string& source) {
  std::string_view text = source;
  std::vector<std::string> lines;
  std::string line;
  int indent = 0;
  // One entry per open brace: whether it opened a block (laid out on lines) and the parenthesis depth outside it.
  struct Brace {
    bool block;
    int parens;
  };
  std::vector<Brace> braces;
  int parens = 0;
  auto flush = [&] {
    auto t = trim(line);
    if (!t.empty()) lines.push_back(std::string(2 * std::max(indent, 0), ' ') + t);
    line.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (starts_literal(text, i)) {
      auto n = literal_length(text, i);
      line.append(text.substr(i, n));
      i += n - 1;
      continue;
    }
    switch (c) {
      case '(':
        ++parens;
        line += c;
        break;
      case ')':
        --parens;
        line += c;
        break;
      case '{': {
        char before = char_before(text, i);
        std::string word = word_before(text, i);
        // After '{', '}' or ';' a brace opens a block only inside a block: `{{"a", 1}, {"b", 2}}` is one list.
        const bool in_block = braces.empty() || braces.back().block;
        bool block = before == '\0' || before == ')' || before == ']' ||
                     ((before == '{' || before == '}' || before == ';') && in_block) || word == "else" ||
                     word == "do" || word == "try" || word == "mutable" || word == "noexcept";
        braces.push_back({block, parens});
        line += c;
        if (block) {
          flush();
          ++indent;
          parens = 0;
        }
        break;
      }
      case '}': {
        Brace brace = braces.empty() ? Brace{true, 0} : braces.back();
        if (!braces.empty()) braces.pop_back();
        if (!brace.block) {
          line += c;
          break;
        }
        flush();
        --indent;
        parens = brace.parens;
        line += c;
        // "};", "}," and "})" stay together; "} else" continues the line.
        std::size_t next = text.find_first_not_of(' ', i + 1);
        bool keep = next != std::string_view::npos &&
                    (text[next] == ';' || text[next] == ',' || text[next] == ')' || text.substr(next, 4) == "else" ||
                     text.substr(next, 5) == "while" || text.substr(next, 5) == "catch");
        if (!keep) flush();
        break;
      }
      case ';':
        line += c;
        if (parens == 0) flush();
        break;
      default: line += c;
    }
  }
  flush();
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace arrakis
