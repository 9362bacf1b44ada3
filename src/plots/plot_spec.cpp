#include "arrakis/plots/plot_spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <set>

#include "arrakis/analysis/head_detectors.hpp"
#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/head.hpp"
#include "arrakis/model/module_paths.hpp"
#include "arrakis/util/closest_names.hpp"

namespace arrakis {
namespace {

using K = HookKind;

bool has_point(HookedTransformer& model, const std::string& name) {
  const auto names = model.hooks().names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<std::string> token_labels(HookedTransformer& model, const torch::Tensor& ids) {
  if (model.has_tokenizer()) return model.to_str_tokens(ids);
  std::vector<std::string> labels;
  auto flat = ids.to(torch::kCPU, torch::kInt64).contiguous();
  for (int64_t i = 0; i < flat.numel(); ++i) labels.push_back(std::to_string(flat.data_ptr<int64_t>()[i]));
  return labels;
}

std::vector<double> to_vector(const torch::Tensor& t) {
  auto flat = t.detach().to(torch::kCPU, torch::kFloat64).contiguous().flatten();
  return {flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()};
}

// At most `n` values of `t`, evenly spaced through it (a distribution's shape, without shipping millions of points).
std::vector<double> sample(const torch::Tensor& t, int64_t n = 4000) {
  auto flat = t.detach().flatten();
  if (flat.numel() > n) flat = flat.index_select(0, torch::linspace(0, flat.numel() - 1, n).to(torch::kInt64));
  return to_vector(flat);
}

std::string layer_label(int layer) { return fmt::format("L{}", layer); }

// The layer a spec draws: its key's, else its own.
int layer_of(const PlotSpec& spec, const std::vector<DataKey>& keys, const ModelConfig& c, const char* type) {
  int layer = spec.layer.value_or(-1);
  for (const auto& k : keys)
    if (k.layer >= 0) layer = k.layer;
  if (layer < 0)
    throw Error(
        fmt::format("plot '{}': say which layer (a data key in a block, such as blocks.1.attn.hook_pattern "
                    "or h.1.attn, or .layer)",
                    type));
  if (layer >= c.n_layers)
    throw Error(fmt::format("plot '{}': layer {} is outside the model's {} layers", type, layer, c.n_layers));
  return layer;
}

std::vector<DataKey> resolve_all(HookedTransformer& model, const PlotSpec& spec) {
  std::vector<DataKey> keys;
  for (const auto& key : spec.data_keys) keys.push_back(resolve_data_key(model, key, spec.layer));
  return keys;
}

std::vector<int64_t> heads_of(const PlotSpec& spec, const ModelConfig& c, const char* type) {
  if (spec.head) {
    if (*spec.head < 0 || *spec.head >= c.n_heads)
      throw Error(fmt::format("plot '{}': head {} is outside the model's {} heads", type, *spec.head, c.n_heads));
    return {*spec.head};
  }
  std::vector<int64_t> heads(static_cast<std::size_t>(c.n_heads));
  for (int64_t h = 0; h < c.n_heads; ++h) heads[static_cast<std::size_t>(h)] = h;
  return heads;
}

const torch::Tensor& cached(const ActivationCache& cache, const std::string& name, const PlotSpec& spec) {
  if (!cache.contains(name))
    throw Error(fmt::format("plot '{}': the cache holds no {} (run plot_results, or cache hooks_needed)",
                            spec.plot_type, name));
  return cache[name];
}

int64_t checked_prompt(const PlotSpec& spec, const torch::Tensor& tokens) {
  if (spec.prompt < 0 || spec.prompt >= tokens.size(0))
    throw Error(
        fmt::format("plot '{}': prompt {} is outside the batch of {}", spec.plot_type, spec.prompt, tokens.size(0)));
  return spec.prompt;
}

// A plot type: the hook points it reads from the shared forward, and its figures.
struct PlotType {
  std::string name;
  std::function<std::vector<std::string>(HookedTransformer&, const PlotSpec&)> needs;
  std::function<std::vector<Figure>(HookedTransformer&, const PlotSpec&, const ActivationCache&, const torch::Tensor&)>
      draw;
};

// ---- attention: a layer's patterns, query x key, token-labelled ---------------------------------------------------

std::vector<std::string> attention_needs(HookedTransformer& model, const PlotSpec& spec, K kind) {
  const int layer = layer_of(spec, resolve_all(model, spec), model.config(), spec.plot_type.c_str());
  return {hook_name(kind, layer)};
}

std::vector<Figure> head_grids(HookedTransformer& model, const PlotSpec& spec, const ActivationCache& cache,
                               const torch::Tensor& tokens, K kind) {
  const auto& c = model.config();
  const int layer = layer_of(spec, resolve_all(model, spec), c, spec.plot_type.c_str());
  const auto prompt = checked_prompt(spec, tokens);
  const auto& values = cached(cache, hook_name(kind, layer), spec);  // [batch, heads, q, k]
  const auto labels = token_labels(model, tokens[prompt]);
  const bool scores = kind == K::AttnScores;
  std::vector<Figure> figures;
  for (auto h : heads_of(spec, c, spec.plot_type.c_str())) {
    auto grid = values[prompt][h].to(torch::kFloat64);
    if (scores) grid = grid.masked_fill(torch::isinf(grid), NAN);  // masked (future) keys: no value, not -inf
    const auto head = Head{layer, static_cast<int>(h)}.label();
    figures.push_back(
        {.title = !spec.title.empty()
                      ? fmt::format("{} ({})", spec.title, head)
                      : fmt::format("{} of {}", scores ? "Attention scores (QK, scaled)" : "Attention pattern", head),
         .body = Heatmap{.values = grid,
                         .rows = {.title = "query token", .labels = labels},
                         .cols = {.title = "key token", .labels = labels},
                         .colour = scores ? ColourScale::diverging : ColourScale::sequential,
                         .value_title = scores ? "score (before softmax)" : "attention"},
         .caption = scores ? "q·k / attn_scale (usually sqrt(d_head)) before the softmax; masked keys are empty."
                           : "Row: the query token; each row sums to 1 over the keys it can see."});
  }
  return figures;
}

std::vector<Figure> attention_view(HookedTransformer& model, const PlotSpec& spec, const ActivationCache& cache,
                                   const torch::Tensor& tokens) {
  const auto& c = model.config();
  const int layer = layer_of(spec, resolve_all(model, spec), c, "attention_view");
  const auto prompt = checked_prompt(spec, tokens);
  std::vector<std::string> heads;
  for (int64_t h = 0; h < c.n_heads; ++h) heads.push_back(Head{layer, static_cast<int>(h)}.label());
  return {{.title = spec.title.empty() ? fmt::format("Attention of layer {}, every head", layer) : spec.title,
           .body = AttentionView{.tokens = token_labels(model, tokens[prompt]),
                                 .patterns = cached(cache, hook_name(K::Pattern, layer), spec)[prompt],
                                 .head_labels = heads},
           .caption = "Choose a head; hover a token to see where it attends (blue) and what attends to it (red)."}};
}

// ---- induction heads and attention statistics, on the prompt repeated -------------------------------------------

// The prompt twice: an induction head attends from each token of the second copy to the token after its first
// occurrence (the stripe `period - 1` below the diagonal).
torch::Tensor repeated_prompt(const PlotSpec& spec, const torch::Tensor& tokens) {
  auto seq = tokens[checked_prompt(spec, tokens)];
  if (seq.size(0) < 2)
    throw Error(fmt::format("plot '{}': the prompt needs at least 2 tokens to repeat", spec.plot_type));
  return torch::cat({seq, seq}).unsqueeze(0);
}

// One forward over the prompt repeated, its patterns and the head scores they give (layer by layer).
struct RepeatedRun {
  torch::Tensor tokens;
  int64_t period = 0;
  ActivationCache cache;
  HeadScores scores;
};

RepeatedRun run_repeated(HookedTransformer& model, const PlotSpec& spec, const torch::Tensor& tokens) {
  RepeatedRun run{.tokens = repeated_prompt(spec, tokens)};
  run.period = run.tokens.size(1) / 2;
  torch::NoGradGuard no_grad;
  run.cache = model.run_with_cache(run.tokens, hook_kinds({K::Pattern})).second;
  std::vector<HeadScores> layers;
  for (int l = 0; l < model.config().n_layers; ++l)
    layers.push_back(layer_head_scores(run.cache.at("pattern", l), {.period = run.period}));
  auto stack = [&](torch::Tensor HeadScores::*field) {
    std::vector<torch::Tensor> rows;
    for (const auto& s : layers) rows.push_back(s.*field);
    return torch::stack(rows);
  };
  run.scores = {.previous_token = stack(&HeadScores::previous_token),
                .duplicate_token = stack(&HeadScores::duplicate_token),
                .induction = stack(&HeadScores::induction),
                .entropy = stack(&HeadScores::entropy)};
  return run;
}

std::vector<Figure> induction_heads(HookedTransformer& model, const PlotSpec& spec, const ActivationCache&,
                                    const torch::Tensor& tokens) {
  const auto& c = model.config();
  auto run = run_repeated(model, spec, tokens);
  const auto& scores = run.scores;
  const int64_t period = run.period;
  auto& cache = run.cache;
  auto& repeated = run.tokens;
  auto flat = scores.induction.flatten();
  const int64_t k = std::clamp<int64_t>(spec.top_k, 1, flat.numel());
  auto best = std::get<1>(flat.topk(k));
  const auto labels = token_labels(model, repeated[0]);
  std::vector<Figure> figures;
  for (int64_t i = 0; i < k; ++i) {
    const auto index = best[i].item<int64_t>();
    const Head head{static_cast<int>(index / c.n_heads), static_cast<int>(index % c.n_heads)};
    figures.push_back(
        {.title =
             fmt::format("{}{} (induction score {:.3f})", spec.title.empty() ? "Induction head " : spec.title + ": ",
                         head.label(), flat[index].item<double>()),
         .body = Heatmap{.values = cache.at("pattern", head.layer)[0][head.head],
                         .rows = {.title = "query token", .labels = labels},
                         .cols = {.title = "key token", .labels = labels},
                         .colour = ColourScale::sequential,
                         .value_title = "attention"},
         .caption = fmt::format("The prompt twice ({} tokens each). An induction head attends from each token of the "
                                "second copy to the token after its first occurrence: the stripe {} below the "
                                "diagonal. Heads ranked by mean attention along it.",
                                period, period - 1)});
  }
  return figures;
}

std::vector<Figure> attention_stats(HookedTransformer& model, const PlotSpec& spec, const ActivationCache&,
                                    const torch::Tensor& tokens) {
  const auto scores = run_repeated(model, spec, tokens).scores;
  const std::string prefix = spec.title.empty() ? "" : spec.title + ": ";
  auto map = [&](const char* name, const torch::Tensor& values, const char* value, const char* caption) {
    return Figure{.title = prefix + name,
                  .body = Heatmap{.values = values,
                                  .rows = {.title = "layer"},
                                  .cols = {.title = "head"},
                                  .colour = ColourScale::sequential,
                                  .value_title = value},
                  .caption = caption};
  };
  return {map("Attention entropy", scores.entropy, "entropy (nats)",
              "Mean entropy of each head's pattern over the repeated prompt: low is focused, high is spread."),
          map("Previous-token score", scores.previous_token, "mean attention",
              "Mean attention from each position to the one before it."),
          map("Duplicate-token score", scores.duplicate_token, "mean attention",
              "Mean attention from a token of the second copy to its first occurrence."),
          map("Induction score", scores.induction, "mean attention",
              "Mean attention from a token of the second copy to the token after its first occurrence.")};
}

// ---- neurons --------------------------------------------------------------------------------------------------

// The hook kind a neuron plot reads: the key's, else the MLP's output activations (the residual stream for
// attention-only models).
K unit_kind(HookedTransformer& model, const PlotSpec& spec) {
  auto keys = resolve_all(model, spec);
  if (!keys.empty()) {
    auto parsed = parse_hook_name(keys.front().hooks.front());
    return parsed->first;
  }
  return model_has(model.config(), K::MlpPost) ? K::MlpPost : K::ResidPost;
}

std::vector<std::string> all_layers(HookedTransformer& model, K kind) {
  std::vector<std::string> names;
  if (!hook_spec(kind).in_block()) return {hook_name(kind)};
  for (int l = 0; l < model.config().n_layers; ++l) names.push_back(hook_name(kind, l));
  return names;
}

std::vector<Figure> neuron_activation(HookedTransformer& model, const PlotSpec& spec, const ActivationCache& cache,
                                      const torch::Tensor&) {
  const auto kind = unit_kind(model, spec);
  Distribution d{.x = {.title = "layer"}, .y = {.title = "activation"}};
  for (const auto& name : all_layers(model, kind)) {
    auto parsed = parse_hook_name(name);
    d.groups.push_back({.label = parsed->second >= 0 ? layer_label(parsed->second) : name,
                        .values = sample(cached(cache, name, spec))});
  }
  return {{.title = spec.title.empty()
                        ? fmt::format("Distribution of {} activations by layer", hook_spec(kind).short_name)
                        : spec.title,
           .body = std::move(d),
           .caption = fmt::format("Every value of {} over the batch, positions and units (evenly sampled to at most "
                                  "4000 per layer); the box marks the quartiles, the line the mean.",
                                  hook_spec(kind).pattern)}};
}

// The point a trajectory plot reads: the key's kind in the key's layer, or by default the last layer's.
std::string trajectory_hook(HookedTransformer& model, const PlotSpec& spec) {
  const auto kind = unit_kind(model, spec);
  if (!hook_spec(kind).in_block()) return hook_name(kind);
  const auto& c = model.config();
  const int layer = spec.data_keys.empty() && !spec.layer
                        ? static_cast<int>(c.n_layers) - 1
                        : layer_of(spec, resolve_all(model, spec), c, "neuron_activation_trajectories");
  return hook_name(kind, layer);
}

std::vector<Figure> neuron_trajectories(HookedTransformer& model, const PlotSpec& spec, const ActivationCache& cache,
                                        const torch::Tensor& tokens) {
  const auto name = trajectory_hook(model, spec);
  const auto prompt = checked_prompt(spec, tokens);
  auto acts = cached(cache, name, spec)[prompt].to(torch::kFloat64);  // [pos, units] (or [pos, heads, d])
  acts = acts.reshape({acts.size(0), -1});
  const int64_t k = std::clamp<int64_t>(spec.top_k, 1, acts.size(1));
  auto top = std::get<1>(acts.abs().mean(0).topk(k));
  LinePlot lines{.x = {.title = "token", .labels = token_labels(model, tokens[prompt])}, .y = {.title = "activation"}};
  for (int64_t i = 0; i < k; ++i) {
    const auto unit = top[i].item<int64_t>();
    lines.series.push_back({.name = fmt::format("unit {}", unit), .y = to_vector(acts.select(1, unit))});
  }
  return {{.title = spec.title.empty() ? fmt::format("The {} most active units of {} across the prompt", k, name)
                                       : spec.title,
           .body = std::move(lines),
           .caption = "Units ranked by mean |activation| over the prompt's positions."}};
}

// ---- residual stream and norms ----------------------------------------------------------------------------------

std::vector<std::string> residual_needs(HookedTransformer& model, const PlotSpec&) {
  auto names = all_layers(model, K::ResidPost);
  names.insert(names.begin(), hook_name(K::ResidPre, 0));
  return names;
}

std::vector<Figure> residual_stream(HookedTransformer& model, const PlotSpec& spec, const ActivationCache& cache,
                                    const torch::Tensor& tokens) {
  const auto names = residual_needs(model, spec);
  Series mean{.name = "mean over positions"}, last{.name = "last position"};
  std::vector<std::string> labels = {"embed"};
  for (int l = 0; l < model.config().n_layers; ++l) labels.push_back(fmt::format("after L{}", l));
  for (const auto& name : names) {
    auto norms = cached(cache, name, spec).to(torch::kFloat64).norm(2, -1);  // [batch, pos]
    mean.y.push_back(norms.mean().item<double>());
    last.y.push_back(norms.select(1, -1).mean().item<double>());
  }
  return {{.title = spec.title.empty() ? "Norm of the residual stream by layer" : spec.title,
           .body = LinePlot{.x = {.title = "residual stream", .labels = labels},
                            .y = {.title = "L2 norm"},
                            .series = {mean, last}},
           .caption = fmt::format("L2 norm of resid_pre 0 (the embeddings) and of resid_post after each layer, mean "
                                  "over {} prompt(s).",
                                  tokens.size(0))}};
}

std::vector<std::string> norm_needs(HookedTransformer& model, const PlotSpec&) {
  std::vector<std::string> names;
  for (int l = 0; l < model.config().n_layers; ++l)
    for (auto kind : {K::Ln1Scale, K::Ln2Scale})
      if (model_has(model.config(), kind)) names.push_back(hook_name(kind, l));
  if (model_has(model.config(), K::LnFinalScale)) names.push_back(hook_name(K::LnFinalScale));
  if (names.empty()) throw Error("plot 'layer_norms': the model has no normalisation layers");
  return names;
}

std::vector<Figure> layer_norms(HookedTransformer& model, const PlotSpec& spec, const ActivationCache& cache,
                                const torch::Tensor& tokens) {
  const auto prompt = checked_prompt(spec, tokens);
  std::vector<torch::Tensor> rows;
  std::vector<std::string> labels;
  for (const auto& name : norm_needs(model, spec)) {
    rows.push_back(cached(cache, name, spec)[prompt].flatten().to(torch::kFloat64));  // [pos]
    auto parsed = parse_hook_name(name);
    const auto& s = hook_spec(parsed->first);
    labels.push_back(parsed->second >= 0 ? fmt::format("L{} {}", parsed->second, s.layer_type)
                                         : std::string(s.layer_type));
  }
  return {
      {.title = spec.title.empty() ? "Scale of each normalisation by position" : spec.title,
       .body = Heatmap{.values = torch::stack(rows),
                       .rows = {.title = "norm", .labels = labels},
                       .cols = {.title = "token", .labels = token_labels(model, tokens[prompt])},
                       .colour = ColourScale::sequential,
                       .value_title = "scale (1 / rms or 1 / std)"},
       .caption = "What each norm multiplies the centred stream by (hook_scale): large where the stream is small."}};
}

const std::vector<PlotType>& plot_type_registry() {
  static const std::vector<PlotType> types = {
      {"attention", [](auto& m, const auto& s) { return attention_needs(m, s, K::Pattern); },
       [](auto& m, const auto& s, const auto& c, const auto& t) { return head_grids(m, s, c, t, K::Pattern); }},
      {"attention_view", [](auto& m, const auto& s) { return attention_needs(m, s, K::Pattern); }, attention_view},
      {"induction_heads", [](auto&, const auto&) { return std::vector<std::string>{}; }, induction_heads},
      {"attention_stats", [](auto&, const auto&) { return std::vector<std::string>{}; }, attention_stats},
      {"neuron_activation", [](auto& m, const auto& s) { return all_layers(m, unit_kind(m, s)); }, neuron_activation},
      {"neuron_activation_trajectories",
       [](auto& m, const auto& s) { return std::vector<std::string>{trajectory_hook(m, s)}; }, neuron_trajectories},
      {"qk_dot_product", [](auto& m, const auto& s) { return attention_needs(m, s, K::AttnScores); },
       [](auto& m, const auto& s, const auto& c, const auto& t) { return head_grids(m, s, c, t, K::AttnScores); }},
      {"residual_stream", residual_needs, residual_stream},
      {"layer_norms", norm_needs, layer_norms},
  };
  return types;
}

const PlotType& plot_type(const std::string& name) {
  for (const auto& t : plot_type_registry())
    if (t.name == name) return t;
  throw Error(fmt::format("no plot type '{}' (did you mean {}?; types: {})", name,
                          quoted_list(closest_names(name, plot_types(), 1)), quoted_list(plot_types())));
}

}  // namespace

const std::vector<std::string>& plot_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& t : plot_type_registry()) out.push_back(t.name);
    return out;
  }();
  return names;
}

