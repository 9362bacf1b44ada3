// The kg_extractor tool on seeded random models (gpt2, and llama with grouped-query attention): each method against
// an independent recomputation of its definition (docs/tools.md): SVDs of the materialised QK circuits, dot products
// with W_E's rows, the graph's scores pair by pair, the LRE's map against finite differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/tools/kg_extractor_tool.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using test::random_tokens;

using torch::indexing::Slice;

// W_Qʰ W_Kʰᵀ [d_model, d_model] materialised in float64 from the raw weights: ln1's gain on both sides (ones in the
// random models, kept for the definition's sake), query head h reading key/value head h / (n_heads / n_kv_heads).
torch::Tensor kg_materialised_qk(const HookedTransformer& model, int64_t layer, int64_t head) {
  const auto& c = model.config();
  const auto& block = model.weights().blocks[layer];
  auto q = block.attn.W_Q[head].to(torch::kFloat64);
  auto k = block.attn.W_K[head / (c.n_heads / c.kv_heads())].to(torch::kFloat64);
  if (block.ln1.w.defined()) {
    const auto gain = block.ln1.w.to(torch::kFloat64).unsqueeze(1);
    q = q * gain;
    k = k * gain;
  }
  return torch::matmul(q, k.t());
}

// W_E's rows [n, d_model] in float64; `normalize`: centred (LayerNorm) and divided by sqrt(mean(x²) + eps).
torch::Tensor kg_embedding_rows(const HookedTransformer& model, const std::vector<int64_t>& ids, bool normalize) {
  const auto& c = model.config();
  std::vector<torch::Tensor> rows;
  for (const int64_t id : ids) rows.push_back(model.weights().W_E[id].to(torch::kFloat64) * c.embedding_multiplier);
  auto e = torch::stack(rows);
  if (normalize) {
    if (c.normalization == NormType::LayerNorm || c.normalization == NormType::LayerNormPre) e = e - e.mean(-1, true);
    if (c.normalization != NormType::None) e = e / (e.pow(2).mean(-1, true) + c.eps).sqrt();
  }
  return e;
}

class KgExtractorFamily : public testing::TestWithParam<std::string> {};

TEST_P(KgExtractorFamily, SubspacesAreTheTopSingularTriplesOfEachHeadsQkCircuit) {
  auto model = test::random_model(GetParam(), 11);
  const auto& c = model.config();
  KgExtractorTool tool(model);
  const int64_t k = 3;
  for (int64_t layer = 0; layer < c.n_layers; ++layer) {
    const auto sub = tool.extract_relational_subspaces({.layer = layer, .top_k = k});
    EXPECT_EQ(sub.layer, layer);
    EXPECT_EQ(sub.top_k, k);
    ASSERT_EQ(sub.query_directions.sizes().vec(), (std::vector<int64_t>{c.n_heads, k, c.d_model}));
    ASSERT_EQ(sub.key_directions.sizes().vec(), (std::vector<int64_t>{c.n_heads, k, c.d_model}));
    ASSERT_EQ(sub.singular_values.sizes().vec(), (std::vector<int64_t>{c.n_heads, k}));
    ASSERT_EQ(sub.query_directions.scalar_type(), torch::kFloat64);
    for (int64_t h = 0; h < c.n_heads; ++h) {
      auto [U, S, Vh] = torch::linalg_svd(kg_materialised_qk(model, layer, h), /*full_matrices=*/false);
      const double largest = S[0].item<double>();
      for (int64_t i = 0; i < k; ++i) {
        EXPECT_NEAR(sub.singular_values[h][i].item<double>(), S[i].item<double>(), 1e-10 * largest);
        const auto u = sub.query_directions[h][i], v = sub.key_directions[h][i];
        const double cu = torch::dot(u, U.index({Slice(), i})).item<double>();
        const double cv = torch::dot(v, Vh[i]).item<double>();
        EXPECT_NEAR(std::abs(cu), 1.0, 1e-8) << "L" << layer << "H" << h << " direction " << i;
        EXPECT_NEAR(std::abs(cv), 1.0, 1e-8) << "L" << layer << "H" << h << " direction " << i;
        EXPECT_GT(cu * cv, 0.0) << "u and v flip together, so σ u vᵀ is the circuit's rank-one part";
        // The sign convention: u's largest-magnitude entry is positive.
        EXPECT_GT(u[u.abs().argmax().item<int64_t>()].item<double>(), 0.0);
      }
    }
  }
  const auto json = tool.extract_relational_subspaces({.layer = 1, .top_k = 2}).to_json();
  EXPECT_EQ(json["layer"], 1);
  EXPECT_EQ(json["heads"].size(), static_cast<size_t>(c.n_heads));
  EXPECT_EQ(json["heads"][1]["head"], "L1H1");
  EXPECT_EQ(json["heads"][1]["singular_values"].size(), 2u);

  auto message = test::arrakis_error_of([&] { tool.extract_relational_subspaces({.layer = 1, .top_k = 0}); });
  EXPECT_NE(message.find("extract_relational_subspaces: top_k 0 is not in 1.." + std::to_string(c.d_head)),
            std::string::npos)
      << message;
  message = test::arrakis_error_of([&] { tool.extract_relational_subspaces({.layer = 1, .top_k = c.d_head + 1}); });
  EXPECT_NE(message.find("top_k " + std::to_string(c.d_head + 1)), std::string::npos) << message;
  message = test::arrakis_error_of([&] { tool.extract_relational_subspaces({.layer = c.n_layers}); });
  EXPECT_NE(message.find("extract_relational_subspaces: layer 2 is not a layer of this model"), std::string::npos)
      << message;
}

