#pragma once
// Hook points: named places in the forward pass where a hook can read or replace the activation.
// Names and meanings follow TransformerLens (see docs/hooks.md), so activations compare one for one.
#include <torch/types.h>

#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace arrakis {

/// Identifies a hook point to the hook function that runs there.
struct HookPoint {
  std::string name;  // e.g. "blocks.3.attn.hook_z"
  int id = -1;       // index in the model's hook-point table
  int layer = -1;    // the block it belongs to; -1 outside blocks (hook_embed, ln_final.*)
  /// The absolute position of the activation's first position: 0 for a whole sequence, the number of cached
  /// positions during generation with a key/value cache (so a hook can act "from position P on").
  int64_t position_offset = 0;
};

enum class HookDirection {
  Forward,   // the function sees the activation and may replace it
  Backward,  // the function sees the gradient flowing back to the activation and may replace it
};

/// A hook function. It receives the activation (or, backward, its gradient) and the hook point, and returns the
/// replacement, or an undefined tensor (`return {};`) to leave it as it is. It may also modify the tensor in place.
/// Callables taking (tensor) or (tensor, point), returning a tensor or nothing, all convert to Hook.
class Hook {
 public:
  using Fn = std::function<torch::Tensor(const torch::Tensor&, const HookPoint&)>;

  Hook() = default;
  template <class F>
  requires(!std::same_as<std::remove_cvref_t<F>, Hook>) Hook(F f)
      : fn_(adapt(std::move(f))) {}  // NOLINT(google-explicit-constructor): lambdas convert implicitly

  torch::Tensor operator()(const torch::Tensor& t, const HookPoint& p) const { return fn_(t, p); }
  explicit operator bool() const { return static_cast<bool>(fn_); }

 private:
  template <class F>
  static Fn adapt(F f) {
    if constexpr (std::is_invocable_v<F&, const torch::Tensor&, const HookPoint&>) {
      using R = std::invoke_result_t<F&, const torch::Tensor&, const HookPoint&>;
      if constexpr (std::is_void_v<R>)
        return [f = std::move(f)](const torch::Tensor& t, const HookPoint& p) mutable {
          f(t, p);
          return torch::Tensor();
        };
      else
        return
            [f = std::move(f)](const torch::Tensor& t, const HookPoint& p) mutable -> torch::Tensor { return f(t, p); };
    } else {
      static_assert(std::is_invocable_v<F&, const torch::Tensor&>,
                    "a hook takes (const torch::Tensor&) or (const torch::Tensor&, const HookPoint&)");
      using R = std::invoke_result_t<F&, const torch::Tensor&>;
      if constexpr (std::is_void_v<R>)
        return [f = std::move(f)](const torch::Tensor& t, const HookPoint&) mutable {
          f(t);
          return torch::Tensor();
        };
      else
        return [f = std::move(f)](const torch::Tensor& t, const HookPoint&) mutable -> torch::Tensor { return f(t); };
    }
  }
  Fn fn_;
};

/// Which hook points to cache or hook: all, an explicit list, a regex, or any predicate.
class NameFilter {
 public:
  NameFilter() = default;                                // every hook point
  NameFilter(std::vector<std::string> names);            // NOLINT: exactly these (unknown names are errors)
  NameFilter(std::initializer_list<const char*> names);  // NOLINT
  explicit NameFilter(std::function<bool(const std::string&)> predicate);

  bool matches(const std::string& name) const;
  /// The explicit names, if the filter is a list (checked against the model's hook points).
  const std::vector<std::string>* explicit_names() const { return names_ ? &*names_ : nullptr; }

 private:
  std::optional<std::vector<std::string>> names_;
  std::function<bool(const std::string&)> predicate_;
};

/// Hook points whose name matches `pattern` anywhere (PCRE2, Perl syntax), e.g. "resid_post" or
/// "blocks\\.[0-3]\\.attn\\.hook_(q|k)$". Patterns come from users and files, so they are bounded: at most
/// 4096 characters and 200 nested groups, and a match that backtracks past a fixed budget is an arrakis::Error
/// rather than a hang or a stack overflow.
NameFilter names_matching(const std::string& pattern);

}  // namespace arrakis
