#pragma once
// How a tool method's argument is read from text (the command line: `arrakis tool KEY METHOD --layer 1`), named in
// listings (`arrakis tools`), and written to JSON (listings' defaults, the experiment log). One specialisation of
// ArgumentType per C++ type an argument may have.
#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrakis/model/head.hpp"

namespace arrakis {

/// An enumeration's spellings: specialise with `static constexpr std::array names{std::pair{E::A, "a"}, ...}`.
template <class E>
struct EnumNames;

template <class T>
struct ArgumentType;

template <>
struct ArgumentType<int64_t> {
  static std::string name() { return "int"; }
  static int64_t parse(std::string_view text);
  static nlohmann::json to_json(int64_t v) { return v; }
};
template <>
struct ArgumentType<double> {
  static std::string name() { return "float"; }
  static double parse(std::string_view text);
  static nlohmann::json to_json(double v) { return v; }
};
template <>
struct ArgumentType<bool> {
  static std::string name() { return "bool"; }
  static bool parse(std::string_view text);  // true/false, 1/0, yes/no
  static nlohmann::json to_json(bool v) { return v; }
};
template <>
struct ArgumentType<std::string> {
  static std::string name() { return "string"; }
  static std::string parse(std::string_view text) { return std::string(text); }
  static nlohmann::json to_json(const std::string& v) { return v; }
};
template <>
struct ArgumentType<Head> {
  static std::string name() { return "head"; }  // L1H3 or 1.3
  static Head parse(std::string_view text) { return Head::parse(text); }
  static nlohmann::json to_json(const Head& v) { return v; }
};
template <>
struct ArgumentType<std::vector<int64_t>> {
  static std::string name() { return "ints"; }  // 1,2,3
  static std::vector<int64_t> parse(std::string_view text);
  static nlohmann::json to_json(const std::vector<int64_t>& v) { return v; }
};
/// Token ids [batch, pos] (or [pos]): given on the command line by --prompt / --input-ids, written "1,2,3;4,5,6".
template <>
struct ArgumentType<torch::Tensor> {
  static std::string name() { return "tokens"; }
  static torch::Tensor parse(std::string_view text);
  /// Up to 4096 ids as nested lists; larger tensors as their shape and dtype (the log records what was asked).
  static nlohmann::json to_json(const torch::Tensor& v);
};
template <class T>
struct ArgumentType<std::optional<T>> {
  static std::string name() { return ArgumentType<T>::name(); }
  static std::optional<T> parse(std::string_view text) { return ArgumentType<T>::parse(text); }
  static nlohmann::json to_json(const std::optional<T>& v) {
    return v ? ArgumentType<T>::to_json(*v) : nlohmann::json(nullptr);
  }
};
template <class E>
requires std::is_enum_v<E>
struct ArgumentType<E> {
  static std::string name() {
    std::string out;
    for (const auto& [value, spelling] : EnumNames<E>::names) {
      if (!out.empty()) out += '|';
      out += spelling;
    }
    return out;
  }
  static E parse(std::string_view text);
  static nlohmann::json to_json(E v) {
    for (const auto& [value, spelling] : EnumNames<E>::names)
      if (value == v) return std::string(spelling);
    return static_cast<int64_t>(v);
  }
};

/// arrakis::Error "'text' is not one of a|b|c" — shared by every enumeration's parse.
[[noreturn]] void throw_not_one_of(std::string_view text, const std::string& choices);

template <class E>
requires std::is_enum_v<E> E ArgumentType<E>::parse(std::string_view text) {
  for (const auto& [value, spelling] : EnumNames<E>::names)
    if (spelling == text) return value;
  throw_not_one_of(text, name());
}

}  // namespace arrakis
