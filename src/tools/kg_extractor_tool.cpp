#include "arrakis/tools/kg_extractor_tool.hpp"

#include <torch/csrc/autograd/autograd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>

#include "arrakis/analysis/factored_matrix.hpp"
#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/model/norm_semantics.hpp"
#include "tools/tool_inputs.hpp"

namespace arrakis {

using namespace tool_inputs;

// ---- declarations ------------------------------------------------------------------------------------------------

std::vector<ToolArgument<ExtractRelationalSubspacesArgs>> ExtractRelationalSubspacesArgs::arguments() {
  using A = ExtractRelationalSubspacesArgs;
  return {argument("layer", &A::layer, "the layer whose heads' QK circuits are decomposed", Need::Required),
          argument("top_k", &A::top_k, "how many singular directions per head (1..d_head)")};
}

std::vector<ToolArgument<ProjectTokenEmbeddingsArgs>> ProjectTokenEmbeddingsArgs::arguments() {
  using A = ProjectTokenEmbeddingsArgs;
  return {
      argument("token_ids", &A::token_ids, "the tokens whose embeddings (rows of W_E) are projected", Need::Required),
      argument("layer", &A::layer, "the layer whose heads' QK directions are used", Need::Required),
      argument("top_k", &A::top_k, "how many singular directions per head (1..d_head)"),
      argument("normalize", &A::normalize,
               "normalise each embedding as the layer's norm would (centre for LayerNorm, RMS 1) before projecting")};
}

std::vector<ToolArgument<IdentifyRelationTypesArgs>> IdentifyRelationTypesArgs::arguments() {
  using A = IdentifyRelationTypesArgs;
  return {argument("token_ids", &A::token_ids, "the graph's nodes: distinct token ids", Need::Required),
          argument("layer", &A::layer, "the layer whose heads' QK directions label the edges", Need::Required),
          argument("top_k", &A::top_k, "how many singular directions per head (1..d_head)"),
          argument("threshold", &A::threshold,
                   "keep a->b when its score reaches this share (in (0, 1]) of the largest |score| of its head and "
                   "direction"),
          argument("normalize", &A::normalize,
                   "normalise each embedding as the layer's norm would (centre for LayerNorm, RMS 1) before scoring")};
}

std::vector<ToolArgument<LinearRelationalEmbeddingArgs>> LinearRelationalEmbeddingArgs::arguments() {
  using A = LinearRelationalEmbeddingArgs;
  return {
      argument("tokens", &A::tokens, "one prompt per example [n, pos], all of one length", Need::Required),
      argument("subject_positions", &A::subject_positions,
               "the subject's (last) position per example, or one for all (negative: from the end)", Need::Required),
      argument("objects", &A::objects, "the object token per example", Need::Required),
      argument("layer", &A::layer, "the subject's state is blocks.{layer}.hook_resid_pre", Need::Required),
      argument("n_train", &A::n_train, "the first n_train examples fit the map; the rest test it (default n / 2)"),
      argument("beta", &A::beta, "the scale of W h in the map beta W h + b (the paper's beta)")};
}

ToolDescription KgExtractorTool::describe() {
  return {
      "relations between tokens read from the heads' QK singular directions (a graph, GraphML), and a relation "
      "decoded as one affine map of the subject's state (linear relational embedding)",
      {method<&KgExtractorTool::extract_relational_subspaces>(), method<&KgExtractorTool::project_token_embeddings>(),
       method<&KgExtractorTool::identify_relation_types>(), method<&KgExtractorTool::linear_relational_embedding>()}};
}

// ---- helpers -----------------------------------------------------------------------------------------------------

namespace {

// Forward passes per Jacobian chunk: that many copies of a prompt in one batch give that many rows in one backward.
constexpr int64_t kKgJacobianRows = 32;

// A float64 tensor's values as nested JSON arrays of its shape.
nlohmann::json kg_nested_values(const double* data, const std::vector<int64_t>& sizes, std::size_t dim) {
  if (dim == sizes.size()) return *data;
  int64_t stride = 1;
  for (std::size_t j = dim + 1; j < sizes.size(); ++j) stride *= sizes[j];
  auto out = nlohmann::json::array();
  for (int64_t i = 0; i < sizes[dim]; ++i) out.push_back(kg_nested_values(data + i * stride, sizes, dim + 1));
  return out;
}

nlohmann::json kg_nested_json(const torch::Tensor& t) {
  const auto values = to_doubles(t);
  return kg_nested_values(values.data(), t.sizes().vec(), 0);
}

// Decoded token strings may hold partial UTF-8 sequences (byte-level BPE), which neither JSON nor XML may carry:
// each invalid byte becomes U+FFFD (as do the noncharacters U+FFFE and U+FFFF, which XML forbids).
std::string kg_valid_utf8(std::string_view s) {
  static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};  // below these a sequence is overlong
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const std::size_t n = lead < 0x80           ? 1
                          : (lead >> 5) == 0x6  ? 2
                          : (lead >> 4) == 0xE  ? 3
                          : (lead >> 3) == 0x1E ? 4
                                                : 0;
    bool ok = n > 0 && i + n <= s.size();
    static constexpr uint32_t kLeadBits[] = {0, 0x7F, 0x1F, 0x0F, 0x07};  // the code point's bits in the lead byte
    uint32_t cp = lead & kLeadBits[n];
    for (std::size_t j = 1; ok && j < n; ++j) {
      const auto next = static_cast<unsigned char>(s[i + j]);
      ok = (next & 0xC0) == 0x80;
      cp = (cp << 6) | (next & 0x3Fu);
    }
    ok = ok && cp >= kSmallest[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0xFFFE && cp != 0xFFFF;
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// Text as XML character data. Control characters other than tab and newline are not allowed in XML 1.0 (and a
// carriage return would be read back as a newline): they are written as their Unicode control pictures (U+2400 + c)
// or, for the carriage return, as a character reference.
std::string kg_xml_escape(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\r': out += "&#13;"; break;
      default:
        if (c < 0x20 && ch != '\t' && ch != '\n') {
          out += "\xE2\x90";
          out += static_cast<char>(0x80 + c);
        } else {
          out += ch;
        }
    }
  }
  return out;
}

std::optional<std::string> kg_token_string(const HookedTransformer& model, int64_t id) {
  if (!model.has_tokenizer()) return std::nullopt;
  return kg_valid_utf8(model.to_string(torch::tensor({id})));
}

void kg_check_layer_and_top_k(const ModelConfig& c, int64_t layer, int64_t top_k, std::string_view method) {
  check_layer(c, layer, method);
  const int64_t most = std::min(c.d_head, c.d_model);  // the rank of W_Q W_K^T is at most d_head
  if (top_k < 1 || top_k > most)
    throw Error(fmt::format("{}: top_k {} is not in 1..{} (a head's QK circuit has rank at most d_head = {})", method,
                            top_k, most, c.d_head));
}

// Every token id a row of W_E; `distinct`: each at most once (they are a graph's nodes).
void kg_check_token_ids(const HookedTransformer& model, const std::vector<int64_t>& ids, bool distinct,
                        std::string_view method) {
  if (ids.empty()) throw Error(fmt::format("{}: token_ids is empty", method));
  const int64_t vocab = model.weights().W_E.size(0);
  std::set<int64_t> seen;
  for (const int64_t id : ids) {
    if (id < 0 || id >= vocab)
      throw Error(
          fmt::format("{}: token_ids holds {}, which is not a token of the vocabulary (0..{})", method, id, vocab - 1));
    if (distinct && !seen.insert(id).second)
      throw Error(fmt::format("{}: token_ids lists {} twice (a graph's nodes are distinct tokens)", method, id));
  }
}

// The layer's QK circuits W_Q W_K^T [n_heads, d_model, d_model] as factors, in float64 on the CPU: as qk_circuits
// (ln1's gain folded into both sides, grouped-query key heads repeated per query head), for one layer only.
FactoredMatrix kg_layer_qk(const HookedTransformer& model, int64_t layer) {
  const auto& c = model.config();
  const auto& block = model.weights().blocks[layer];
  auto W_Q = block.attn.W_Q.to(torch::kCPU, torch::kFloat64);  // [n_heads, d_model, d_head]
  auto W_K = block.attn.W_K.to(torch::kCPU, torch::kFloat64);  // [kv_heads, d_model, d_head]
  if (auto gain = norm_gain(c.normalization, block.ln1); gain.defined()) {
    const auto g = gain.to(torch::kCPU, torch::kFloat64).reshape({1, -1, 1});
    W_Q = W_Q * g;
    W_K = W_K * g;
  }
  if (c.kv_heads() != c.n_heads) W_K = W_K.repeat_interleave(c.n_heads / c.kv_heads(), 0);
  return {W_Q, W_K.transpose(-2, -1)};
}

// The top-k singular triples of each head's QK circuit, from the factors (FactoredMatrix::svd works on d_head-sized
// cores: no d_model x d_model matrix is formed). Singular vectors are defined up to a joint sign; fixing it (u's
// largest-magnitude entry positive, v flipped with it) makes results reproducible.
RelationalSubspaces kg_relational_subspaces(const HookedTransformer& model, int64_t layer, int64_t top_k) {
  using torch::indexing::Slice;
  const auto svd = kg_layer_qk(model, layer).svd();  // U [h, d, r], S [h, r], Vh [h, r, d]
  auto U = svd.U.index({Slice(), Slice(), Slice(0, top_k)}).transpose(-2, -1).contiguous();  // [h, k, d]
  auto V = svd.Vh.index({Slice(), Slice(0, top_k), Slice()}).contiguous();                   // [h, k, d]
  auto S = svd.S.index({Slice(), Slice(0, top_k)}).contiguous();                             // [h, k]
  auto sign = U.gather(-1, U.abs().argmax(-1, /*keepdim=*/true)).sign();
  sign = torch::where(sign == 0, torch::ones_like(sign), sign);
  return {layer, top_k, U * sign, V * sign, S};
}

// The tokens' embeddings [n, d_model] in float64: W_E's rows times the embedding multiplier, as the residual stream
// receives them. `normalize`: then centred (LayerNorm kinds) and scaled to RMS 1 as the layer's ln1 would, without
// its gain, which the QK circuit already holds (positions, earlier layers and ln1's bias are left out, as in
// TransformerLens' full QK circuit W_E W_QK W_E^T).
torch::Tensor kg_embeddings(const HookedTransformer& model, const std::vector<int64_t>& ids, bool normalize) {
  const auto& c = model.config();
  const auto& W_E = model.weights().W_E;
  const auto index = torch::tensor(ids, torch::kLong).to(W_E.device());
  auto e = W_E.index_select(0, index).to(torch::kCPU, torch::kFloat64);
  if (c.embedding_multiplier != 1.0) e = e * c.embedding_multiplier;
  if (normalize) {
    const auto semantics = norm_semantics(c.normalization);
    if (semantics.present) {
      if (semantics.centres) e = e - e.mean(-1, /*keepdim=*/true);
      e = e / (e.pow(2).mean(-1, /*keepdim=*/true) + c.eps).sqrt();
    }
  }
  return e;
}

}  // namespace