DataKey resolve_data_key(HookedTransformer& model, const std::string& key, std::optional<int> layer) {
  auto layer_of_hook = [](const std::string& name) {
    auto parsed = parse_hook_name(name);
    return parsed ? parsed->second : -1;
  };
  if (has_point(model, key)) return {key, {key}, layer_of_hook(key)};
  // A TransformerLens short form ("pattern", "resid_post") with the spec's layer.
  try {
    auto full = act_name(key, layer);
    if (full != key && has_point(model, full)) return {key, {full}, layer_of_hook(full)};
  } catch (const Error&) {
  }
  if (auto module = resolve_module_path(model.config(), key)) return {key, module->hooks, module->module.layer};
  // Nothing: list what is closest among every name a key may take.
  std::vector<std::string> candidates = model.hooks().names();
  for (const auto& alias : module_aliases(model.config())) {
    candidates.push_back(alias.path);
    if (alias.short_path != alias.path) candidates.push_back(alias.short_path);
  }
  for (const auto& spec : hook_catalogue()) candidates.emplace_back(spec.short_name);
  throw Error(
      fmt::format("data key '{}' names no hook point, short form{} or module path of this {} model; closest: "
                  "{} (`arrakis hooks --model DIR` lists them all)",
                  key, layer ? fmt::format(" (layer {})", *layer) : std::string(), model.config().family,
                  quoted_list(closest_names(key, candidates, 5))));
}

