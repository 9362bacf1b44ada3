#pragma once
// Checks for numeric options, run on the text before CLI11 converts it, with errors that name the valid range (CLI11's
// own print the limits of `double`). Every count a user gives is bounded: nothing is allocated from an absurd value.
#include <CLI/CLI.hpp>

#include <cstdint>

namespace arrakis::cli {

/// An integer in [min, max].
CLI::Validator integer_in(int64_t min, int64_t max);
/// A finite number in [min, max] (NaN and infinities refused).
CLI::Validator number_in(double min, double max);

/// The bound for counts the user asks for (tokens to generate, top-k, sequences, repeats).
inline constexpr int64_t kMaxCount = int64_t{1} << 20;

}  // namespace arrakis::cli