// ---- results -----------------------------------------------------------------------------------------------------

nlohmann::json RelationalSubspaces::to_json() const {
  nlohmann::json heads = nlohmann::json::array();
  for (int64_t h = 0; h < singular_values.size(0); ++h)
    heads.push_back({{"head", Head{static_cast<int>(layer), static_cast<int>(h)}.label()},
                     {"singular_values", to_doubles(singular_values[h])}});
  return {{"layer", layer},
          {"top_k", top_k},
          {"d_model", query_directions.size(-1)},
          {"heads", heads},
          {"tensors", {"query_directions", "key_directions", "singular_values"}}};
}

nlohmann::json TokenProjections::to_json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (std::size_t t = 0; t < token_ids.size(); ++t) {
    const auto i = static_cast<int64_t>(t);
    rows.push_back({{"id", token_ids[t]},
                    {"token", t < tokens.size() ? nlohmann::json(tokens[t]) : nlohmann::json(nullptr)},
                    {"query", kg_nested_json(query_projections[i])},
                    {"key", kg_nested_json(key_projections[i])}});
  }
  return {{"layer", layer},
          {"top_k", top_k},
          {"normalized", normalized},
          {"singular_values", kg_nested_json(singular_values)},
          {"tokens", rows}};
}

nlohmann::json RelationGraph::to_json() const {
  nlohmann::json node_list = nlohmann::json::array(), edge_list = nlohmann::json::array();
  for (const auto& n : nodes)
    node_list.push_back({{"id", n.id}, {"token", n.token ? nlohmann::json(*n.token) : nlohmann::json(nullptr)}});
  for (const auto& e : edges)
    edge_list.push_back({{"source", e.source},
                         {"target", e.target},
                         {"head", e.head.label()},
                         {"direction", e.direction},
                         {"weight", e.weight}});
  return {{"layer", layer},           {"top_k", top_k},     {"threshold", threshold},
          {"normalized", normalized}, {"nodes", node_list}, {"edges", edge_list}};
}

