#include "arrakis/analysis/ioi_prompts.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "arrakis/error.hpp"
#include "arrakis/util/seeded_generator.hpp"

namespace arrakis {

namespace {

std::string ioi_fill(std::string text, const std::string& key, const std::string& value) {
  for (std::size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
    text.replace(at, key.size(), value);
  return text;
}

std::string ioi_render(const std::string& tmpl, const std::string& a, const std::string& b, const std::string& s,
                       const std::string& place, const std::string& object) {
  auto text = ioi_fill(tmpl, "{A}", a);
  text = ioi_fill(text, "{B}", b);
  text = ioi_fill(text, "{S}", s);
  text = ioi_fill(text, "{PLACE}", place);
  return ioi_fill(text, "{OBJECT}", object);
}

// Draws from `count` with LibTorch's seeded generator, so the prompts repeat for a seed on any platform.
int64_t ioi_draw(torch::Generator& g, int64_t count) { return torch::randint(count, {1}, g).item<int64_t>(); }

}  // namespace

std::string ioi_corruption_name(IoiCorruption corruption) {
  switch (corruption) {
    case IoiCorruption::None: return "none";
    case IoiCorruption::Flip: return "flip";
    case IoiCorruption::ReplaceNames: return "replace-names";
    case IoiCorruption::Abc: return "abc";
  }
  return "?";
}

IoiCorruption parse_ioi_corruption(const std::string& name) {
  for (auto c : {IoiCorruption::None, IoiCorruption::Flip, IoiCorruption::ReplaceNames, IoiCorruption::Abc})
    if (ioi_corruption_name(c) == name) return c;
  throw Error(fmt::format("corruption '{}' is not one of none, flip, replace-names, abc", name));
}

const std::vector<std::string>& ioi_templates() {
  // After the IOI paper's templates (Wang et al. 2022, appendix), both clause orders come from {A} {B}.
  static const std::vector<std::string> templates = {
      "When {A} and {B} went to the {PLACE}, {S} gave a {OBJECT} to",
      "Then, {A} and {B} went to the {PLACE}. {S} gave a {OBJECT} to",
      "Then, {A} and {B} had a lot of fun at the {PLACE}. {S} gave a {OBJECT} to",
      "Then, {A} and {B} were working at the {PLACE}. {S} decided to give a {OBJECT} to",
      "Then, {A} and {B} were thinking about going to the {PLACE}. {S} wanted to give a {OBJECT} to",
      "Then, {A} and {B} had a long argument, and afterwards {S} said to",
      "After {A} and {B} went to the {PLACE}, {S} gave a {OBJECT} to",
      "When {A} and {B} got a {OBJECT} at the {PLACE}, {S} decided to give it to",
      "When {A} and {B} got a {OBJECT} at the {PLACE}, {S} decided to give the {OBJECT} to",
      "While {A} and {B} were working at the {PLACE}, {S} gave a {OBJECT} to",
      "While {A} and {B} were commuting to the {PLACE}, {S} gave a {OBJECT} to",
      "After the lunch, {A} and {B} went to the {PLACE}. {S} gave a {OBJECT} to",
      "Afterwards, {A} and {B} went to the {PLACE}. {S} gave a {OBJECT} to",
      "Then, {A} and {B} had a long argument. Afterwards {S} said to",
      "Friends {A} and {B} found a {OBJECT} at the {PLACE}. {S} gave it to",
  };
  return templates;
}

const std::vector<std::string>& ioi_names() {
  static const std::vector<std::string> names = {
      "Mary",  "John",   "Alice", "Bob",    "Tom",  "James", "Dan",   "Sarah",  "Kate",  "Paul",
      "Anna",  "Mike",   "Lisa",  "David",  "Emma", "Jack",  "Laura", "Mark",   "Amy",   "Peter",
      "Susan", "Chris",  "Helen", "Steven", "Rose", "Henry", "Grace", "Sam",    "Clare", "Adam",
      "Julia", "George", "Ruth",  "Frank",  "Jane", "Carl",  "Eric",  "Claire", "Ben",   "Lucy"};
  return names;
}

const std::vector<std::string>& ioi_places() {
  static const std::vector<std::string> places = {"store", "garden",  "restaurant", "school",  "hospital", "office",
                                                  "house", "station", "park",       "library", "market",   "beach"};
  return places;
}

const std::vector<std::string>& ioi_objects() {
  static const std::vector<std::string> objects = {"ring",  "kiss",  "bone", "basketball", "computer", "necklace",
                                                   "drink", "snack", "book", "apple",      "letter",   "flower"};
  return objects;
}

std::vector<IoiPrompt> generate_ioi_prompts(const IoiPromptOptions& options) {
  const auto& templates = options.templates.empty() ? ioi_templates() : options.templates;
  const auto& names = options.names.empty() ? ioi_names() : options.names;
  const auto& places = options.places.empty() ? ioi_places() : options.places;
  const auto& objects = options.objects.empty() ? ioi_objects() : options.objects;
  if (options.n_prompts < 1) throw Error(fmt::format("IOI prompts: n_prompts {} is below 1", options.n_prompts));
  const std::size_t names_needed = options.corruption == IoiCorruption::ReplaceNames ? 4
                                   : options.corruption == IoiCorruption::Abc        ? 3
                                                                                     : 2;
  if (names.size() < names_needed)
    throw Error(fmt::format("IOI prompts: {} names; the {} corruption needs {} distinct ones", names.size(),
                            ioi_corruption_name(options.corruption), names_needed));
  if (places.empty() || objects.empty()) throw Error("IOI prompts: no places or no objects");
  for (std::size_t i = 0; i < templates.size(); ++i)
    for (const char* key : {"{A}", "{B}", "{S}"})
      if (templates[i].find(key) == std::string::npos)
        throw Error(fmt::format("IOI prompts: template {} (\"{}\") has no {}", i, templates[i], key));
  auto g = seeded_generator(options.seed);
  auto distinct_names = [&](std::size_t n) {
    std::vector<std::string> picked;
    while (picked.size() < n) {
      const auto& name = names[static_cast<std::size_t>(ioi_draw(g, static_cast<int64_t>(names.size())))];
      if (std::find(picked.begin(), picked.end(), name) == picked.end()) picked.push_back(name);
    }
    return picked;
  };
  std::vector<IoiPrompt> out;
  for (int64_t i = 0; i < options.n_prompts; ++i) {
    IoiPrompt p;
    p.template_index = ioi_draw(g, static_cast<int64_t>(templates.size()));
    const auto& tmpl = templates[static_cast<std::size_t>(p.template_index)];
    p.abba = i % 2 == 0;
    const auto picked = distinct_names(names_needed);
    p.io = picked[0];
    p.s = picked[1];
    p.place = places[static_cast<std::size_t>(ioi_draw(g, static_cast<int64_t>(places.size())))];
    p.object = objects[static_cast<std::size_t>(ioi_draw(g, static_cast<int64_t>(objects.size())))];
    const auto& a = p.abba ? p.io : p.s;
    const auto& b = p.abba ? p.s : p.io;
    p.answered.prompt = ioi_render(tmpl, a, b, p.s, p.place, p.object);
    p.answered.correct = options.answer_prefix + p.io;
    p.answered.wrong = options.answer_prefix + p.s;
    switch (options.corruption) {
      case IoiCorruption::None: break;
      case IoiCorruption::Flip: p.answered.corrupted = ioi_render(tmpl, a, b, p.io, p.place, p.object); break;
      case IoiCorruption::Abc: p.answered.corrupted = ioi_render(tmpl, a, b, picked[2], p.place, p.object); break;
      case IoiCorruption::ReplaceNames: {
        const auto& io2 = picked[2];
        const auto& s2 = picked[3];
        p.answered.corrupted = ioi_render(tmpl, p.abba ? io2 : s2, p.abba ? s2 : io2, s2, p.place, p.object);
        break;
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

PromptSet ioi_prompt_set(const IoiPromptOptions& options) {
  PromptSet set;
  for (auto& p : generate_ioi_prompts(options)) set.prompts.push_back(std::move(p.answered));
  return set;
}

}  // namespace arrakis
