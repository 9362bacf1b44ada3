// PlotSpec and plot_results: data keys (hook names, short forms, Hugging Face module paths) resolve to the tensors
// those modules compute — checked by recomputing the modules from the weights — and every plot type draws the data
// it promises from one forward.
#include <cmath>
#include <map>
#include <set>

#include "arrakis/analysis/head_detectors.hpp"
#include "arrakis/demo/demo_model.hpp"
#include "arrakis/error.hpp"
#include "arrakis/experiments/interpretability_bench.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/head.hpp"
#include "arrakis/model/module_paths.hpp"
#include "arrakis/plots/plot_spec.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

std::vector<std::string> outputs_of(const ModelConfig& c, const std::string& key) {
  auto resolved = resolve_module_path(c, key);
  return resolved ? resolved->hooks : std::vector<std::string>{"(none)"};
}

TEST(ModuleAliases, Gpt2PathsNameThePointsHoldingTheModulesTensors) {
  auto model = test::random_model("gpt2");
  const auto& c = model.config();
  EXPECT_EQ(outputs_of(c, "h.1.attn"), (std::vector<std::string>{"blocks.1.hook_attn_out"}));
  EXPECT_EQ(outputs_of(c, "transformer.h.1.attn"), outputs_of(c, "h.1.attn"));  // with or without the root
  EXPECT_EQ(outputs_of(c, "h.1.attn.c_attn"),
            (std::vector<std::string>{"blocks.1.attn.hook_q", "blocks.1.attn.hook_k", "blocks.1.attn.hook_v"}));
  EXPECT_EQ(outputs_of(c, "h.0.mlp.c_proj.hook_result_pre"), (std::vector<std::string>{"blocks.0.mlp.hook_post"}));
  EXPECT_EQ(outputs_of(c, "h.0.mlp.act.hook_result_post"), (std::vector<std::string>{"blocks.0.mlp.hook_post"}));
  EXPECT_EQ(outputs_of(c, "h.0.hook_result_pre"), (std::vector<std::string>{"blocks.0.hook_resid_pre"}));
  // No point holds a LayerNorm's output (hook_normalized is taken before its weight and bias), nor the input of the
  // modules reading it: no alias rather than a wrong one.
  EXPECT_EQ(outputs_of(c, "h.0.ln_1"), (std::vector<std::string>{"(none)"}));
  EXPECT_EQ(outputs_of(c, "h.0.attn.c_attn.hook_result_pre"), (std::vector<std::string>{"(none)"}));

  // Recomputed from the weights as GPT-2's modules compute them: c_attn(ln_1(resid_pre)) holds q, k, v; c_fc's
  // output is hook_pre; mlp.c_proj(act) is hook_mlp_out.
  torch::NoGradGuard no_grad;
  auto tokens = torch::randint(0, c.d_vocab, {2, 7}, seeded_generator(3), torch::kInt64);
  auto [logits, cache] = model.run_with_cache(tokens);
  const auto& w = model.weights();
  const auto& block = w.blocks[1];
  auto ln1 = torch::layer_norm(cache["blocks.1.hook_resid_pre"], {c.d_model}, block.ln1.w, block.ln1.b, c.eps);
  auto q = torch::einsum("bpd,hde->bphe", {ln1, block.attn.W_Q}) + block.attn.b_Q;
  EXPECT_LT(test::max_abs_diff(q, cache[outputs_of(c, "h.1.attn.c_attn")[0]]), 1e-5);
  auto ln2 = torch::layer_norm(cache["blocks.1.hook_resid_mid"], {c.d_model}, block.ln2.w, block.ln2.b, c.eps);
  auto pre = torch::matmul(ln2, block.mlp.W_in) + block.mlp.b_in;
  EXPECT_LT(test::max_abs_diff(pre, cache[outputs_of(c, "h.1.mlp.c_fc")[0]]), 1e-5);
  auto out = torch::matmul(cache["blocks.1.mlp.hook_post"], block.mlp.W_out) + block.mlp.b_out;
  EXPECT_LT(test::max_abs_diff(out, cache[outputs_of(c, "h.1.mlp")[0]]), 1e-5);
}