std::string RelationGraph::to_graphml() const {
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n"
      "  <key id=\"label\" for=\"node\" attr.name=\"label\" attr.type=\"string\"/>\n"
      "  <key id=\"token_id\" for=\"node\" attr.name=\"token_id\" attr.type=\"long\"/>\n"
      "  <key id=\"head\" for=\"edge\" attr.name=\"head\" attr.type=\"string\"/>\n"
      "  <key id=\"direction\" for=\"edge\" attr.name=\"direction\" attr.type=\"int\"/>\n"
      "  <key id=\"weight\" for=\"edge\" attr.name=\"weight\" attr.type=\"double\"/>\n";
  out += fmt::format("  <graph id=\"L{}\" edgedefault=\"directed\">\n", layer);
  for (const auto& n : nodes) {
    const std::string label = n.token ? kg_valid_utf8(*n.token) : std::to_string(n.id);
    out += fmt::format("    <node id=\"t{}\"><data key=\"label\">{}</data><data key=\"token_id\">{}</data></node>\n",
                       n.id, kg_xml_escape(label), n.id);
  }
  for (std::size_t i = 0; i < edges.size(); ++i) {
    const auto& e = edges[i];
    out += fmt::format(
        "    <edge id=\"e{}\" source=\"t{}\" target=\"t{}\"><data key=\"head\">{}</data>"
        "<data key=\"direction\">{}</data><data key=\"weight\">{}</data></edge>\n",
        i, e.source, e.target, e.head.label(), e.direction, e.weight);
  }
  out += "  </graph>\n</graphml>\n";
  return out;
}

