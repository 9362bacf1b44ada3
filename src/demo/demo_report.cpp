#include "arrakis/demo/demo_report.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

#include <functional>
#include <map>

#include "arrakis/analysis/activation_patching.hpp"
#include "arrakis/analysis/circuits.hpp"
#include "arrakis/analysis/head_detectors.hpp"
#include "arrakis/analysis/metrics.hpp"
#include "arrakis/demo/demo_model.hpp"
#include "arrakis/experiments/interpretability_bench.hpp"
#include "arrakis/model/head.hpp"
#include "arrakis/plots/plot_backend.hpp"
#include "arrakis/util/seeded_generator.hpp"

namespace arrakis {
namespace {

using torch::indexing::Slice;

std::string shape_string(const torch::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

// What every analysis sees: the bench it logs into, the model, the sequences and one cached forward over them.
struct DemoContext {
  InterpretabilityBench& bench;
  HookedTransformer& model;
  std::ostream& out;
  torch::Tensor tokens;  // [batch, 1 + 2T]: BOS, T random tokens, the same T again
  int64_t T = 0;
  torch::Tensor logits;
  ActivationCache cache;
  std::string strongest_head;  // set by the head analysis, read by the ablation
  HypothesisReport ablation;   // kept by the analyses for printing
  ModelProfile profile;
  std::vector<Figure> plots;  // the HTML report's figures, added by the analyses
};

std::vector<std::string> head_labels(int64_t heads) {
  std::vector<std::string> labels;
  for (int64_t h = 0; h < heads; ++h) labels.push_back(fmt::format("H{}", h));
  return labels;
}

// ---- the analyses: each logs itself as the experiment "demo.<name>" and prints its part of the report. Add one by
// writing a function like these and listing it in kAnalyses below. ---------------------------------------------------

void predictions(DemoContext& ctx) {
  auto analysis = ARRAKIS_EXPERIMENT(ctx.bench, "demo.predictions", (const torch::Tensor& tokens, int64_t T), {
    auto per_token = lm_loss(ctx.logits, tokens, {}, /*per_token=*/true);  // position p predicts p + 1
    auto predicted = ctx.logits.argmax(-1);
    auto hits = predicted.index({Slice(), Slice(T, 2 * T)}) == tokens.index({Slice(), Slice(T + 1, 2 * T + 1)});
    return ExperimentResults{
        {"loss_first_copy", per_token.index({Slice(), Slice(0, T)}).mean().item<double>()},
        {"loss_second_copy", per_token.index({Slice(), Slice(T, torch::indexing::None)}).mean().item<double>()},
        {"repeat_accuracy", hits.to(torch::kFloat32).mean().item<double>()}};
  });
  auto r = analysis(ctx.tokens, ctx.T);
  const auto& c = ctx.model.config();
  fmt::print(ctx.out, "Predictions on {} sequences of {} random tokens, each repeated once ({} positions):\n",
             ctx.tokens.size(0), ctx.T, ctx.tokens.size(1));
  fmt::print(ctx.out, "  loss on the first copy  {:.3f} nats (chance: ln({}) = {:.3f})\n",
             r.get<double>("loss_first_copy"), c.d_vocab - 1, std::log(static_cast<double>(c.d_vocab - 1)));
  fmt::print(ctx.out,
             "  loss on the second copy {:.3f} nats; top-1 accuracy {:.1f}%: the model copies what came "
             "before\n",
             r.get<double>("loss_second_copy"), 100.0 * r.get<double>("repeat_accuracy"));

  auto probs = torch::softmax(ctx.logits.index({0}), -1);
  auto row = ctx.tokens[0].contiguous();
  std::vector<int64_t> ids(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
  fmt::print(ctx.out, "\n  sequence 0: {}\n", fmt::join(ids, " "));
  fmt::print(ctx.out, "  {:>8} {:>6} {:>10} {:>12}\n", "position", "token", "next", "top guess");
  const int64_t T = ctx.T;
  for (int64_t p : {int64_t{1}, int64_t{2}, T - 1, T, T + 1, T + 2, 2 * T - 1}) {
    auto top = probs[p].max(-1);
    fmt::print(ctx.out, "  {:>8} {:>6} {:>10} {:>6} ({:4.1f}%)\n", p, ctx.tokens.index({0, p}).item<int64_t>(),
               ctx.tokens.index({0, p + 1}).item<int64_t>(), std::get<1>(top).item<int64_t>(),
               100.0 * std::get<0>(top).item<double>());
  }
}

void attention_heads(DemoContext& ctx) {
  auto analysis = ARRAKIS_EXPERIMENT(ctx.bench, "demo.attention_heads", (int64_t T), {
    std::vector<torch::Tensor> previous, induction;
    for (int l = 0; l < ctx.model.config().n_layers; ++l) {
      // The sequences repeat with period T after BOS (offset 1).
      auto scores = layer_head_scores(ctx.cache.at("pattern", l), {.period = T, .offset = 1});
      previous.push_back(scores.previous_token);
      induction.push_back(scores.induction);
    }
    auto induction_scores = torch::stack(induction);  // [layer, head]
    auto best = induction_scores.flatten().argmax().item<int64_t>();
    const auto heads = induction_scores.size(1);
    return ExperimentResults{
        {"previous_token_scores", torch::stack(previous)},
        {"induction_scores", induction_scores},
        {"strongest_induction_head", Head{static_cast<int>(best / heads), static_cast<int>(best % heads)}.label()},
        {"strongest_induction_score", induction_scores.flatten()[best].item<double>()}};
  });
  auto r = analysis(ctx.T);
  auto previous = r["previous_token_scores"].tensor(), induction = r["induction_scores"].tensor();
  ctx.strongest_head = r.get<std::string>("strongest_induction_head");
  fmt::print(ctx.out,
             "\nAttention heads (mean attention; induction = to the token after the previous occurrence, "
             "offset {}):\n",
             ctx.T - 1);
  fmt::print(ctx.out, "  {:>6} {:>15} {:>15}\n", "head", "previous-token", "induction");
  for (int64_t l = 0; l < previous.size(0); ++l)
    for (int64_t h = 0; h < previous.size(1); ++h)
      fmt::print(ctx.out, "  {:>6} {:>15.3f} {:>15.3f}\n", Head{static_cast<int>(l), static_cast<int>(h)}.label(),
                 previous[l][h].item<double>(), induction[l][h].item<double>());
  fmt::print(ctx.out, "  strongest induction head: {} ({:.3f})\n", ctx.strongest_head,
             r.get<double>("strongest_induction_score"));
  auto head_map = [&](std::string title, const torch::Tensor& values, std::string caption) {
    ctx.plots.push_back({.title = std::move(title),
                         .body = Heatmap{.values = values,
                                         .rows = {.title = "layer"},
                                         .cols = {.title = "head", .labels = head_labels(values.size(1))},
                                         .colour = ColourScale::sequential,
                                         .value_title = "mean attention"},
                         .caption = std::move(caption)});
  };
  head_map("Previous-token score", previous, "Mean attention from each position to the one before it.");
  head_map("Induction score", induction,
           fmt::format("Mean attention from each token of the second copy to the token after its occurrence in the "
                       "first copy (offset {}). The strongest induction head is {}.",
                       ctx.T - 1, ctx.strongest_head));
  // The strongest induction head's pattern on the first sequence: the induction stripe, T - 1 below the diagonal.
  const auto head = Head::parse(ctx.strongest_head);
  auto pattern = ctx.cache.at("pattern", head.layer)[0][head.head];
  std::vector<std::string> positions;
  for (int64_t p = 0; p < pattern.size(0); ++p)
    positions.push_back(p == 0 ? "BOS" : fmt::format("{}{}", p <= ctx.T ? "a" : "b", (p - 1) % ctx.T));
  ctx.plots.push_back({.title = fmt::format("Attention pattern of {} on the first sequence", ctx.strongest_head),
                       .body = Heatmap{.values = pattern,
                                       .rows = {.title = "query position", .labels = positions},
                                       .cols = {.title = "key position", .labels = positions},
                                       .colour = ColourScale::sequential,
                                       .value_title = "attention"},
                       .caption = "Positions a0..a15 are the first copy of the random tokens, b0..b15 the second. "
                                  "An induction head attends from bi to a(i+1): the stripe below the diagonal."});
}

// Weight-based: which layer-0 heads do the layer-1 heads' keys read from (K-composition), and which heads copy.
void circuits(DemoContext& ctx) {
  auto analysis = ARRAKIS_EXPERIMENT(ctx.bench, "demo.circuits", (), {
    auto k = all_composition_scores(ctx.model, CompositionKind::K);  // [l1, h1, l2, h2]
    return ExperimentResults{{"k_composition_0_to_1", k.select(0, 0).select(1, 1).contiguous()},
                             {"ov_copying", ov_copying_scores(ctx.model)}};
  });
  auto r = analysis();
  auto k = r["k_composition_0_to_1"].tensor(), copying = r["ov_copying"].tensor();  // k: [layer-0 head, layer-1 head]
  const int64_t receiver = Head::parse(ctx.strongest_head).head;
  const int64_t sender = k.select(1, receiver).argmax().item<int64_t>();
  fmt::print(ctx.out, "\nCircuits from the weights alone: K-composition of layer-0 heads into {}'s keys:\n  ",
             ctx.strongest_head);
  for (int64_t h = 0; h < k.size(0); ++h) fmt::print(ctx.out, "L0H{} {:.3f}   ", h, k[h][receiver].item<double>());
  fmt::print(ctx.out,
             "\n  strongest: L0H{} — the previous-token head whose output the induction head's keys "
             "read\n",
             sender);
  fmt::print(ctx.out, "  OV copying score of {}: {:.3f} (1 = copies the token it attends to)\n", ctx.strongest_head,
             copying[1][receiver].item<double>());
  ctx.plots.push_back({.title = "K-composition of layer-0 heads into layer-1 heads' keys",
                       .body = Heatmap{.values = k,
                                       .rows = {.title = "layer-0 head", .labels = head_labels(k.size(0))},
                                       .cols = {.title = "layer-1 head", .labels = head_labels(k.size(1))},
                                       .colour = ColourScale::sequential,
                                       .value_title = "composition score"},
                       .caption = "How much of what each layer-0 head writes the layer-1 head's keys read "
                                  "(Elhage et al. 2021), from the weights alone."});
  ctx.plots.push_back({.title = "OV copying score",
                       .body = Heatmap{.values = copying,
                                       .rows = {.title = "layer"},
                                       .cols = {.title = "head", .labels = head_labels(copying.size(1))},
                                       .value_title = "copying score"},
                       .caption = "Re(Σλ) / Σ|λ| over the eigenvalues of the full OV circuit W_E·OV·W_U: 1 means "
                                  "the head copies the token it attends to, -1 that it suppresses it."});
}

// Activation patching: corrupt the first copy (fresh random tokens), patch the clean residual stream back one
// (layer, position) at a time, and watch the log-probability of the right last token come back.
void patching(DemoContext& ctx) {
  auto analysis = ARRAKIS_EXPERIMENT(ctx.bench, "demo.patching", (const torch::Tensor& tokens, uint64_t seed), {
    const int64_t batch = std::min<int64_t>(8, tokens.size(0)), last = tokens.size(1) - 1;
    auto clean = tokens.index({Slice(0, batch), Slice(0, last)}).clone();
    auto answers = tokens.index({Slice(0, batch), last});
    // Not the stream the sequences came from (that seed would redraw the very tokens it replaces).
    auto generator = seeded_generator(seed + 1);
    auto fresh = at::randint(1, ctx.model.config().d_vocab, {batch, ctx.T}, generator,
                             torch::TensorOptions().dtype(torch::kInt64));
    auto corrupted = torch::cat(
        {clean.index({Slice(), Slice(0, 1)}), fresh, clean.index({Slice(), Slice(ctx.T + 1, torch::indexing::None)})},
        1);
    auto result =
        activation_patching(ctx.model, {.clean_tokens = clean, .corrupted_tokens = corrupted}, logprob_metric(answers),
                            {.component = PatchComponent::ResidPre, .metric_reads_last_position = true});
    return ExperimentResults{{"resid_pre_by_layer_position", result.values.to(torch::kFloat32)},
                             {"clean_logprob", result.clean_metric},
                             {"corrupted_logprob", result.corrupted_metric}};
  });
  auto r = analysis(ctx.tokens, ctx.bench.seed());
  auto values = r["resid_pre_by_layer_position"].tensor();  // [layer, position]
  const double clean = r.get<double>("clean_logprob"), corrupted = r.get<double>("corrupted_logprob");
  fmt::print(ctx.out,
             "\nActivation patching (first copy replaced by fresh random tokens; clean resid_pre patched in "
             "per layer and position):\n");
  fmt::print(ctx.out, "  log-prob of the right last token: clean {:.3f}, corrupted {:.3f}\n", clean, corrupted);
  for (int64_t l = 0; l < values.size(0); ++l) {
    auto best = values[l].argmax().item<int64_t>();
    fmt::print(ctx.out, "  layer {}: patching position {} recovers the most ({:.3f})\n", l, best,
               values[l][best].item<double>());
  }
  ctx.plots.push_back(
      {.title = "Activation patching of the residual stream (resid_pre)",
       .body = Heatmap{.values = values,
                       .rows = {.title = "layer"},
                       .cols = {.title = "position"},
                       .colour = ColourScale::sequential,
                       .value_title = "log-prob of the right token"},
       .caption = fmt::format("Log-probability of the right last token when the clean residual stream is patched "
                              "into the corrupted run at one layer and position (clean {:.3f}, corrupted {:.3f}).",
                              clean, corrupted)});
}

void induction_ablation(DemoContext& ctx) {
  auto analysis =
      ARRAKIS_EXPERIMENT(ctx.bench, "demo.induction_ablation", (const torch::Tensor& tokens, std::string head), {
        const auto ablated_head = Head::parse(head);
        auto zero_head = [&](const torch::Tensor& z) { z.select(2, ablated_head.head).zero_(); };
        auto ablated = ctx.model.run_with_hooks(tokens, {{hooks::z(ablated_head.layer), zero_head}});
        // Per sequence: the mean loss on the second copy, where induction does its work.
        auto second_copy = [&](const torch::Tensor& logits) {
          return lm_loss(logits, tokens, {}, true).index({Slice(), Slice(ctx.T, torch::indexing::None)}).mean(1);
        };
        auto clean = to_vector(second_copy(ctx.logits)), without = to_vector(second_copy(ablated));
        ctx.ablation = ctx.bench.test_hypothesis(without, clean, {.paired = true, .alternative = Alternative::Greater});
        return ExperimentResults{{"loss_clean", clean}, {"loss_ablated", without}, {"test", ctx.ablation.to_json()}};
      });
  analysis(ctx.tokens, ctx.strongest_head);
  fmt::print(ctx.out, "\nAblating {} (its output zeroed): loss on the second copy, per sequence, ablated vs clean:\n",
             ctx.strongest_head);
  fmt::print(ctx.out, "{}", ctx.ablation.table());
}

void profile(DemoContext& ctx) {
  auto analysis = ARRAKIS_EXPERIMENT(ctx.bench, "demo.profile", (const torch::Tensor& tokens), {
    ctx.profile = ctx.bench.profile_model(tokens, {.repeats = 3});
    return ExperimentResults{{"profile", ctx.profile.to_json()}};
  });
  analysis(ctx.tokens);
  fmt::print(ctx.out, "\nWhere the forward spends its time and memory ({} sequences x {} positions, fastest of {}):\n",
             ctx.profile.batch, ctx.profile.positions, ctx.profile.repeats);
  fmt::print(ctx.out, "{}", ctx.profile.table());
}

void activation_cache(DemoContext& ctx) {
  auto analysis = ARRAKIS_EXPERIMENT(ctx.bench, "demo.activation_cache", (), {
    nlohmann::json shapes = nlohmann::json::object();
    for (const auto& name : ctx.cache) shapes[name] = ctx.cache[name].sizes().vec();
    return ExperimentResults{
        {"hook_points", static_cast<int64_t>(ctx.cache.size())}, {"bytes", ctx.cache.nbytes()}, {"shapes", shapes}};
  });
  auto r = analysis().values();
  fmt::print(ctx.out, "\nActivation cache: {} hook points, {:.2f} MB for {} tokens\n",
             r[0].second.json().get<int64_t>(), static_cast<double>(r[1].second.json().get<int64_t>()) / (1 << 20),
             ctx.tokens.numel());
  std::map<std::string, std::pair<int, std::string>> kinds;  // name without the layer -> (count, shape)
  std::vector<std::string> order;
  for (const auto& name : ctx.cache) {
    std::string kind = name;
    if (kind.starts_with("blocks.")) kind = "blocks.L." + kind.substr(kind.find('.', 7) + 1);
    if (!kinds.count(kind)) order.push_back(kind);
    auto& entry = kinds[kind];
    entry.first++;
    entry.second = shape_string(ctx.cache[name]);
  }
  for (const auto& kind : order)
    fmt::print(ctx.out, "  {:<32} {:>3} x {}\n", kind, kinds[kind].first, kinds[kind].second);
}

const std::vector<std::function<void(DemoContext&)>> kAnalyses = {
    predictions, attention_heads, circuits, induction_ablation, patching, profile, activation_cache};

}  // namespace

void run_demo(std::ostream& out, const DemoOptions& options) {
  torch::NoGradGuard no_grad;
  auto model = load_demo_model();
  if (options.dtype != model.config().dtype) model.to(options.dtype);
  if (options.device != model.device()) model.to(options.device);
  InterpretabilityBench bench(model, options.save_dir);
  bench.set_seed(options.seed);
  const auto& c = model.config();

  int64_t parameters = 0;
  for (const auto& [name, t] : model.weights().named_parameters(c)) parameters += t.numel();
  fmt::print(out, "Arrakis demo: {} — {} layers, {} heads x {} dims, d_model {}, attention-only, {} parameters\n",
             c.model_name, c.n_layers, c.n_heads, c.d_head, c.d_model, parameters);
  fmt::print(out,
             "Trained by Arrakis itself to continue repeated segments of random tokens "
             "(reproduce: arrakis train-demo-model --out DIR).\n\n");

  auto generator = seeded_generator(options.seed);
  DemoContext ctx{bench, model, out};
  ctx.T = 16;
  ctx.tokens = repeated_random_tokens(options.batch, ctx.T, c.d_vocab, generator);
  std::tie(ctx.logits, ctx.cache) = model.run_with_cache(ctx.tokens);
  for (const auto& analysis : kAnalyses) analysis(ctx);
  const auto report = bench.save_dir() / "demo-report.html";
  write_figures(report, ctx.plots, {.page_title = fmt::format("Arrakis demo: {}", c.model_name)});
  fmt::print(out, "\nFigures: {} (open it in a browser)\n", report.string());

  fmt::print(out,
             "\nEach analysis above is logged as an experiment in {} ({} runs there in all): "
             "`arrakis experiments list --save-dir {}`\n",
             bench.save_dir().string(), bench.store().run_count(), bench.save_dir().string());
}

}  // namespace arrakis