std::vector<std::string> hooks_needed(HookedTransformer& model, const PlotSpec& spec) {
  return plot_type(spec.plot_type).needs(model, spec);
}

std::vector<Figure> plot_figures(HookedTransformer& model, const PlotSpec& spec, const ActivationCache& cache,
                                 const torch::Tensor& tokens) {
  if (!tokens.defined() || tokens.dim() != 2 || tokens.size(1) == 0)
    throw Error(fmt::format("plot '{}': tokens must be [batch, positions]", spec.plot_type));
  return plot_type(spec.plot_type).draw(model, spec, cache, tokens);
}

std::vector<Figure> plot_results(HookedTransformer& model, const std::vector<PlotSpec>& specs,
                                 const torch::Tensor& tokens) {
  std::set<std::string> seen;
  std::vector<std::string> names;
  for (const auto& spec : specs)
    for (auto& name : hooks_needed(model, spec))
      if (seen.insert(name).second) names.push_back(std::move(name));
  torch::NoGradGuard no_grad;
  ActivationCache cache;
  if (!names.empty()) cache = model.run_with_cache(tokens, NameFilter(names)).second;
  std::vector<Figure> figures;
  for (const auto& spec : specs) {
    auto more = plot_figures(model, spec, cache, tokens);
    figures.insert(figures.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  return figures;
}

std::vector<Figure> plot_tensors(const NamedTensors& tensors, const std::vector<std::string>& keys,
                                 const std::string& title_prefix) {
  std::vector<Figure> figures;
  for (const auto& key : keys) {
    auto it = std::find_if(tensors.begin(), tensors.end(), [&](const auto& named) { return named.first == key; });
    if (it == tensors.end()) {
      std::vector<std::string> names;
      for (const auto& [name, _] : tensors) names.push_back(name);
      throw Error(fmt::format("no tensor '{}' to plot (closest: {})", key, quoted_list(closest_names(key, names, 5))));
    }
    const auto& t = it->second;
    const std::string title = title_prefix.empty() ? key : title_prefix + ": " + key;
    if (t.dim() == 2) {
      figures.push_back(
          {.title = title,
           .body = Heatmap{.values = t, .rows = {.title = "row"}, .cols = {.title = "column"}, .value_title = key}});
    } else if (t.dim() <= 1) {
      figures.push_back(
          {.title = title,
           .body =
               LinePlot{.x = {.title = "index"}, .y = {.title = key}, .series = {{.name = key, .y = to_vector(t)}}}});
    } else {
      throw Error(fmt::format("tensor '{}' is {}-D: plot_tensors draws 1-D (a line) and 2-D (a heatmap) tensors", key,
                              t.dim()));
    }
  }
  return figures;
}

}  // namespace arrakis