nlohmann::json LinearRelationalEmbedding::to_json() const {
  nlohmann::json rows = nlohmann::json::array();
  auto text = [](const std::optional<std::string>& s) { return s ? nlohmann::json(*s) : nlohmann::json(nullptr); };
  for (const auto& p : predictions)
    rows.push_back({{"example", p.example},
                    {"object", p.object},
                    {"predicted", p.predicted},
                    {"model_predicted", p.model_predicted},
                    {"faithful", p.faithful},
                    {"object_token", text(p.object_token)},
                    {"predicted_token", text(p.predicted_token)}});
  return {{"layer", layer},
          {"beta", beta},
          {"n_train", n_train},
          {"n_test", n_test},
          {"faithfulness_test", faithfulness_test},
          {"faithfulness_train", faithfulness_train},
          {"model_accuracy_test", model_accuracy_test},
          {"model_accuracy_train", model_accuracy_train},
          {"predictions", rows},
          {"tensors", {"W", "b", "subject_states", "object_states"}}};
}

// ---- methods -----------------------------------------------------------------------------------------------------

RelationalSubspaces KgExtractorTool::extract_relational_subspaces(const ExtractRelationalSubspacesArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  kg_check_layer_and_top_k(model().config(), args.layer, args.top_k, ExtractRelationalSubspacesArgs::method);
  return kg_relational_subspaces(model(), args.layer, args.top_k);
}

TokenProjections KgExtractorTool::project_token_embeddings(const ProjectTokenEmbeddingsArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  const auto& m = model();
  constexpr auto name = ProjectTokenEmbeddingsArgs::method;
  kg_check_layer_and_top_k(m.config(), args.layer, args.top_k, name);
  kg_check_token_ids(m, args.token_ids, /*distinct=*/false, name);
  const auto sub = kg_relational_subspaces(m, args.layer, args.top_k);
  const auto e = kg_embeddings(m, args.token_ids, args.normalize);  // [n, d]
  TokenProjections out{args.layer,
                       args.top_k,
                       args.normalize,
                       args.token_ids,
                       {},
                       torch::einsum("nd,hkd->nhk", {e, sub.query_directions}),
                       torch::einsum("nd,hkd->nhk", {e, sub.key_directions}),
                       sub.singular_values};
  if (m.has_tokenizer())
    for (const int64_t id : args.token_ids) out.tokens.push_back(*kg_token_string(m, id));
  return out;
}