TEST(ModuleAliases, LlamaFamiliesNameTheirProjectionsAndListEveryAliasOnce) {
  for (const std::string family : {"llama", "qwen2", "phi3", "gpt-neox", "gpt-neo"}) {
    SCOPED_TRACE(family);
    auto model = test::random_model(family);
    const auto& c = model.config();
    std::set<std::string> paths;
    for (const auto& alias : module_aliases(c)) {
      EXPECT_TRUE(paths.insert(alias.path).second) << "listed twice: " << alias.path;
      ASSERT_FALSE(alias.outputs.empty()) << alias.path;
      for (const auto& hook : alias.outputs) EXPECT_TRUE(parse_hook_name(hook)) << alias.path << " -> " << hook;
    }
    if (family == "llama" || family == "qwen2") {
      EXPECT_EQ(outputs_of(c, "model.layers.1.self_attn.q_proj"), (std::vector<std::string>{"blocks.1.attn.hook_q"}));
      EXPECT_EQ(outputs_of(c, "layers.1.mlp.gate_proj"), (std::vector<std::string>{"blocks.1.mlp.hook_pre"}));
      EXPECT_EQ(outputs_of(c, "layers.1.mlp.up_proj"), (std::vector<std::string>{"blocks.1.mlp.hook_pre_linear"}));
      EXPECT_EQ(outputs_of(c, "model.layers.1.mlp"), (std::vector<std::string>{"blocks.1.hook_mlp_out"}));
      EXPECT_EQ(outputs_of(c, "model.norm"), (std::vector<std::string>{"(none)"}));  // RMSNorm with a weight
    }
    if (family == "phi3") {
      EXPECT_EQ(outputs_of(c, "model.layers.0.mlp.gate_up_proj"),
                (std::vector<std::string>{"blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_pre_linear"}));
    }
    if (family == "gpt-neox") {
      EXPECT_EQ(outputs_of(c, "gpt_neox.layers.0.attention.query_key_value").size(), 3u);
    }
    if (family == "gpt-neo") {
      EXPECT_EQ(outputs_of(c, "h.0.attn.attention.out_proj.hook_result_pre"),
                (std::vector<std::string>{"blocks.0.attn.hook_z"}));
    }
    // TransformerLens' module names hold for every family.
    EXPECT_EQ(outputs_of(c, "blocks.0.attn"), (std::vector<std::string>{"blocks.0.hook_attn_out"}));
  }
}

