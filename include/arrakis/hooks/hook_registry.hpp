#pragma once
// The table of a model's hook points and the hooks registered on them.
//
// The forward pass calls `run(id, x)` at every hook point. With no hook registered anywhere that is one integer
// comparison, so a plain forward pays nothing for the machinery.
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "arrakis/hooks/hook_point.hpp"

namespace arrakis {

namespace detail {
struct HookTable;
}

/// Removes the hooks it holds when it leaves scope (or on remove()). Movable, not copyable. Outliving the model is
/// harmless.
class [[nodiscard]] HookGuard {
 public:
  HookGuard() = default;
  HookGuard(std::weak_ptr<detail::HookTable> table, std::vector<uint64_t> tokens)
      : table_(std::move(table)), tokens_(std::move(tokens)) {}
  HookGuard(HookGuard&& other) noexcept;
  HookGuard& operator=(HookGuard&& other) noexcept;
  HookGuard(const HookGuard&) = delete;
  HookGuard& operator=(const HookGuard&) = delete;
  ~HookGuard() { remove(); }

  /// Removes the hooks now.
  void remove();
  /// Leaves the hooks in place for the model's lifetime (until HookRegistry::clear()).
  void keep() { tokens_.clear(); }
  std::size_t size() const { return tokens_.size(); }

 private:
  std::weak_ptr<detail::HookTable> table_;
  std::vector<uint64_t> tokens_;
};

class HookRegistry {
 public:
  HookRegistry();

  /// Declares a hook point (models do this once, when they are built). Returns its id.
  int declare(const std::string& name, int layer);
  /// Enables or disables an opt-in hook point; hooking a disabled point is an error that says how to enable it.
  void set_enabled(int id, bool enabled, const std::string& how_to_enable = {});

  const std::vector<HookPoint>& points() const;
  /// Names of the enabled hook points, in forward order.
  std::vector<std::string> names() const;
  bool is_enabled(int id) const;
  /// The id of an enabled hook point; arrakis::Error listing the closest valid names otherwise.
  int require(const std::string& name) const;
  /// Ids of the enabled hook points a filter selects (an explicit list is checked name by name).
  std::vector<int> select(const NameFilter& filter) const;

  HookGuard add(const std::string& name, Hook hook, HookDirection direction = HookDirection::Forward);
  HookGuard add(const NameFilter& filter, Hook hook, HookDirection direction = HookDirection::Forward);
  HookGuard add(int id, Hook hook, HookDirection direction = HookDirection::Forward);
  /// Removes every hook.
  void clear();
  /// Number of hooks registered.
  std::size_t size() const;

  /// Runs the hooks of point `id` on `x` (forward hooks now; backward hooks attach to x's gradient).
  torch::Tensor run(int id, torch::Tensor x) const {
    if (!has_hooks() || id < 0) return x;
    return run_hooks(id, std::move(x));
  }
  bool has_hooks() const;
  /// The position offset hooks see in HookPoint::position_offset for the forward about to run.
  /// (Per-forward state, not a change to the registry: const so the forward's parts can move it as they run.)
  void set_position_offset(int64_t offset) const;

 private:
  torch::Tensor run_hooks(int id, torch::Tensor x) const;
  uint64_t add_entry(int id, Hook hook, HookDirection direction);
  std::shared_ptr<detail::HookTable> table_;
};

}  // namespace arrakis