RelationGraph KgExtractorTool::identify_relation_types(const IdentifyRelationTypesArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  const auto& m = model();
  constexpr auto name = IdentifyRelationTypesArgs::method;
  kg_check_layer_and_top_k(m.config(), args.layer, args.top_k, name);
  if (!(args.threshold > 0.0 && args.threshold <= 1.0))
    throw Error(fmt::format("{}: threshold {} is not in (0, 1]", name, args.threshold));
  kg_check_token_ids(m, args.token_ids, /*distinct=*/true, name);
  const auto sub = kg_relational_subspaces(m, args.layer, args.top_k);
  const auto e = kg_embeddings(m, args.token_ids, args.normalize);             // [n, d]
  const auto query = torch::einsum("nd,hkd->nhk", {e, sub.query_directions});  // e_a · u_i
  const auto key = torch::einsum("nd,hkd->nhk", {e, sub.key_directions});      // v_i · e_b
  const auto scores = torch::einsum("ahk,hk,bhk->hkab", {query, sub.singular_values, key}).contiguous();
  const int64_t n = e.size(0), heads = scores.size(0);
  // The largest |score| of each (head, direction) over the pairs that can be edges (a != b).
  const auto off_diagonal = 1.0 - torch::eye(n, torch::kFloat64);
  const auto largest = (scores.abs() * off_diagonal).amax({-2, -1}).contiguous();  // [h, k]

  RelationGraph out{args.layer, args.top_k, args.threshold, args.normalize, {}, {}, scores};
  for (const int64_t id : args.token_ids) out.nodes.push_back({id, kg_token_string(m, id)});
  const auto s = scores.accessor<double, 4>();
  const auto top = largest.accessor<double, 2>();
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < args.top_k; ++i) {
      const double cut = args.threshold * top[h][i];
      for (int64_t a = 0; a < n; ++a)
        for (int64_t b = 0; b < n; ++b)
          if (a != b && s[h][i][a][b] > 0 && s[h][i][a][b] >= cut)
            out.edges.push_back({args.token_ids[a], args.token_ids[b],
                                 Head{static_cast<int>(args.layer), static_cast<int>(h)}, i, s[h][i][a][b]});
    }
  return out;
}