TEST(PlotSpec, SeedKeysPlotTheSameDataAsTheHookNamesAndUnknownKeysListTheClosest) {
  auto model = test::random_model("gpt2");
  auto tokens = torch::randint(0, 512, {1, 6}, seeded_generator(1), torch::kInt64);
  auto by_hook = plot_results(model, {{.plot_type = "attention", .data_keys = {"blocks.1.attn.hook_pattern"}}}, tokens);
  ASSERT_EQ(by_hook.size(), 4u);  // one per head
  for (const auto& key : {"h.1.attn", "h.1.attn.c_attn", "transformer.h.1.attn", "blocks.1.attn"}) {
    auto by_alias = plot_results(model, {{.plot_type = "attention", .data_keys = {key}}}, tokens);
    ASSERT_EQ(by_alias.size(), by_hook.size()) << key;
    for (std::size_t i = 0; i < by_hook.size(); ++i) EXPECT_EQ(by_alias[i].to_json(), by_hook[i].to_json()) << key;
  }
  auto short_form = plot_results(model, {{.plot_type = "attention", .data_keys = {"pattern"}, .layer = 1}}, tokens);
  EXPECT_EQ(short_form[2].to_json(), by_hook[2].to_json());
  // The pattern drawn is the model's: each row sums to 1 over the keys.
  auto z = by_hook[0].to_json()["values"];
  for (const auto& row : z) {
    double sum = 0;
    for (const auto& v : row) sum += v.get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  auto error = test::arrakis_error_of([&] { resolve_data_key(model, "h.1.atn"); });
  EXPECT_NE(error.find("data key 'h.1.atn' names no hook point"), std::string::npos) << error;
  EXPECT_NE(error.find("'h.1.attn'"), std::string::npos) << error;
  error = test::arrakis_error_of([&] { plot_results(model, {{.plot_type = "atention"}}, tokens); });
  EXPECT_NE(error.find("no plot type 'atention' (did you mean 'attention'"), std::string::npos) << error;
  error = test::arrakis_error_of([&] { plot_results(model, {{.plot_type = "attention"}}, tokens); });
  EXPECT_NE(error.find("say which layer"), std::string::npos) << error;
}

TEST(PlotSpec, EverySeedsPlotTypeDrawsItsDataFromOneForward) {
  auto model = load_demo_model();  // two attention-only layers of four heads, induction heads in layer 1
  const auto& c = model.config();
  auto generator = seeded_generator(7);
  auto tokens = torch::randint(1, c.d_vocab, {2, 12}, generator, torch::kInt64);
  // The hook points each type reads from the shared forward.
  EXPECT_EQ(hooks_needed(model, {.plot_type = "attention", .data_keys = {"blocks.0.attn"}}),
            (std::vector<std::string>{"blocks.0.attn.hook_pattern"}));
  EXPECT_EQ(
      hooks_needed(model, {.plot_type = "residual_stream"}),
      (std::vector<std::string>{"blocks.0.hook_resid_pre", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"}));
  EXPECT_TRUE(hooks_needed(model, {.plot_type = "induction_heads"}).empty());  // its own repeated input

  std::vector<PlotSpec> specs;
  for (const auto& type : plot_types()) specs.push_back({.plot_type = type, .layer = 1, .top_k = 3});
  auto figures = plot_results(model, specs, tokens);
  std::map<std::string, std::vector<nlohmann::json>> by_type;
  std::size_t i = 0;
  for (const auto& spec : specs) {
    auto one = plot_results(model, {spec}, tokens);  // the same figures alone as together
    for (const auto& f : one) {
      ASSERT_LT(i, figures.size());
      EXPECT_EQ(figures[i++].to_json(), f.to_json()) << spec.plot_type;
      by_type[spec.plot_type].push_back(f.to_json());
    }
  }
  EXPECT_EQ(i, figures.size());
  EXPECT_EQ(by_type["attention"].size(), 4u);
  ASSERT_EQ(by_type["attention_view"].size(), 1u);  // every head of the layer in one view
  EXPECT_EQ(by_type["attention_view"][0]["patterns"].size(), 4u);
  EXPECT_EQ(by_type["attention_view"][0]["patterns"][2], by_type["attention"][2]["values"]);
  EXPECT_EQ(by_type["qk_dot_product"].size(), 4u);
  EXPECT_TRUE(by_type["qk_dot_product"][0]["values"][0][1].is_null());  // a future key: masked, no value
  EXPECT_EQ(by_type["attention_stats"].size(), 4u);
  ASSERT_EQ(by_type["induction_heads"].size(), 3u);
  // The strongest induction head on the prompt repeated, as head_scores finds it.
  auto repeated = torch::cat({tokens[0], tokens[0]}).unsqueeze(0);
  auto scores = head_scores(model, repeated, {.period = 12});
  auto best = scores.induction.flatten().argmax().item<int64_t>();
  const auto strongest = Head{static_cast<int>(best / c.n_heads), static_cast<int>(best % c.n_heads)}.label();
  EXPECT_NE(by_type["induction_heads"][0]["title"].get<std::string>().find(strongest), std::string::npos)
      << by_type["induction_heads"][0]["title"];
  EXPECT_EQ(by_type["induction_heads"][0]["values"].size(), 24u);
  ASSERT_EQ(by_type["residual_stream"].size(), 1u);
  EXPECT_EQ(by_type["residual_stream"][0]["series"][0]["y"].size(), 3u);  // embed, after L0, after L1
  EXPECT_EQ(by_type["neuron_activation"][0]["groups"].size(), 2u);        // attention-only: resid_post per layer
  EXPECT_EQ(by_type["neuron_activation_trajectories"][0]["series"].size(), 3u);
  EXPECT_EQ(by_type["layer_norms"][0]["values"].size(), 3u);  // L0 ln1, L1 ln1, ln_final
  EXPECT_EQ(by_type["layer_norms"][0]["values"][0].size(), 12u);
}

TEST(BenchPlots, PlotResultsDrawsWithThePlottingLibAndPlotRunDrawsARunsTensors) {
  auto dir = test::temp_dir("bench-plots");
  auto model = load_demo_model();
  InterpretabilityBench bench(model, dir);
  EXPECT_EQ(bench.plotting_lib(), "html");
  auto error = test::arrakis_error_of([&] { bench.set_plotting_lib("matplotlib"); });
  EXPECT_NE(error.find("no plot backend 'matplotlib'"), std::string::npos) << error;
  EXPECT_EQ(bench.plotting_lib(), "html");  // unchanged by the refused name
  bench.set_plotting_lib("json");
  auto tokens = torch::tensor({{3, 7, 9, 3, 7, 9}}, torch::kInt64);
  auto figures = bench.plot_results(
      {{.plot_type = "attention", .data_keys = {"blocks.1.attn"}, .head = 2}, {.plot_type = "residual_stream"}}, tokens,
      "figures.json");
  ASSERT_EQ(figures.size(), 2u);
  auto written = test::read_json(dir / "figures.json");  // relative to the save folder, drawn by the json backend
  ASSERT_EQ(written["figures"].size(), 2u);
  EXPECT_EQ(written["figures"][0], figures[0].to_json());
  EXPECT_NE(figures[0].title.find("L1H2"), std::string::npos);

  auto experiment = ARRAKIS_EXPERIMENT(bench, "scores", (const torch::Tensor& input), {
    auto [logits, cache] = bench.model().run_with_cache(input);
    return ExperimentResults{{"pattern", cache["blocks.0.attn.hook_pattern"][0][1]},
                             {"norms", cache["blocks.0.hook_resid_post"][0].norm(2, -1)},
                             {"label", std::string("not a tensor")}};
  });
  experiment(tokens);
  const auto id = bench.last_run().id;
  auto from_run = bench.plot_run(id, {"pattern", "norms"});
  ASSERT_EQ(from_run.size(), 2u);
  EXPECT_EQ(from_run[0].type(), "heatmap");
  EXPECT_EQ(from_run[1].type(), "line");
  EXPECT_NE(from_run[0].title.find(fmt::format("scores (run {}): pattern", id)), std::string::npos);
  auto [logits, cache] = model.run_with_cache(tokens);
  EXPECT_EQ(from_run[0].to_json()["values"],
            (Figure{.body = Heatmap{.values = cache["blocks.0.attn.hook_pattern"][0][1]}}.to_json()["values"]));
  error = test::arrakis_error_of([&] { bench.plot_run(id, {"label"}); });
  EXPECT_NE(error.find("result 'label' is not a tensor"), std::string::npos) << error;
  error = test::arrakis_error_of([&] { bench.plot_run(id, {"patern"}); });
  EXPECT_NE(error.find("has no result 'patern' (results: "), std::string::npos) << error;
}

}  // namespace
}  // namespace arrakis
