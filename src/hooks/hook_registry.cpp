#include "arrakis/hooks/hook_registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "arrakis/error.hpp"
#include "arrakis/util/closest_names.hpp"

namespace arrakis {
namespace detail {

struct HookEntry {
  uint64_t token;
  Hook hook;
  // Cleared when the hook is removed; a backward hook already attached to a tensor checks it before running, so a
  // guard that left scope between forward and backward really removes the hook.
  std::shared_ptr<bool> alive;
};

struct HookTable {
  std::vector<HookPoint> points;
  std::vector<char> enabled;
  std::vector<std::string> how_to_enable;
  std::unordered_map<std::string, int> ids;
  std::vector<std::vector<HookEntry>> forward, backward;
  std::size_t count = 0;
  uint64_t next_token = 1;
  int64_t position_offset = 0;

  void remove(uint64_t token) {
    for (auto* lists : {&forward, &backward})
      for (auto& list : *lists) {
        auto it = std::find_if(list.begin(), list.end(), [&](const HookEntry& e) { return e.token == token; });
        if (it != list.end()) {
          *it->alive = false;
          list.erase(it);
          --count;
          return;
        }
      }
  }
};

}  // namespace detail

HookGuard::HookGuard(HookGuard&& other) noexcept : table_(std::move(other.table_)), tokens_(std::move(other.tokens_)) {
  other.tokens_.clear();
}

HookGuard& HookGuard::operator=(HookGuard&& other) noexcept {
  if (this != &other) {
    remove();
    table_ = std::move(other.table_);
    tokens_ = std::move(other.tokens_);
    other.tokens_.clear();
  }
  return *this;
}

void HookGuard::remove() {
  if (auto table = table_.lock())
    for (auto token : tokens_) table->remove(token);
  tokens_.clear();
}

HookRegistry::HookRegistry() : table_(std::make_shared<detail::HookTable>()) {}

int HookRegistry::declare(const std::string& name, int layer) {
  auto& t = *table_;
  if (t.ids.count(name)) throw Error("hook point '" + name + "' declared twice");
  int id = static_cast<int>(t.points.size());
  t.points.push_back({name, id, layer});
  t.enabled.push_back(1);
  t.how_to_enable.emplace_back();
  t.ids.emplace(name, id);
  t.forward.emplace_back();
  t.backward.emplace_back();
  return id;
}

void HookRegistry::set_enabled(int id, bool enabled, const std::string& how_to_enable) {
  auto& t = *table_;
  t.enabled.at(id) = enabled;
  if (!how_to_enable.empty()) t.how_to_enable.at(id) = how_to_enable;
  if (!enabled) {  // hooks on a point that no longer runs would silently never fire
    for (auto* lists : {&t.forward, &t.backward}) {
      for (auto& e : (*lists)[id]) *e.alive = false;
      t.count -= (*lists)[id].size();
      (*lists)[id].clear();
    }
  }
}

const std::vector<HookPoint>& HookRegistry::points() const { return table_->points; }

std::vector<std::string> HookRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& p : table_->points)
    if (table_->enabled[p.id]) out.push_back(p.name);
  return out;
}

bool HookRegistry::is_enabled(int id) const { return id >= 0 && table_->enabled.at(id); }

int HookRegistry::require(const std::string& name) const {
  const auto& t = *table_;
  auto it = t.ids.find(name);
  if (it != t.ids.end()) {
    if (t.enabled[it->second]) return it->second;
    throw Error(fmt::format("hook point '{}' is not enabled: {}", name, t.how_to_enable[it->second]));
  }
  throw Error(fmt::format("unknown hook point '{}'; closest valid names: {}", name,
                          quoted_list(closest_names(name, names(), 5))));
}

