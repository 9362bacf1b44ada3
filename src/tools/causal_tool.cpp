#include "arrakis/tools/causal_tool.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "arrakis/analysis/metrics.hpp"
#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "tools/tool_inputs.hpp"

namespace arrakis {

using namespace tool_inputs;
using torch::indexing::Slice;

// ---- declarations ------------------------------------------------------------------------------------------------

TraceNoise ArgumentType<TraceNoise>::parse(std::string_view text) {
  if (!text.ends_with(".safetensors")) return {ArgumentType<double>::parse(text), {}};
  const std::string path(text);
  for (auto& [name, tensor] : load_safetensors(path))
    if (name == "noise") return {0.0, tensor};
  throw Error(fmt::format("{} holds no tensor named 'noise' [samples, subject length, d_model]", path));
}

nlohmann::json ArgumentType<TraceNoise>::to_json(const TraceNoise& noise) {
  if (noise.values.defined()) return {{"values", noise.values.sizes().vec()}};
  return noise.scale;
}

std::vector<ToolArgument<TraceTokenProbabilityArgs>> TraceTokenProbabilityArgs::arguments() {
  using A = TraceTokenProbabilityArgs;
  return {argument("tokens", &A::tokens, "one prompt", Need::Required),
          argument("target", &A::target, "the token whose probability at the last position is traced", Need::Required),
          argument("subject", &A::subject, "start,end: the positions [start, end) whose embeddings are corrupted",
                   Need::Required),
          argument("kind", &A::kind, "restore the residual stream, or a window of MLP or attention outputs"),
          argument("noise", &A::noise, "noise scale (times the std of W_E's entries) or a file holding `noise`"),
          argument("samples", &A::samples, "noise samples averaged"),
          argument("window", &A::window, "mlp / attn: how many layers around each layer are restored"),
          argument("seed", &A::seed, "seed of the noise")};
}

std::vector<ToolArgument<InterveneOnNeuronArgs>> InterveneOnNeuronArgs::arguments() {
  using A = InterveneOnNeuronArgs;
  return {argument("tokens", &A::tokens, "the input", Need::Required),
          argument("layer", &A::layer, "the MLP's layer", Need::Required),
          argument("neuron", &A::neuron, "the neuron (index into d_mlp)", Need::Required),
          argument("scale", &A::scale, "multiply its activation (hook_post) by this; 0 ablates it"),
          argument("positions", &A::positions, "only at these positions (default: all)"),
          argument("target", &A::target, "also report this token's logit and probability change"),
          argument("metric", &A::metric, "also report this metric's change: logit-diff:A,B | logprob:T | loss | kl"),
          argument("top_k", &A::top_k, "how many most increased and decreased tokens")};
}

ToolDescription CausalTool::describe() {
  return {"causal tracing of a token's probability (ROME) and interventions on MLP neurons",
          {method<&CausalTool::trace_token_probability>(), method<&CausalTool::intervene_on_neuron>()}};
}

std::vector<Figure> CausalTrace::figures(const std::vector<std::string>& tokens) const {
  std::vector<std::string> columns = tokens;
  if (static_cast<int64_t>(columns.size()) != scores.size(1)) columns.clear();  // fall back to positions
  for (int64_t p = subject_start; p < subject_end && p < static_cast<int64_t>(columns.size()); ++p)
    columns[static_cast<std::size_t>(p)] += "*";
  const auto kind_name = std::string(ArgumentType<TraceKind>::to_json(kind).get<std::string>());
  const std::string what = kind == TraceKind::Resid ? "hidden state"
                           : kind == TraceKind::Mlp ? "MLP output"
                                                    : "attention output";
  return {{.title = fmt::format("Causal trace ({}): restoring one {}", kind_name, what),
           .body = Heatmap{.values = indirect_effect,
                           .rows = {.title = "layer"},
                           .cols = {.title = "token (* subject)", .labels = columns},
                           .colour = ColourScale::diverging,
                           .value_title = "indirect effect on p(target)"},
           .caption = fmt::format("Probability of token {} when the clean {} at one layer and token is restored into "
                                  "the run whose subject embeddings are corrupted (window {}), minus the corrupted "
                                  "probability {:.4f}; clean {:.4f}. Meng et al. 2022 (ROME), Figure 1.",
                                  target, what, window, corrupted_probability, clean_probability)}};
}

nlohmann::json CausalTrace::to_json() const {
  auto s = scores.contiguous();
  nlohmann::json grid = nlohmann::json::array();
  for (int64_t l = 0; l < s.size(0); ++l)
    grid.push_back(std::vector<double>(s[l].data_ptr<double>(), s[l].data_ptr<double>() + s.size(1)));
  const auto best = indirect_effect.argmax().item<int64_t>();
  return {{"kind", ArgumentType<TraceKind>::to_json(kind)},
          {"target", target},
          {"subject", {subject_start, subject_end}},
          {"window", window},
          {"samples", noise.size(0)},
          {"noise_std", noise_std},
          {"clean_probability", clean_probability},
          {"corrupted_probability", corrupted_probability},
          {"largest_effect",
           {{"layer", best / s.size(1)},
            {"position", best % s.size(1)},
            {"indirect_effect", indirect_effect.flatten()[best].item<double>()}}},
          {"scores", grid}};
}

nlohmann::json NeuronIntervention::to_json() const {
  auto rows = [](const torch::Tensor& t) {
    nlohmann::json out = nlohmann::json::array();
    auto c = t.contiguous();
    for (int64_t b = 0; b < c.size(0); ++b)
      out.push_back(std::vector<int64_t>(c[b].data_ptr<int64_t>(), c[b].data_ptr<int64_t>() + c.size(1)));
    return out;
  };
  nlohmann::json out = {{"layer", layer},
                        {"neuron", neuron},
                        {"scale", scale},
                        {"max_abs_change", change.abs().max().item<double>()},
                        {"top_increased", rows(top_increased)},
                        {"top_decreased", rows(top_decreased)}};
  if (!metric.empty()) {
    auto before = clean_metric.contiguous(), after = metric_value.contiguous();
    out["metric"] = metric;
    out["clean_metric"] = std::vector<double>(before.data_ptr<double>(), before.data_ptr<double>() + before.numel());
    out["metric_value"] = std::vector<double>(after.data_ptr<double>(), after.data_ptr<double>() + after.numel());
  }
  if (target) {
    auto l = target_logit_change.contiguous(), p = target_probability_change.contiguous();
    out["target"] = *target;
    out["target_logit_change"] = std::vector<double>(l.data_ptr<double>(), l.data_ptr<double>() + l.numel());
    out["target_probability_change"] = std::vector<double>(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
  }
  return out;
}

NamedTensors NeuronIntervention::tensors() const {
  NamedTensors out = {{"clean_logits", clean_logits}, {"logits", logits}, {"change", change}};
  if (target) {
    out.emplace_back("target_logit_change", target_logit_change);
    out.emplace_back("target_probability_change", target_probability_change);
  }
  return out;
}

// ---- causal tracing ----------------------------------------------------------------------------------------------

namespace {

std::string restore_point(TraceKind kind, int layer) {
  switch (kind) {
    case TraceKind::Resid: return hooks::resid_post(layer);
    case TraceKind::Mlp: return hooks::mlp_out(layer);
    case TraceKind::Attn: return hooks::attn_out(layer);
  }
  return {};
}

// The layers a restore at `layer` covers: the layer itself (resid), or the window around it (mlp, attn).
std::pair<int, int> restored_layers(TraceKind kind, int layer, int64_t window, int64_t n_layers) {
  if (kind == TraceKind::Resid) return {layer, layer + 1};
  return {static_cast<int>(std::max<int64_t>(0, layer - window / 2)),
          static_cast<int>(std::min<int64_t>(n_layers, layer + window / 2))};
}

// Probability of `target` at the last position, float64 [rows].
torch::Tensor target_probability(const torch::Tensor& logits, int64_t target) {
  return torch::softmax(logits.select(1, logits.size(1) - 1).to(torch::kFloat64), -1).select(1, target).cpu();
}

}  // namespace

CausalTrace CausalTool::trace_token_probability(const TraceTokenProbabilityArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  const auto& c = m.config();
  constexpr auto name = TraceTokenProbabilityArgs::method;
  const auto ids = batch_of_tokens(args.tokens, name).to(m.device());
  if (ids.size(0) != 1)
    throw Error(fmt::format("{}: trace one prompt at a time (tokens hold a batch of {})", name, ids.size(0)));
  const int64_t length = ids.size(1);
  if (args.kind == TraceKind::Mlp && !c.has_mlp())
    throw Error(fmt::format("{}: kind mlp: {} has no MLPs (attention-only); trace resid or attn", name, c.model_name));
  if (args.subject.size() != 2)
    throw Error(fmt::format("{}: subject is two positions, start and end ([start, end)), not {} values", name,
                            args.subject.size()));
  const int64_t start = args.subject[0], end = args.subject[1];
  if (start < 0 || end > length || start >= end)
    throw Error(fmt::format("{}: subject [{}, {}) is not a non-empty range of the prompt's {} positions", name, start,
                            end, length));
  check_token(m, args.target, name, "target");
  if (args.kind != TraceKind::Resid && args.window < 1) throw Error(fmt::format("{}: window must be at least 1", name));

  CausalTrace out;
  out.kind = args.kind;
  out.target = args.target;
  out.subject_start = start;
  out.subject_end = end;
  out.window = args.window;
  if (args.noise.values.defined()) {
    const auto& v = args.noise.values;
    if (v.dim() != 3 || v.size(0) < 1 || v.size(1) != end - start || v.size(2) != c.d_model)
      throw Error(fmt::format("{}: noise must be [samples, subject length {}, d_model {}], not [{}]", name, end - start,
                              c.d_model, fmt::join(v.sizes(), ", ")));
    if (!v.is_floating_point() || !torch::isfinite(v).all().item<bool>())
      throw Error(fmt::format("{}: noise must hold finite floating-point values", name));
    out.noise = v.to(torch::kCPU, torch::kFloat32).contiguous();
  } else {
    if (args.samples < 1 || args.samples > 100000) throw Error(fmt::format("{}: samples must be in 1..100000", name));
    if (!(args.noise.scale >= 0) || !std::isfinite(args.noise.scale))
      throw Error(fmt::format("{}: the noise scale must be a finite number >= 0", name));
    out.noise_std = args.noise.scale * m.weights().W_E.to(torch::kFloat64).std().item<double>();
    auto generator = seeded_generator(static_cast<uint64_t>(args.seed));
    out.noise = (torch::randn({args.samples, end - start, c.d_model}, generator, torch::kFloat64) * out.noise_std)
                    .to(torch::kFloat32);
  }
  const int64_t samples = out.noise.size(0);
  const auto noise = out.noise.to(m.device(), c.dtype);

  // The clean run: the values restored later.
  std::vector<std::string> restored;
  for (int l = 0; l < c.n_layers; ++l) restored.push_back(restore_point(args.kind, l));
  auto [clean_logits, clean] = m.run_with_cache(ids, NameFilter{restored});
  out.clean_probability = target_probability(clean_logits, args.target)[0].item<double>();

  // Noise added to the subject's token embeddings, one sample per row (rows repeat the samples).
  auto corrupt = [&](const torch::Tensor& x) {
    auto y = x.clone();
    const int64_t copies = x.size(0) / samples;
    y.index({Slice(), Slice(start, end)}) += noise.repeat({copies, 1, 1});
    return y;
  };
  // The corrupted run: every layer's input, from which each restored run starts.
  std::vector<std::string> inputs;
  for (int l = 0; l < c.n_layers; ++l) inputs.push_back(hooks::resid_pre(l));
  ActivationCache corrupted;
  torch::Tensor corrupted_logits;
  {
    auto guard = m.add_hook(hooks::embed(), corrupt);
    std::tie(corrupted_logits, corrupted) = m.run_with_cache(ids.repeat({samples, 1}), NameFilter{inputs});
  }
  out.corrupted_probability = target_probability(corrupted_logits, args.target).mean().item<double>();

  // Restored runs: per layer, positions in chunks, each row one (position, sample). A restore in layer L leaves
  // every layer before the first restored one as the corrupted run computed it, so the run starts there.
  out.scores = torch::empty({c.n_layers, length}, torch::kFloat64);
  const int64_t chunk = std::max<int64_t>(1, 256 / samples);
  for (int layer = 0; layer < c.n_layers; ++layer) {
    const auto [first, last] = restored_layers(args.kind, layer, args.window, c.n_layers);
    for (int64_t p0 = 0; p0 < length; p0 += chunk) {
      const int64_t n = std::min(chunk, length - p0);
      const auto position_of_row = (torch::arange(p0, p0 + n, torch::kLong).repeat_interleave(samples)).to(m.device());
      const auto rows = torch::arange(n * samples, torch::kLong).to(m.device());
      NamedHooks hooks_to_run;
      for (int l = first; l < last; ++l) {
        const auto values = clean[restore_point(args.kind, l)][0].index_select(0, position_of_row);  // [rows, d]
        hooks_to_run.emplace_back(restore_point(args.kind, l), [rows, position_of_row, values](const torch::Tensor& x) {
          auto y = x.clone();
          y.index_put_({rows, position_of_row}, values);
          return y;
        });
      }
      torch::Tensor logits;
      if (first == 0) {
        hooks_to_run.emplace_back(hooks::embed(), corrupt);
        logits = m.run_with_hooks(ids.repeat({n * samples, 1}), hooks_to_run);
      } else {
        logits = m.run_with_hooks(corrupted[hooks::resid_pre(first)].repeat({n, 1, 1}), hooks_to_run,
                                  {.start_at_layer = first});
      }
      out.scores.index_put_({layer, Slice(p0, p0 + n)},
                            target_probability(logits, args.target).reshape({n, samples}).mean(1));
    }
  }
  out.indirect_effect = out.scores - out.corrupted_probability;
  return out;
}

// ---- neurons -----------------------------------------------------------------------------------------------------

NeuronIntervention CausalTool::intervene_on_neuron(const InterveneOnNeuronArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  const auto& c = m.config();
  constexpr auto name = InterveneOnNeuronArgs::method;
  check_layer(c, args.layer, name);
  if (!c.has_mlp()) throw Error(fmt::format("{}: this model has no MLPs (attention only)", name));
  if (args.neuron < 0 || args.neuron >= c.d_mlp)
    throw Error(fmt::format("{}: neuron {} is not one of the MLP's {} neurons", name, args.neuron, c.d_mlp));
  if (!std::isfinite(args.scale)) throw Error(fmt::format("{}: scale must be a finite number", name));
  if (args.top_k < 1) throw Error(fmt::format("{}: top_k must be at least 1", name));
  const auto ids = batch_of_tokens(args.tokens, name);
  std::vector<int64_t> positions;
  for (int64_t p : args.positions) positions.push_back(position(p, ids.size(1), name, "positions"));
  const int64_t vocab = m.weights().W_U.size(1);
  if (args.target) check_token(m, *args.target, name, "target");

  auto last = [](const torch::Tensor& logits) {
    return logits.select(1, logits.size(1) - 1).to(torch::kFloat64).cpu();
  };
  NeuronIntervention out;
  out.layer = args.layer;
  out.neuron = args.neuron;
  out.scale = args.scale;
  const auto clean_full = m.forward(ids);
  out.clean_logits = last(clean_full);
  const double scale = args.scale;
  const int64_t neuron = args.neuron;
  auto scaled = [scale, neuron, positions](const torch::Tensor& post) {
    auto y = post.clone();
    if (positions.empty()) {
      y.index({"...", neuron}) *= scale;
    } else {
      for (int64_t p : positions) y.index({Slice(), p, neuron}) *= scale;
    }
    return y;
  };
  const auto intervened_full = m.run_with_hooks(ids, {{hooks::mlp_post(static_cast<int>(args.layer)), scaled}});
  out.logits = last(intervened_full);
  if (args.metric) {
    const auto metric = parse_metric(*args.metric, m, {.tokens = ids, .reference_logits = clean_full}).metric;
    out.metric = *args.metric;
    out.clean_metric = metric(clean_full).to(torch::kFloat64).cpu();
    out.metric_value = metric(intervened_full).to(torch::kFloat64).cpu();
  }
  out.change = out.logits - out.clean_logits;
  const int64_t k = std::min<int64_t>(args.top_k, vocab);
  out.top_increased = std::get<1>(out.change.topk(k, -1));
  out.top_decreased = std::get<1>((-out.change).topk(k, -1));
  if (args.target) {
    out.target = args.target;
    out.target_logit_change = out.change.select(1, *args.target).contiguous();
    out.target_probability_change =
        (torch::softmax(out.logits, -1) - torch::softmax(out.clean_logits, -1)).select(1, *args.target).contiguous();
  }
  return out;
}

}  // namespace arrakis