TEST_P(KgExtractorFamily, ProjectionsAreEmbeddingRowsDottedWithTheDirections) {
  auto model = test::random_model(GetParam(), 12);
  const auto& c = model.config();
  KgExtractorTool tool(model);
  const std::vector<int64_t> ids = {0, 7, 7, 300, 511};
  const int64_t k = 2, n = static_cast<int64_t>(ids.size());
  const auto sub = tool.extract_relational_subspaces({.layer = 1, .top_k = k});
  for (const bool normalize : {false, true}) {
    const auto p = tool.project_token_embeddings({.token_ids = ids, .layer = 1, .top_k = k, .normalize = normalize});
    ASSERT_EQ(p.query_projections.sizes().vec(), (std::vector<int64_t>{n, c.n_heads, k}));
    ASSERT_EQ(p.key_projections.sizes().vec(), (std::vector<int64_t>{n, c.n_heads, k}));
    EXPECT_EQ(p.normalized, normalize);
    EXPECT_TRUE(p.tokens.empty());  // the random model has no tokenizer
    const auto e = kg_embedding_rows(model, ids, normalize);
    const auto json = p.to_json();
    for (int64_t t = 0; t < n; ++t)
      for (int64_t h = 0; h < c.n_heads; ++h)
        for (int64_t i = 0; i < k; ++i) {
          const double q = torch::dot(e[t], sub.query_directions[h][i]).item<double>();
          const double key = torch::dot(e[t], sub.key_directions[h][i]).item<double>();
          EXPECT_NEAR(p.query_projections[t][h][i].item<double>(), q, 1e-10 * (1 + std::abs(q)));
          EXPECT_NEAR(p.key_projections[t][h][i].item<double>(), key, 1e-10 * (1 + std::abs(key)));
          EXPECT_NEAR(json["tokens"][t]["query"][h][i].get<double>(), q, 1e-10 * (1 + std::abs(q)));
        }
    EXPECT_EQ(json["tokens"][1]["id"], 7);
    EXPECT_TRUE(json["tokens"][1]["token"].is_null());
  }

  auto message = test::arrakis_error_of([&] { tool.project_token_embeddings({.token_ids = {1, 512}, .layer = 1}); });
  EXPECT_NE(message.find("project_token_embeddings: token_ids holds 512, which is not a token of the vocabulary"),
            std::string::npos)
      << message;
  message = test::arrakis_error_of([&] { tool.project_token_embeddings({.token_ids = {-1}, .layer = 1}); });
  EXPECT_NE(message.find("token_ids holds -1"), std::string::npos) << message;
  message = test::arrakis_error_of([&] { tool.project_token_embeddings({.token_ids = {}, .layer = 1}); });
  EXPECT_NE(message.find("project_token_embeddings: token_ids is empty"), std::string::npos) << message;
  message = test::arrakis_error_of([&] { tool.project_token_embeddings({.token_ids = {1}, .layer = 1, .top_k = 0}); });
  EXPECT_NE(message.find("project_token_embeddings: top_k 0"), std::string::npos) << message;
  message = test::arrakis_error_of([&] { tool.project_token_embeddings({.token_ids = {1}, .layer = -1}); });
  EXPECT_NE(message.find("project_token_embeddings: layer -1"), std::string::npos) << message;
}