std::vector<int> HookRegistry::select(const NameFilter& filter) const {
  std::vector<int> ids;
  if (const auto* names = filter.explicit_names()) {
    for (const auto& n : *names) ids.push_back(require(n));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
  }
  for (const auto& p : table_->points)
    if (table_->enabled[p.id] && filter.matches(p.name)) ids.push_back(p.id);
  return ids;
}

uint64_t HookRegistry::add_entry(int id, Hook hook, HookDirection direction) {
  auto& t = *table_;
  if (id < 0 || id >= static_cast<int>(t.points.size())) throw Error(fmt::format("no hook point with id {}", id));
  if (!t.enabled[id])
    throw Error(fmt::format("hook point '{}' is not enabled: {}", t.points[id].name, t.how_to_enable[id]));
  if (!hook) throw Error(fmt::format("empty hook function for '{}'", t.points[id].name));
  uint64_t token = t.next_token++;
  auto& list = direction == HookDirection::Forward ? t.forward[id] : t.backward[id];
  list.push_back({token, std::move(hook), std::make_shared<bool>(true)});
  ++t.count;
  return token;
}

HookGuard HookRegistry::add(int id, Hook hook, HookDirection direction) {
  return HookGuard(table_, {add_entry(id, std::move(hook), direction)});
}

HookGuard HookRegistry::add(const std::string& name, Hook hook, HookDirection direction) {
  return add(require(name), std::move(hook), direction);
}

HookGuard HookRegistry::add(const NameFilter& filter, Hook hook, HookDirection direction) {
  std::vector<uint64_t> tokens;
  for (int id : select(filter)) tokens.push_back(add_entry(id, hook, direction));
  return HookGuard(table_, std::move(tokens));
}

void HookRegistry::clear() {
  auto& t = *table_;
  for (auto* lists : {&t.forward, &t.backward})
    for (auto& list : *lists) {
      for (auto& e : list) *e.alive = false;
      list.clear();
    }
  t.count = 0;
}

std::size_t HookRegistry::size() const { return table_->count; }
bool HookRegistry::has_hooks() const { return table_->count > 0; }
void HookRegistry::set_position_offset(int64_t offset) const { table_->position_offset = offset; }

torch::Tensor HookRegistry::run_hooks(int id, torch::Tensor x) const {
  const auto& t = *table_;
  HookPoint point = t.points[id];
  point.position_offset = t.position_offset;
  // Copy the entries: a hook may add or remove hooks while it runs.
  const auto forward = t.forward[id];
  for (const auto& entry : forward) {
    torch::Tensor replacement = entry.hook(x, point);
    if (!replacement.defined()) continue;
    if (replacement.sizes() != x.sizes())
      throw Error(fmt::format("hook on '{}' returned shape {} but the activation has shape {}", point.name,
                              replacement.sizes().vec(), x.sizes().vec()));
    if (replacement.scalar_type() != x.scalar_type())
      throw Error(fmt::format("hook on '{}' returned dtype {} but the activation has dtype {}", point.name,
                              c10::toString(replacement.scalar_type()), c10::toString(x.scalar_type())));
    x = std::move(replacement);
  }
  const auto& backward = t.backward[id];
  if (!backward.empty() && torch::GradMode::is_enabled()) {
    // Nothing upstream needs a gradient when x does not require one, so making x a leaf loses nothing.
    if (!x.requires_grad()) x = x.detach().requires_grad_(true);
    std::vector<detail::HookEntry> entries = backward;
    x.register_hook([entries, point](torch::Tensor grad) {
      for (const auto& entry : entries) {
        if (!*entry.alive) continue;
        torch::Tensor replacement = entry.hook(grad, point);
        if (!replacement.defined()) continue;
        if (replacement.sizes() != grad.sizes())
          throw Error(fmt::format("backward hook on '{}' returned shape {} but the gradient has shape {}", point.name,
                                  replacement.sizes().vec(), grad.sizes().vec()));
        grad = std::move(replacement);
      }
      return grad;
    });
  }
  return x;
}

}  // namespace arrakis