LinearRelationalEmbedding KgExtractorTool::linear_relational_embedding(const LinearRelationalEmbeddingArgs& args) {
  note_call(args);
  auto& m = model();
  const auto& c = m.config();
  constexpr auto name = LinearRelationalEmbeddingArgs::method;
  // One prompt per row: a [n, pos] tensor makes every prompt one length, so "the last position" is one column.
  const auto ids = batch_of_tokens(args.tokens, name).to(m.device());
  const int64_t n = ids.size(0), length = ids.size(1), d = c.d_model;
  if (n < 2)
    throw Error(fmt::format(
        "{}: tokens hold {} example; fitting the map and testing it need at least 2 (one prompt per row)", name, n));
  check_layer(c, args.layer, name);
  const auto given = static_cast<int64_t>(args.subject_positions.size());
  if (given != 1 && given != n)
    throw Error(fmt::format(
        "{}: subject_positions has {} entries for {} examples (give one per example, or one for all)", name, given, n));
  std::vector<int64_t> subject(n);
  for (int64_t i = 0; i < n; ++i)
    subject[i] = position(args.subject_positions[given == 1 ? 0 : i], length, name, "subject_positions");
  if (static_cast<int64_t>(args.objects.size()) != n)
    throw Error(fmt::format("{}: objects has {} entries for {} examples (one object token per example)", name,
                            args.objects.size(), n));
  for (const int64_t object : args.objects) check_token(m, object, name, "objects");
  const int64_t n_train = args.n_train.value_or(std::max<int64_t>(1, n / 2));
  if (n_train < 1 || n_train > n - 1)
    throw Error(fmt::format("{}: n_train {} is not in 1..{} (the other examples, at least one, are held out)", name,
                            n_train, n - 1));
  if (!std::isfinite(args.beta)) throw Error(fmt::format("{}: beta {} is not a finite number", name, args.beta));

  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  LinearRelationalEmbedding out;
  out.layer = args.layer;
  out.beta = args.beta;
  out.n_train = n_train;
  out.n_test = n - n_train;
  out.subject_states = torch::zeros({n, d}, f64);
  out.object_states = torch::zeros({n, d}, f64);
  auto jacobian_sum = torch::zeros({d, d}, f64);
  std::vector<int64_t> model_predicted(n);
  ForwardOptions to_final_stream;
  to_final_stream.stop_at_layer = static_cast<int>(c.n_layers);  // the input of ln_final: blocks.{L-1}.hook_resid_post

  for (int64_t i = 0; i < n; ++i) {
    const bool fit = i < n_train;
    const int64_t p = subject[i];
    // h, the subject's state, replaced by a leaf of its own so the graph's gradients stop there.
    torch::Tensor h;
    const NamedHooks substitute = {
        {hooks::resid_pre(static_cast<int>(args.layer)), [&h, p](const torch::Tensor& x) {
           h = x.select(1, p).detach().clone().requires_grad_(true);
           return torch::cat({x.narrow(1, 0, p), h.unsqueeze(1), x.narrow(1, p + 1, x.size(1) - p - 1)}, 1);
         }}};
    // The Jacobian ∂o/∂h [d, d], `rows` rows per forward: batch row r is a copy of the prompt whose output entry
    // j0 + r is differentiated, so one backward gives rows j0 .. j0 + rows - 1 exactly (the copies do not interact).
    for (int64_t j0 = 0; j0 < (fit ? d : 1); j0 += kKgJacobianRows) {
      const int64_t rows = fit ? std::min(kKgJacobianRows, d - j0) : 1;
      torch::AutoGradMode grad_mode(fit);
      const auto final_stream = m.run_with_hooks(ids.narrow(0, i, 1).repeat({rows, 1}), substitute, to_final_stream);
      const auto o = final_stream.select(1, length - 1);  // [rows, d]
      if (j0 == 0) {
        torch::NoGradGuard no_grad;
        out.subject_states[i] = h[0].detach().to(torch::kCPU, torch::kFloat64);
        out.object_states[i] = o[0].detach().to(torch::kCPU, torch::kFloat64);
        model_predicted[i] = m.unembed(m.ln_final(o.narrow(0, 0, 1).detach())).argmax(-1).item<int64_t>();
      }
      if (fit) {
        const auto entries =
            torch::arange(j0, j0 + rows, torch::TensorOptions().dtype(torch::kLong).device(o.device()));
        const auto picked = o.gather(1, entries.unsqueeze(1)).sum();
        const auto grad = torch::autograd::grad({picked}, {h})[0];  // [rows, d]
        jacobian_sum.narrow(0, j0, rows).add_(grad.detach().to(torch::kCPU, torch::kFloat64));
      }
    }
  }

  torch::NoGradGuard no_grad;
  using torch::indexing::Slice;
  const auto H = out.subject_states, O = out.object_states;
  out.W = jacobian_sum / static_cast<double>(n_train);
  out.b = (O.index({Slice(0, n_train)}) - torch::matmul(H.index({Slice(0, n_train)}), out.W.t())).mean(0);
  const auto decoded = (args.beta * torch::matmul(H, out.W.t()) + out.b).to(m.device(), c.dtype);
  const auto predicted = m.unembed(m.ln_final(decoded)).argmax(-1).to(torch::kCPU).contiguous();  // [n]
  const auto* pred = predicted.data_ptr<int64_t>();
  int64_t faithful_train = 0, faithful_test = 0, correct_train = 0, correct_test = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool faithful = pred[i] == args.objects[i], correct = model_predicted[i] == args.objects[i];
    (i < n_train ? faithful_train : faithful_test) += faithful;
    (i < n_train ? correct_train : correct_test) += correct;
    if (i >= n_train)
      out.predictions.push_back({i, args.objects[i], pred[i], model_predicted[i], faithful,
                                 kg_token_string(m, args.objects[i]), kg_token_string(m, pred[i])});
  }
  out.faithfulness_train = static_cast<double>(faithful_train) / static_cast<double>(n_train);
  out.faithfulness_test = static_cast<double>(faithful_test) / static_cast<double>(out.n_test);
  out.model_accuracy_train = static_cast<double>(correct_train) / static_cast<double>(n_train);
  out.model_accuracy_test = static_cast<double>(correct_test) / static_cast<double>(out.n_test);
  return out;
}

}  // namespace arrakis
