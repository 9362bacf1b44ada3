#include "arrakis/experiments/model_profiler.hpp"

#include <fmt/format.h>
#include <torch/cuda.h>

#include <atomic>
#include <chrono>
#include <map>

#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "runtime/allocator_compat.hpp"

namespace arrakis {
namespace {

using Clock = std::chrono::steady_clock;

// Wraps LibTorch's CPU allocator and counts: bytes handed out, bytes live, and the most live since the last reset.
class CountingCpuAllocator final : public c10::Allocator {
 public:
  static CountingCpuAllocator& instance() {
    static auto* allocator = new CountingCpuAllocator();  // never destroyed: tensors it made may outlive main()
    return *allocator;
  }

  c10::DataPtr allocate(size_t n) ARRAKIS_ALLOCATE_CONST override {
    auto inner = base_->allocate(n);
    void* data = inner.get();
    auto device = inner.device();
    auto* context = new Allocation{std::move(inner), static_cast<int64_t>(n)};
    const_cast<CountingCpuAllocator*>(this)->add(static_cast<int64_t>(n));
    return {data, context, &release, device};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
#if ARRAKIS_ALLOCATOR_HAS_COPY_DATA
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#endif

  void install() {
    base_ = c10::GetAllocator(c10::DeviceType::CPU);
    c10::SetAllocator(c10::DeviceType::CPU, this, kPriority);
  }
  void uninstall() { c10::SetAllocator(c10::DeviceType::CPU, base_, kPriority); }

  int64_t allocated() const { return allocated_.load(); }
  int64_t live() const { return live_.load(); }
  /// The peak since the last call, as bytes above `baseline`; restarts the peak from what is live now.
  int64_t take_peak_above(int64_t baseline) {
    int64_t peak = peak_.exchange(live_.load());
    return std::max<int64_t>(0, peak - baseline);
  }

 private:
  static constexpr uint8_t kPriority = 100;  // above LibTorch's own registration (0)
  struct Allocation {
    c10::DataPtr inner;
    int64_t size;
  };
  static void release(void* context) {
    auto* allocation = static_cast<Allocation*>(context);
    instance().live_ -= allocation->size;
    delete allocation;  // frees through the wrapped allocator's deleter
  }
  void add(int64_t n) {
    allocated_ += n;
    int64_t now = live_ += n;
    int64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
  }
  c10::Allocator* base_ = nullptr;
  std::atomic<int64_t> allocated_{0}, live_{0}, peak_{0};
};

struct Boundary {
  int hook_id;
  std::string component;
};

struct Event {
  int component;  // index into the component list
  Clock::time_point time;
  int64_t allocated, live, peak;
};

std::string kind_of(const std::string& component) {
  if (component == "embed") return "embedding";
  if (component == "unembed") return "unembedding";
  if (component == "ln_final" || component.ends_with(".ln1") || component.ends_with(".ln2")) return "norm";
  if (component.ends_with(".attn")) return "attention";
  return "mlp";
}

int layer_of(const std::string& component) {
  if (!component.starts_with("blocks.")) return -1;
  return std::stoi(component.substr(7));
}

}  // namespace

std::vector<LayerProfile> ModelProfile::layers() const {
  std::map<int, LayerProfile> by_layer;
  for (const auto& c : components) {
    if (c.layer < 0) continue;
    auto& l = by_layer[c.layer];
    l.layer = c.layer;
    l.seconds += c.seconds;
    l.allocated_bytes += c.allocated_bytes;
  }
  std::vector<LayerProfile> out;
  for (auto& [layer, profile] : by_layer) out.push_back(profile);
  return out;
}

double ModelProfile::component_seconds() const {
  double total = 0;
  for (const auto& c : components) total += c.seconds;
  return total;
}

std::string ModelProfile::table() const {
  auto mb = [&](int64_t bytes) {
    return memory_measured ? fmt::format("{:.2f}", static_cast<double>(bytes) / (1 << 20)) : std::string("-");
  };
  std::string out = fmt::format("  {:<16} {:<12} {:>10} {:>7} {:>13} {:>10}\n", "component", "kind", "time (ms)",
                                "share", "allocated MB", "peak MB");
  for (const auto& c : components)
    out += fmt::format("  {:<16} {:<12} {:>10.3f} {:>6.1f}% {:>13} {:>10}\n", c.name, c.kind, 1e3 * c.seconds,
                       100 * c.seconds / forward_seconds, mb(c.allocated_bytes), mb(c.peak_bytes));
  out += fmt::format("  {:<16} {:<12} {:>10} {:>7} {:>13}\n", "layer", "", "time (ms)", "share", "allocated MB");
  for (const auto& l : layers())
    out += fmt::format("  {:<16} {:<12} {:>10.3f} {:>6.1f}% {:>13}\n", fmt::format("blocks.{}", l.layer), "",
                       1e3 * l.seconds, 100 * l.seconds / forward_seconds, mb(l.allocated_bytes));
  out += fmt::format("  {:<16} {:<12} {:>10.3f} {:>6.1f}% {:>13} {:>10}\n", "total", "", 1e3 * forward_seconds, 100.0,
                     mb(allocated_bytes), mb(peak_bytes));
  return out;
}

nlohmann::json ModelProfile::to_json() const {
  auto components_json = nlohmann::json::array();
  for (const auto& c : components)
    components_json.push_back({{"name", c.name},
                               {"kind", c.kind},
                               {"layer", c.layer},
                               {"seconds", c.seconds},
                               {"allocated_bytes", c.allocated_bytes},
                               {"peak_bytes", c.peak_bytes}});
  auto layers_json = nlohmann::json::array();
  for (const auto& l : layers())
    layers_json.push_back({{"layer", l.layer}, {"seconds", l.seconds}, {"allocated_bytes", l.allocated_bytes}});
  return {{"components", components_json},
          {"layers", layers_json},
          {"forward_seconds", forward_seconds},
          {"allocated_bytes", allocated_bytes},
          {"peak_bytes", peak_bytes},
          {"memory_measured", memory_measured},
          {"repeats", repeats},
          {"batch", batch},
          {"positions", positions}};
}

ModelProfile profile_model(HookedTransformer& model, const torch::Tensor& tokens, const ProfileOptions& options) {
  if (options.repeats < 1)
    throw Error(fmt::format("profile_model: repeats must be at least 1, not {}", options.repeats));
  torch::NoGradGuard no_grad;
  const auto& config = model.config();
  auto& hooks = model.hooks();

  // The boundaries this model has, in forward order, and the component each closes.
  std::vector<std::string> components;
  std::vector<Boundary> boundaries;
  auto component_index = [&](const std::string& name) {
    for (std::size_t i = 0; i < components.size(); ++i)
      if (components[i] == name) return static_cast<int>(i);
    components.push_back(name);
    return static_cast<int>(components.size() - 1);
  };
  auto names = model.hook_names();
  auto has = [&](const std::string& name) { return std::find(names.begin(), names.end(), name) != names.end(); };
  auto add_boundary = [&](const std::string& hook, const std::string& component) {
    if (has(hook)) boundaries.push_back({hooks.require(hook), component});
  };
  const bool starts_with_tokens = options.forward.start_at_layer == 0;
  if (starts_with_tokens) add_boundary(hook_name(HookKind::ResidPre, 0), "embed");
  for (int l = 0; l < config.n_layers; ++l) {
    const auto block = fmt::format("blocks.{}", l);
    add_boundary(hook_name(HookKind::Ln1Normalized, l), block + ".ln1");
    add_boundary(hook_name(HookKind::AttnOut, l), block + ".attn");
    add_boundary(hook_name(HookKind::ResidMid, l), block + ".attn");
    add_boundary(hook_name(HookKind::Ln2Normalized, l), block + ".ln2");
    add_boundary(hook_name(HookKind::MlpOut, l), block + ".mlp");
    add_boundary(hook_name(HookKind::ResidPost, l), config.has_mlp() ? block + ".mlp" : block + ".attn");
  }
  add_boundary(hook_name(HookKind::LnFinalNormalized), "ln_final");
  for (const auto& b : boundaries) component_index(b.component);
  const int unembed = component_index(options.forward.stop_at_layer >= 0 ? "output" : "unembed");

  const bool on_cpu = model.device().is_cpu();
  const bool on_cuda = model.device().is_cuda();
  auto synchronize = [&] {
    if (on_cuda) torch::cuda::synchronize();
  };
  auto& allocator = CountingCpuAllocator::instance();

  std::vector<Event> events;
  events.reserve(boundaries.size() * 4 + 8);
  auto snapshot = [&](int component) {
    synchronize();
    events.push_back({component, Clock::now(), allocator.allocated(), allocator.live(), 0});
    // The peak of the interval just ended, measured from the live level at its start.
    if (events.size() >= 2) events.back().peak = allocator.take_peak_above(events[events.size() - 2].live);
  };

  std::vector<HookGuard> guards;
  for (const auto& b : boundaries) {
    int component = component_index(b.component);
    guards.push_back(hooks.add(b.hook_id, [&snapshot, component](const torch::Tensor&) { snapshot(component); }));
  }

  ModelProfile best;
  best.batch = tokens.dim() > 0 ? tokens.size(0) : 0;
  best.positions = tokens.dim() > 1 ? tokens.size(1) : 0;
  best.memory_measured = on_cpu;
  best.repeats = options.repeats;
  best.forward_seconds = INFINITY;
  if (on_cpu) allocator.install();
  try {
    for (int r = 0; r < options.warmup + options.repeats; ++r) {
      events.clear();
      synchronize();
      allocator.take_peak_above(0);
      snapshot(-1);  // the forward starts
      {
        auto output = model.forward(tokens, options.forward);
        snapshot(unembed);  // the forward ends: what follows the last boundary is the unembedding
      }
      if (r < options.warmup) continue;
      double total = std::chrono::duration<double>(events.back().time - events.front().time).count();
      if (total >= best.forward_seconds) continue;
      best.forward_seconds = total;
      best.components.clear();
      std::map<int, std::size_t> slot;  // component -> position in best.components
      for (std::size_t i = 1; i < events.size(); ++i) {
        const auto& e = events[i];
        auto [it, inserted] = slot.try_emplace(e.component, best.components.size());
        if (inserted) {
          const auto& name = components[static_cast<std::size_t>(e.component)];
          best.components.push_back({name, name == "output" ? "output" : kind_of(name), layer_of(name), 0, 0, 0});
        }
        auto& c = best.components[it->second];
        c.seconds += std::chrono::duration<double>(e.time - events[i - 1].time).count();
        c.allocated_bytes += e.allocated - events[i - 1].allocated;
        c.peak_bytes = std::max(c.peak_bytes, e.peak);
      }
      best.allocated_bytes = events.back().allocated - events.front().allocated;
      int64_t peak = 0;
      for (std::size_t i = 1; i < events.size(); ++i)
        peak = std::max(peak, events[i - 1].live - events.front().live + events[i].peak);
      best.peak_bytes = peak;
    }
  } catch (...) {
    if (on_cpu) allocator.uninstall();
    throw;
  }
  if (on_cpu) allocator.uninstall();
  if (!on_cpu)
    for (auto& c : best.components) c.allocated_bytes = c.peak_bytes = 0;
  return best;
}

}  // namespace arrakis