TEST_P(KgExtractorFamily, RelationEdgesArePairsWhoseDirectionScoreReachesTheThresholdShare) {
  auto model = test::random_model(GetParam(), 13);
  const auto& c = model.config();
  KgExtractorTool tool(model);
  const std::vector<int64_t> ids = {3, 17, 42, 99, 123, 256, 300, 511};
  const int64_t k = 2, n = static_cast<int64_t>(ids.size()), layer = 1;
  const double threshold = 0.6;
  const auto graph =
      tool.identify_relation_types({.token_ids = ids, .layer = layer, .top_k = k, .threshold = threshold});
  ASSERT_EQ(graph.scores.sizes().vec(), (std::vector<int64_t>{c.n_heads, k, n, n}));
  ASSERT_EQ(graph.nodes.size(), ids.size());
  for (size_t a = 0; a < ids.size(); ++a) {
    EXPECT_EQ(graph.nodes[a].id, ids[a]);
    EXPECT_FALSE(graph.nodes[a].token.has_value());
  }

  // The scores pair by pair, s = (e_a·u_i) σ_i (v_i·e_b), from an SVD of the materialised circuit; the edges: a != b,
  // s > 0 and s >= threshold · max_{a != b} |s| of that head and direction.
  const auto e = kg_embedding_rows(model, ids, /*normalize=*/true);
  std::set<std::tuple<int, int64_t, int64_t, int64_t>> expected;  // (head, direction, source, target)
  for (int64_t h = 0; h < c.n_heads; ++h) {
    auto [U, S, Vh] = torch::linalg_svd(kg_materialised_qk(model, layer, h), /*full_matrices=*/false);
    for (int64_t i = 0; i < k; ++i) {
      std::vector<std::vector<double>> s(n, std::vector<double>(n));
      double largest = 0;
      for (int64_t a = 0; a < n; ++a)
        for (int64_t b = 0; b < n; ++b) {
          s[a][b] = torch::dot(e[a], U.index({Slice(), i})).item<double>() * S[i].item<double>() *
                    torch::dot(Vh[i], e[b]).item<double>();
          if (a != b) largest = std::max(largest, std::abs(s[a][b]));
        }
      for (int64_t a = 0; a < n; ++a)
        for (int64_t b = 0; b < n; ++b) {
          EXPECT_NEAR(graph.scores[h][i][a][b].item<double>(), s[a][b], 1e-9 * largest);
          if (a != b && s[a][b] > 0 && s[a][b] >= threshold * largest)
            expected.insert({static_cast<int>(h), i, ids[a], ids[b]});
        }
    }
  }
  std::set<std::tuple<int, int64_t, int64_t, int64_t>> got;
  for (const auto& edge : graph.edges) {
    got.insert({edge.head.head, edge.direction, edge.source, edge.target});
    EXPECT_EQ(edge.head.layer, layer);
    EXPECT_NE(edge.source, edge.target);
    const auto a = std::find(ids.begin(), ids.end(), edge.source) - ids.begin();
    const auto b = std::find(ids.begin(), ids.end(), edge.target) - ids.begin();
    EXPECT_DOUBLE_EQ(edge.weight, graph.scores[edge.head.head][edge.direction][a][b].item<double>());
  }
  EXPECT_EQ(got.size(), graph.edges.size()) << "no edge twice";
  EXPECT_EQ(got, expected);
  ASSERT_FALSE(expected.empty()) << "the check is not vacuous";

  const auto json = graph.to_json();
  ASSERT_EQ(json["edges"].size(), graph.edges.size());
  ASSERT_EQ(json["nodes"].size(), ids.size());
  EXPECT_EQ(json["edges"][0]["head"], graph.edges[0].head.label());
  EXPECT_EQ(json["edges"][0]["head"].get<std::string>().rfind("L1H", 0), 0u);
  EXPECT_EQ(json["edges"][0]["source"], graph.edges[0].source);
  EXPECT_EQ(json["edges"][0]["weight"], graph.edges[0].weight);
  EXPECT_EQ(json["threshold"], threshold);
  EXPECT_EQ(graph.tensors()[0].first, "scores");

  // GraphML: the declared keys, one element per node and per edge, balanced data elements.
  const auto xml = graph.to_graphml();
  auto count = [&](const std::string& what) {
    size_t found = 0;
    for (auto at = xml.find(what); at != std::string::npos; at = xml.find(what, at + 1)) ++found;
    return found;
  };
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 0), 0u);
  EXPECT_NE(xml.find("<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">"), std::string::npos);
  EXPECT_NE(xml.find("<graph id=\"L1\" edgedefault=\"directed\">"), std::string::npos);
  EXPECT_EQ(count("<key "), 5u);
  for (const char* key : {"id=\"label\" for=\"node\"", "id=\"head\" for=\"edge\"", "id=\"direction\" for=\"edge\"",
                          "id=\"weight\" for=\"edge\""})
    EXPECT_EQ(count(key), 1u) << key;
  EXPECT_EQ(count("<node "), graph.nodes.size());
  EXPECT_EQ(count("</node>"), graph.nodes.size());
  EXPECT_EQ(count("<edge "), graph.edges.size());
  EXPECT_EQ(count("</edge>"), graph.edges.size());
  EXPECT_EQ(count("<data "), count("</data>"));
  EXPECT_EQ(count("<data "), 2 * graph.nodes.size() + 3 * graph.edges.size());
  EXPECT_TRUE(xml.ends_with("  </graph>\n</graphml>\n"));

  auto message = test::arrakis_error_of([&] { tool.identify_relation_types({.token_ids = ids, .threshold = 0}); });
  EXPECT_NE(message.find("identify_relation_types: threshold 0 is not in (0, 1]"), std::string::npos) << message;
  message = test::arrakis_error_of([&] { tool.identify_relation_types({.token_ids = ids, .threshold = 1.5}); });
  EXPECT_NE(message.find("threshold 1.5 is not in (0, 1]"), std::string::npos) << message;
  message = test::arrakis_error_of([&] { tool.identify_relation_types({.token_ids = {3, 5, 3}}); });
  EXPECT_NE(message.find("identify_relation_types: token_ids lists 3 twice"), std::string::npos) << message;
  message = test::arrakis_error_of([&] { tool.identify_relation_types({.token_ids = {3, 9999}}); });
  EXPECT_NE(message.find("token_ids holds 9999"), std::string::npos) << message;
}

TEST(KgExtractor, GraphMlEscapesTokenStrings) {
  RelationGraph graph;
  graph.layer = 0;
  graph.nodes = {{5, std::string("a&b<c>\"d'")}, {6, std::nullopt}, {7, std::string("x\x01y\rz")}, {8, "\xC3"}};
  graph.edges = {{5, 6, Head{0, 1}, 0, 0.25}};
  const auto xml = graph.to_graphml();
  EXPECT_NE(xml.find("<data key=\"label\">a&amp;b&lt;c&gt;&quot;d&apos;</data>"), std::string::npos) << xml;
  EXPECT_EQ(xml.find("a&b"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<node id=\"t6\"><data key=\"label\">6</data>"), std::string::npos) << xml;  // no string: id
  EXPECT_NE(xml.find("x\xE2\x90\x81y&#13;z"), std::string::npos) << xml;  // control picture, character reference
  EXPECT_NE(xml.find("<data key=\"label\">\xEF\xBF\xBD</data>"), std::string::npos) << xml;  // a partial UTF-8 byte
  EXPECT_NE(xml.find("<edge id=\"e0\" source=\"t5\" target=\"t6\"><data key=\"head\">L0H1</data><data "
                     "key=\"direction\">0</data><data key=\"weight\">0.25</data></edge>"),
            std::string::npos)
      << xml;
  // Every '&' starts a reference.
  for (auto at = xml.find('&'); at != std::string::npos; at = xml.find('&', at + 1)) {
    const auto rest = xml.substr(at, 6);
    EXPECT_TRUE(rest.rfind("&amp;", 0) == 0 || rest.rfind("&lt;", 0) == 0 || rest.rfind("&gt;", 0) == 0 ||
                rest.rfind("&quot;", 0) == 0 || rest.rfind("&apos;", 0) == 0 || rest.rfind("&#", 0) == 0)
        << rest;
  }
  const auto json = graph.to_json();
  EXPECT_EQ(json["nodes"][0]["token"], "a&b<c>\"d'");
  EXPECT_TRUE(json["nodes"][1]["token"].is_null());
  EXPECT_EQ(json["edges"][0]["head"], "L0H1");
  EXPECT_EQ(json["edges"][0]["direction"], 0);
}

TEST_P(KgExtractorFamily, LreMapIsTheMeanJacobianOfTheFinalStateAtTheSubject) {
  auto model = test::random_model(GetParam(), 14);
  model.to(torch::kFloat64);  // so the finite differences measure the derivative, not float32 rounding
  const auto& c = model.config();
  const int64_t d = c.d_model, n = 4, length = 6;
  const int layer = 1;
  KgExtractorTool tool(model);
  const auto tokens = random_tokens(model, n, length, 5);
  const std::vector<int64_t> subjects = {1, 2, -3, 0};
  // The model's own predictions at the last position: objects 0..2 are them, object 3 is not.
  const auto own = model.forward(tokens).select(1, -1).argmax(-1);
  std::vector<int64_t> objects(n);
  for (int64_t i = 0; i < n; ++i) objects[i] = own[i].item<int64_t>();
  objects[3] = (objects[3] + 1) % c.vocab_out();

  const auto lre = tool.linear_relational_embedding(
      {.tokens = tokens, .subject_positions = subjects, .objects = objects, .layer = layer, .n_train = 1});
  ASSERT_EQ(lre.W.sizes().vec(), (std::vector<int64_t>{d, d}));
  ASSERT_EQ(lre.b.sizes().vec(), (std::vector<int64_t>{d}));
  EXPECT_EQ(lre.n_train, 1);
  EXPECT_EQ(lre.n_test, 3);

  // With one training example W is the Jacobian ∂o/∂h there: central differences, column by column, of the final
  // residual stream at the last position with the subject's resid_pre replaced.
  auto [logits, cache] = model.run_with_cache(tokens, NameFilter{std::vector<std::string>{hooks::resid_pre(layer)}});
  const auto& resid_pre = cache[hooks::resid_pre(layer)];  // [n, pos, d]
  const auto prompt = tokens.narrow(0, 0, 1);
  const int64_t p = subjects[0];
  const auto h0 = resid_pre[0][p].clone();
  ForwardOptions to_final;
  to_final.stop_at_layer = static_cast<int>(c.n_layers);
  auto final_state = [&](const torch::Tensor& h) {
    const auto resid = model.run_with_hooks(prompt,
                                            {{hooks::resid_pre(layer),
                                              [&](const torch::Tensor& x) {
                                                auto y = x.clone();
                                                y[0][p] = h;
                                                return y;
                                              }}},
                                            to_final);
    return resid.select(1, -1)[0].clone();
  };
  const double eps = 1e-5;
  auto jacobian = torch::zeros({d, d}, torch::kFloat64);
  for (int64_t j = 0; j < d; ++j) {
    auto step = torch::zeros({d}, torch::kFloat64);
    step[j] = eps;
    jacobian.index_put_({Slice(), j}, (final_state(h0 + step) - final_state(h0 - step)) / (2 * eps));
  }
  const double scale = jacobian.abs().max().item<double>();
  EXPECT_LT(test::max_abs_diff(lre.W, jacobian), 1e-6 * scale);
  const auto o0 = final_state(h0);
  EXPECT_LT(test::max_abs_diff(lre.subject_states[0], h0), 1e-12);
  EXPECT_LT(test::max_abs_diff(lre.object_states[0], o0), 1e-9);
  EXPECT_LT(test::max_abs_diff(lre.b, o0 - torch::matmul(lre.W, h0)), 1e-9);

  // One training example: W h + b = o there, so the map decodes what the model predicts.
  EXPECT_EQ(lre.faithfulness_train, 1.0);
  EXPECT_EQ(lre.model_accuracy_train, 1.0);
  EXPECT_NEAR(lre.model_accuracy_test, 2.0 / 3.0, 1e-12);
  ASSERT_EQ(lre.predictions.size(), 3u);
  int faithful = 0;
  for (size_t t = 0; t < lre.predictions.size(); ++t) {
    const auto& prediction = lre.predictions[t];
    const int64_t i = static_cast<int64_t>(t) + 1;
    const auto h = resid_pre[i][(subjects[i] + length) % length];
    EXPECT_LT(test::max_abs_diff(lre.subject_states[i], h), 1e-12);
    const auto decoded = model.unembed(model.ln_final((torch::matmul(lre.W, h) + lre.b).unsqueeze(0)));
    EXPECT_EQ(prediction.example, i);
    EXPECT_EQ(prediction.object, objects[i]);
    EXPECT_EQ(prediction.predicted, decoded.argmax(-1).item<int64_t>());
    EXPECT_EQ(prediction.model_predicted, own[i].item<int64_t>());
    EXPECT_EQ(prediction.faithful, prediction.predicted == objects[i]);
    faithful += prediction.faithful;
  }
  EXPECT_NEAR(lre.faithfulness_test, faithful / 3.0, 1e-12);
  const auto json = lre.to_json();
  EXPECT_EQ(json["n_train"], 1);
  EXPECT_EQ(json["predictions"].size(), 3u);
  EXPECT_EQ(json["predictions"][0]["example"], 1);

  // n_train = n - 1: W is the mean of the examples' Jacobians (each the W of a one-example fit with it first), b the
  // mean of o − W h over them.
  const auto most = tool.linear_relational_embedding(
      {.tokens = tokens, .subject_positions = subjects, .objects = objects, .layer = layer, .n_train = n - 1});
  EXPECT_EQ(most.n_train, 3);
  EXPECT_EQ(most.n_test, 1);
  ASSERT_EQ(most.predictions.size(), 1u);
  EXPECT_EQ(most.predictions[0].example, 3);
  ASSERT_EQ(most.W.sizes().vec(), (std::vector<int64_t>{d, d}));
  ASSERT_EQ(most.b.sizes().vec(), (std::vector<int64_t>{d}));
  EXPECT_GE(most.faithfulness_train, 0.0);
  EXPECT_LE(most.faithfulness_train, 1.0);
  EXPECT_GE(most.faithfulness_test, 0.0);
  EXPECT_LE(most.faithfulness_test, 1.0);
  auto mean_jacobian = torch::zeros({d, d}, torch::kFloat64);
  for (int64_t i = 0; i < n - 1; ++i) {
    std::vector<int64_t> order = {i};
    for (int64_t j = 0; j < n; ++j)
      if (j != i) order.push_back(j);
    std::vector<int64_t> reordered_subjects, reordered_objects;
    for (const int64_t j : order) {
      reordered_subjects.push_back(subjects[j]);
      reordered_objects.push_back(objects[j]);
    }
    mean_jacobian += tool.linear_relational_embedding({.tokens = tokens.index_select(0, torch::tensor(order)),
                                                       .subject_positions = reordered_subjects,
                                                       .objects = reordered_objects,
                                                       .layer = layer,
                                                       .n_train = 1})
                         .W;
  }
  mean_jacobian /= static_cast<double>(n - 1);
  EXPECT_LT(test::max_abs_diff(most.W, mean_jacobian), 1e-10 * scale);
  const auto H = most.subject_states.narrow(0, 0, n - 1), O = most.object_states.narrow(0, 0, n - 1);
  EXPECT_LT(test::max_abs_diff(most.b, (O - torch::matmul(H, most.W.t())).mean(0)), 1e-10);

  // By default half the examples fit the map.
  const auto half = tool.linear_relational_embedding(
      {.tokens = tokens, .subject_positions = subjects, .objects = objects, .layer = layer, .beta = 2.0});
  EXPECT_EQ(half.n_train, 2);
  EXPECT_EQ(half.n_test, 2);
  EXPECT_EQ(half.beta, 2.0);
}

INSTANTIATE_TEST_SUITE_P(Families, KgExtractorFamily, testing::Values(std::string("gpt2"), std::string("llama")),
                         test::family_test_name);

TEST(KgExtractor, LreErrorsNameTheArgument) {
  auto model = test::random_model("gpt2", 15);
  KgExtractorTool tool(model);
  const auto tokens = random_tokens(model, 4, 5, 3);
  const std::vector<int64_t> subjects = {1, 1, 2, -1}, objects = {4, 5, 6, 7};
  auto call = [&](LinearRelationalEmbeddingArgs args) {
    return test::arrakis_error_of([&] { tool.linear_relational_embedding(args); });
  };
  const LinearRelationalEmbeddingArgs good{.tokens = tokens, .subject_positions = subjects, .objects = objects};
  auto args = good;
  args.n_train = 0;
  auto message = call(args);
  EXPECT_NE(message.find("linear_relational_embedding: n_train 0 is not in 1..3"), std::string::npos) << message;
  args.n_train = 4;
  message = call(args);
  EXPECT_NE(message.find("n_train 4 is not in 1..3"), std::string::npos) << message;
  args = good;
  args.objects = {4, 5, 6};
  message = call(args);
  EXPECT_NE(message.find("linear_relational_embedding: objects has 3 entries for 4 examples"), std::string::npos)
      << message;
  args.objects = {4, 5, 6, 512};
  message = call(args);
  EXPECT_NE(message.find("objects 512 is not a token of the vocabulary"), std::string::npos) << message;
  args = good;
  args.subject_positions = {1, 5, 0, 0};
  message = call(args);
  EXPECT_NE(message.find("linear_relational_embedding: subject_positions 5 is outside the 5 positions"),
            std::string::npos)
      << message;
  args.subject_positions = {1, 2};
  message = call(args);
  EXPECT_NE(message.find("subject_positions has 2 entries for 4 examples"), std::string::npos) << message;
  args = good;
  args.layer = 2;
  message = call(args);
  EXPECT_NE(message.find("linear_relational_embedding: layer 2 is not a layer of this model"), std::string::npos)
      << message;
  args = good;
  args.tokens = tokens.narrow(0, 0, 1);
  args.subject_positions = {1};
  args.objects = {4};
  message = call(args);
  EXPECT_NE(message.find("linear_relational_embedding: tokens hold 1 example"), std::string::npos) << message;
  args = good;
  args.tokens = torch::Tensor();
  message = call(args);
  EXPECT_NE(message.find("linear_relational_embedding: give tokens"), std::string::npos) << message;
  // One subject position for every example is accepted.
  args = good;
  args.subject_positions = {-2};
  EXPECT_EQ(tool.linear_relational_embedding(args).n_train, 2);
}

TEST(KgExtractor, DeclaredMethodsAreCallableByName) {
  auto model = test::random_model("gpt2", 16);
  ToolRegistry registry(model);
  registry.add<KgExtractorTool>("kg_extractor");
  std::vector<std::string> names;
  for (const auto& m : registry.describe("kg_extractor").methods) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"extract_relational_subspaces", "project_token_embeddings",
                                             "identify_relation_types", "linear_relational_embedding"}));

  auto output = registry.call("kg_extractor", "identify_relation_types",
                              {.text = {{"token_ids", "1,2,3,4"}, {"layer", "1"}, {"threshold", "0.5"}}});
  auto direct = registry.get<KgExtractorTool>("kg_extractor")
                    .identify_relation_types({.token_ids = {1, 2, 3, 4}, .layer = 1, .threshold = 0.5});
  EXPECT_EQ(output.json, direct.to_json());
  ASSERT_EQ(output.tensors.size(), 1u);
  EXPECT_EQ(output.tensors[0].first, "scores");

  output = registry.call(
      "kg_extractor", "linear_relational_embedding",
      {.text = {{"tokens", "1,2,3;4,5,6;7,8,9"}, {"subject_positions", "0"}, {"objects", "1,2,3"}, {"layer", "0"}}});
  EXPECT_EQ(output.json["n_train"], 1);
  EXPECT_EQ(output.json["n_test"], 2);

  auto message = test::error_of([&] {
    registry.call("kg_extractor", "extract_relational_subspaces", {.text = {{"layer", "0"}, {"top_k", "17"}}});
  });
  EXPECT_NE(message.find("extract_relational_subspaces: top_k 17 is not in 1..16"), std::string::npos) << message;
  message = test::error_of([&] {
    registry.call("kg_extractor", "project_token_embeddings", {.text = {{"layer", "0"}}});
  });
  EXPECT_NE(message.find("needs the argument 'token_ids'"), std::string::npos) << message;
}

}  // namespace
}  // namespace arrakis
