// The hook-point catalogue is the one source of truth: the points a forward actually fires, with the shapes it
// actually produces, are the catalogue's for every family; docs/hooks.md holds the generated table; the typed
// handles, TransformerLens' short names and the name parser agree with it.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "arrakis/demo/demo_model.hpp"
#include "arrakis/hooks/activation_cache.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/auto_model.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

// Every point the forward fires, with its shape: every point of the default forward, then the opt-in points (on in
// the two runs their conflicts allow; with split or per-head inputs ln1 runs once per head, so the other points'
// shapes are the default run's).
std::map<std::string, std::vector<int64_t>> fired_points(HookedTransformer& model, const torch::Tensor& tokens) {
  std::map<std::string, std::vector<int64_t>> fired;
  const auto record = [&](bool opt_in_points_only) {
    auto [logits, cache] = model.run_with_cache(tokens);
    for (const auto& name : cache) {
      auto parsed = parse_hook_name(name);
      const bool opt_in = parsed && hook_spec(parsed->first).opt_in != HookOptIn::None;
      if (!opt_in_points_only || opt_in) fired[name] = cache[name].sizes().vec();
    }
  };
  record(false);
  model.set_use_attn_result(true);
  model.set_use_split_qkv_input(true);
  model.set_use_hook_mlp_in(true);
  record(true);
  model.set_use_split_qkv_input(false);
  if (model.config().kv_heads() == model.config().n_heads) {
    model.set_use_attn_in(true);
    record(true);
    model.set_use_attn_in(false);
  }
  model.set_use_attn_result(false);
  model.set_use_hook_mlp_in(false);
  return fired;
}

// What the catalogue says a model with this config has, with the shapes it gives for the batch and length.
std::map<std::string, std::vector<int64_t>> catalogued_points(const ModelConfig& config, int64_t batch,
                                                              int64_t positions) {
  std::map<std::string, std::vector<int64_t>> expected;
  for (const auto& spec : hook_catalogue()) {
    if (!model_has(config, spec.kind)) continue;
    if (spec.opt_in == HookOptIn::AttnIn && config.kv_heads() != config.n_heads) continue;  // refused for GQA
    const auto shape = hook_shape(config, spec.kind, batch, positions);
    if (!spec.in_block()) {
      expected[spec.name()] = shape;
      continue;
    }
    for (int layer = 0; layer < config.n_layers; ++layer) expected[spec.name(layer)] = shape;
  }
  return expected;
}

void expect_forward_matches_catalogue(HookedTransformer& model) {
  const int64_t batch = 2, positions = 5;
  auto tokens = torch::randint(model.config().d_vocab, {batch, positions}, seeded_generator(11), torch::kInt64);
  auto fired = fired_points(model, tokens);
  auto expected = catalogued_points(model.config(), batch, positions);
  for (const auto& [name, shape] : expected) {
    auto it = fired.find(name);
    if (it == fired.end()) {
      ADD_FAILURE() << name << " is in the catalogue for this model but the forward never fired it";
      continue;
    }
    EXPECT_EQ(it->second, shape) << name << ": the forward's shape differs from the catalogue's";
  }
  for (const auto& [name, shape] : fired)
    EXPECT_TRUE(expected.count(name)) << name << " fired but the catalogue does not list it for this model";
  // The declared names, in forward order, are exactly the enabled catalogue points.
  std::set<std::string> declared;
  for (const auto& point : model.hooks().points()) declared.insert(point.name);
  for (const auto& [name, shape] : expected) EXPECT_TRUE(declared.count(name)) << name;
}

class HookCatalogueFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(HookCatalogueFamily, TheForwardFiresExactlyTheCataloguedPointsWithTheirShapes) {
  auto model = test::random_model(GetParam());
  expect_forward_matches_catalogue(model);
}

INSTANTIATE_TEST_SUITE_P(Families, HookCatalogueFamily, ::testing::ValuesIn(test::model_families_under_test()),
                         test::family_test_name);

TEST(HookCatalogue, AnAttentionOnlyModelFiresNoMlpPoints) {
  auto model = load_demo_model();
  ASSERT_FALSE(model.config().has_mlp());
  expect_forward_matches_catalogue(model);
  for (const auto& name : model.hook_names()) EXPECT_EQ(name.find("mlp"), std::string::npos) << name;
}

TEST(HookCatalogue, DocsHooksMdHoldsTheGeneratedTable) {
  std::ifstream in(test::source_dir() / "docs" / "hooks.md");
  ASSERT_TRUE(in) << "docs/hooks.md is missing";
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find(hook_catalogue_markdown()), std::string::npos)
      << "docs/hooks.md's table is not the catalogue's: regenerate it with `arrakis hooks --markdown` and paste it "
         "between the hook-catalogue markers. The catalogue gives:\n"
      << hook_catalogue_markdown();
}

TEST(HookCatalogue, TypedHandlesShortNamesAndTheParserAgree) {
  EXPECT_EQ(hooks::z(9).str(), "blocks.9.attn.hook_z");
  EXPECT_EQ(std::string(hooks::resid_post(5)), "blocks.5.hook_resid_post");
  EXPECT_EQ(hooks::embed().str(), "hook_embed");
  EXPECT_EQ(hooks::ln_final_scale().str(), "ln_final.hook_scale");
  EXPECT_EQ(hooks::ln1_normalized(0).str(), act_name("normalized", 0, "ln1"));
  EXPECT_EQ(hooks::pattern(2).str(), act_name("attn", 2));  // TransformerLens' alias
  EXPECT_EQ(hooks::mlp_post(1).str(), act_name("post", 1));
  for (const auto& spec : hook_catalogue()) {
    const int layer = spec.in_block() ? 3 : -1;
    const auto name = spec.name(layer);
    auto parsed = parse_hook_name(name);
    ASSERT_TRUE(parsed) << name;
    EXPECT_EQ(parsed->first, spec.kind) << name;
    EXPECT_EQ(parsed->second, layer) << name;
    if (spec.layer_type.empty())
      EXPECT_EQ(act_name(spec.short_name, spec.in_block() ? std::optional<int>(3) : std::nullopt), name);
    else
      EXPECT_EQ(act_name(spec.short_name, spec.in_block() ? std::optional<int>(3) : std::nullopt, spec.layer_type),
                name);
  }
  for (const char* bad : {"blocks.x.hook_resid_pre", "blocks..hook_resid_pre", "blocks.1.hook_nothing", "hook_z",
                          "blocks.-1.attn.hook_z", "blocks.1"})
    EXPECT_FALSE(parse_hook_name(bad)) << bad;
  EXPECT_NE(test::error_of([] { hook_name(HookKind::Z); }).find("give a layer"), std::string::npos);
}

TEST(HookCatalogue, KindFiltersSelectEveryLayerOfTheirKindsOnly) {
  auto model = load_demo_model();
  auto [logits, cache] =
      model.run_with_cache(torch::zeros({1, 4}, torch::kInt64), hook_kinds({HookKind::Pattern, HookKind::ResidPost}));
  ASSERT_EQ(cache.size(), static_cast<std::size_t>(2 * model.config().n_layers));
  for (int layer = 0; layer < model.config().n_layers; ++layer) {
    EXPECT_TRUE(cache.contains(hooks::pattern(layer)));
    EXPECT_TRUE(cache.contains(hooks::resid_post(layer)));
  }
}

}  // namespace
}  // namespace arrakis
