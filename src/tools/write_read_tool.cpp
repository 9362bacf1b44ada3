#include "arrakis/tools/write_read_tool.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "arrakis/analysis/circuits.hpp"
#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "tools/tool_inputs.hpp"

namespace arrakis {

using namespace tool_inputs;

// ---- declarations ------------------------------------------------------------------------------------------------

std::vector<ToolArgument<IdentifyWriteHeads>> IdentifyWriteHeads::arguments() {
  using A = IdentifyWriteHeads;
  return {argument("layer", &A::layer, "the layer whose heads are scored", Need::Required),
          argument("threshold", &A::threshold, "keep the best heads until their share of score² reaches this"),
          argument("tokens", &A::tokens, "score by mean ‖hook_result‖₂ on these tokens (default: ‖W_V W_O‖_F)")};
}

std::vector<ToolArgument<IdentifyReadHeads>> IdentifyReadHeads::arguments() {
  using A = IdentifyReadHeads;
  return {argument("layer", &A::layer, "the layer whose heads are scored", Need::Required),
          argument("direction", &A::direction,
                   "what is read: a residual dimension, a token's unembedding, or an earlier head's output",
                   Need::Required),
          argument("threshold", &A::threshold, "keep the best heads until their share of score² reaches this"),
          argument("via", &A::via, "the reading side: queries, keys or values")};
}

std::vector<ToolArgument<TraceInformationFlow>> TraceInformationFlow::arguments() {
  using A = TraceInformationFlow;
  return {argument("tokens", &A::tokens, "the input (a batch is averaged)", Need::Required),
          argument("source", &A::source, "the position information comes from (negative: from the end)"),
          argument("destination", &A::destination, "the position it reaches (negative: from the end)"),
          argument("n_layers", &A::n_layers, "trace through the first n layers (default: all)"),
          argument("top_k", &A::top_k, "how many heads top_paths lists")};
}

ToolDescription WriteReadTool::describe() {
  return {
      "which heads write to the residual stream, which read a subspace or an earlier head, and how information "
      "flows between positions",
      {method<&WriteReadTool::identify_write_heads>(), method<&WriteReadTool::identify_read_heads>(),
       method<&WriteReadTool::trace_information_flow>()}};
}

// ---- results -----------------------------------------------------------------------------------------------------

ReadDirection ReadDirection::parse(std::string_view text) {
  auto after = [&](std::string_view prefix) { return text.substr(prefix.size()); };
  if (text.starts_with("head:")) return head_output(Head::parse(after("head:")));
  if (text.starts_with("token:")) return token(ArgumentType<int64_t>::parse(after("token:")));
  if (text.starts_with("dim:")) return dimension(ArgumentType<int64_t>::parse(after("dim:")));
  try {
    return dimension(ArgumentType<int64_t>::parse(text));
  } catch (const Error&) {
    throw Error(fmt::format("direction '{}' is none of N or dim:N (a residual dimension), token:ID, head:L.H", text));
  }
}

nlohmann::json ReadDirection::to_json() const {
  switch (kind) {
    case Kind::Dimension: return fmt::format("dim:{}", index);
    case Kind::Token: return fmt::format("token:{}", index);
    case Kind::HeadOutput: return "head:" + head.label();
    case Kind::Vector: return {{"vector", basis.sizes().vec()}};
  }
  return nullptr;
}

HeadRanking rank_heads(int64_t layer, torch::Tensor scores, double threshold, std::string score) {
  if (!(threshold > 0.0 && threshold <= 1.0)) throw Error(fmt::format("threshold {} is not in (0, 1]", threshold));
  HeadRanking out{layer, std::move(score), threshold, {}, scores.to(torch::kFloat64).cpu()};
  const auto s = out.scores;
  const double total = (s * s).sum().item<double>();
  auto order = std::get<1>(s.sort(/*dim=*/0, /*descending=*/true));
  double cumulative = 0;
  for (int64_t i = 0; i < order.size(0); ++i) {
    const int64_t h = order[i].item<int64_t>();
    const double value = s[h].item<double>();
    const double share = total > 0 ? value * value / total : 0.0;
    out.heads.push_back({Head{static_cast<int>(layer), static_cast<int>(h)}, value, share});
    cumulative += share;
    if (total > 0 && threshold < 1.0 && cumulative >= threshold) break;
  }
  return out;
}

nlohmann::json HeadRanking::to_json() const {
  nlohmann::json heads_json = nlohmann::json::array();
  for (const auto& h : heads) heads_json.push_back({{"head", h.head}, {"score", h.score}, {"share", h.share}});
  return {{"layer", layer},
          {"score", score},
          {"threshold", threshold},
          {"heads", heads_json},
          {"scores", std::vector<double>(scores.data_ptr<double>(), scores.data_ptr<double>() + scores.numel())}};
}

nlohmann::json InformationFlow::to_json() const {
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& p : top_paths) paths.push_back({{"head", p.head}, {"flow", p.flow}});
  auto r = rollout.contiguous();
  return {{"source", source},
          {"destination", destination},
          {"n_layers", n_layers},
          {"flow", flow},
          {"rollout", std::vector<double>(r.data_ptr<double>(), r.data_ptr<double>() + r.numel())},
          {"top_paths", paths}};
}

// ---- methods -----------------------------------------------------------------------------------------------------

namespace {

FactoredMatrix in_float64(const FactoredMatrix& m) { return {m.A().to(torch::kFloat64), m.B().to(torch::kFloat64)}; }

// The orthonormal basis [d_model, k] of what identify_read_heads reads.
torch::Tensor subspace(const HookedTransformer& model, const ReadDirection& d) {
  const auto& c = model.config();
  switch (d.kind) {
    case ReadDirection::Kind::Dimension:
      if (d.index < 0 || d.index >= c.d_model)
        throw Error(fmt::format("identify_read_heads: direction dim:{} is not a residual dimension (0..{})", d.index,
                                c.d_model - 1));
      return torch::eye(c.d_model, torch::kFloat64)
          .index({torch::indexing::Slice(), torch::indexing::Slice(d.index, d.index + 1)});
    case ReadDirection::Kind::Token: {
      const auto& W_U = model.weights().W_U;  // [d_model, d_vocab]
      if (d.index < 0 || d.index >= W_U.size(1))
        throw Error(fmt::format("identify_read_heads: direction token:{} is not in the vocabulary (0..{})", d.index,
                                W_U.size(1) - 1));
      auto u = W_U.index({torch::indexing::Slice(), d.index}).to(torch::kFloat64).cpu().unsqueeze(1);
      const double n = u.norm().item<double>();
      if (!(n > 0)) throw Error(fmt::format("identify_read_heads: token {}'s unembedding is zero", d.index));
      return u / n;
    }
    case ReadDirection::Kind::Vector: {
      auto v = d.basis.to(torch::kFloat64).cpu();
      if (v.dim() == 1) v = v.unsqueeze(1);
      if (v.dim() != 2 || v.size(0) != c.d_model || v.size(1) < 1)
        throw Error(
            fmt::format("identify_read_heads: a direction vector is [d_model] or [d_model, k] with d_model {}, "
                        "not [{}]",
                        c.d_model, fmt::join(d.basis.sizes(), ", ")));
      if (!torch::isfinite(v).all().item<bool>())
        throw Error("identify_read_heads: the direction vector holds NaN or infinity");
      auto [Q, R] = torch::linalg_qr(v);
      if (R.diagonal().abs().min().item<double>() <= 1e-10 * std::max(1.0, R.abs().max().item<double>()))
        throw Error("identify_read_heads: the direction's columns are linearly dependent (or zero)");
      return Q;
    }
    case ReadDirection::Kind::HeadOutput: break;
  }
  throw Error("identify_read_heads: a head's output is not a fixed subspace");
}

}  // namespace

HeadRanking WriteReadTool::identify_write_heads(const IdentifyWriteHeads& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  const auto& c = m.config();
  check_layer(c, args.layer, IdentifyWriteHeads::method);
  const int layer = static_cast<int>(args.layer);
  if (!args.tokens)
    return rank_heads(args.layer, in_float64(ov_circuits(m).select(0, layer)).norm(), args.threshold, "‖W_V W_O‖_F");
  const auto ids = batch_of_tokens(*args.tokens, IdentifyWriteHeads::method);
  auto [logits, cache] = m.run_with_cache(ids, NameFilter{std::vector<std::string>{hooks::z(layer)}});
  const auto z = cache[hooks::z(layer)].to(torch::kFloat64);                               // [b, p, h, e]
  const auto W_O = m.weights().blocks[layer].attn.W_O.to(torch::kFloat64).to(z.device());  // [h, e, d]
  const auto result = torch::einsum("bphe,hed->bphd", {z, W_O});
  return rank_heads(args.layer, result.norm(2, -1).mean(std::vector<int64_t>{0, 1}), args.threshold,
                    "mean ‖hook_result‖₂");
}

HeadRanking WriteReadTool::identify_read_heads(const IdentifyReadHeads& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  const auto& c = m.config();
  constexpr auto name = IdentifyReadHeads::method;
  check_layer(c, args.layer, name);
  const int layer = static_cast<int>(args.layer);
  const auto qk = in_float64(qk_circuits(m).select(0, layer));  // [heads, d, d]: query side rows, key side columns
  const auto ov = in_float64(ov_circuits(m).select(0, layer));  // [heads, d, d]: reading rows
  const char* via = args.via == ReadVia::Q ? "q" : args.via == ReadVia::K ? "k" : "v";
  if (args.direction.kind == ReadDirection::Kind::HeadOutput) {
    const Head sender = args.direction.head;
    check_head(c, sender, name, "direction");
    if (sender.layer >= layer)
      throw Error(
          fmt::format("{}: head {} is not in an earlier layer than {}: a head reads only what earlier layers "
                      "wrote",
                      name, sender.label(), layer));
    const auto sender_ov = in_float64(ov_circuits(m).select(0, sender.layer).select(0, sender.head));
    const FactoredMatrix receiver = args.via == ReadVia::Q ? qk : args.via == ReadVia::K ? qk.transpose() : ov;
    return rank_heads(args.layer, composition_scores(sender_ov, receiver), args.threshold,
                      fmt::format("{}-composition from {}", via, sender.label()));
  }
  const auto U = subspace(m, args.direction).to(qk.A().device());  // [d, k]
  torch::Tensor read;
  switch (args.via) {
    case ReadVia::Q: read = qk.rmatmul(U.t()).norm() / qk.norm(); break;
    case ReadVia::K: read = qk.matmul(U).norm() / qk.norm(); break;
    case ReadVia::V: read = ov.rmatmul(U.t()).norm() / ov.norm(); break;
  }
  return rank_heads(args.layer, read, args.threshold,
                    fmt::format("share of the {} circuit's norm reading {}", args.via == ReadVia::V ? "OV" : "QK",
                                args.direction.to_json().dump()));
}

InformationFlow WriteReadTool::trace_information_flow(const TraceInformationFlow& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  const auto& c = m.config();
  constexpr auto name = TraceInformationFlow::method;
  const auto ids = batch_of_tokens(args.tokens, name);
  const int64_t length = ids.size(1);
  const int64_t src = position(args.source, length, name, "source");
  const int64_t dst = position(args.destination, length, name, "destination");
  const int64_t n_layers = args.n_layers.value_or(c.n_layers);
  if (n_layers < 1 || n_layers > c.n_layers)
    throw Error(fmt::format("{}: n_layers {} is not in 1..{}", name, n_layers, c.n_layers));
  if (args.top_k < 1) throw Error(fmt::format("{}: top_k must be at least 1", name));

  std::vector<std::string> names;
  for (int l = 0; l < n_layers; ++l) {
    names.push_back(hooks::pattern(l));
    names.push_back(hooks::v(l));
  }
  auto [logits, cache] = m.run_with_cache(ids, NameFilter{names});
  const int64_t batch = ids.size(0), heads = c.n_heads;
  InformationFlow out{args.source,
                      args.destination,
                      n_layers,
                      torch::zeros({n_layers, heads}, torch::kFloat64),
                      torch::zeros({n_layers}, torch::kFloat64),
                      0,
                      {}};
  auto eye = torch::eye(length, torch::kFloat64);
  auto rollout = eye.expand({batch, length, length}).clone();
  for (int l = 0; l < n_layers; ++l) {
    const auto A = cache[hooks::pattern(l)].to(torch::kFloat64).cpu();  // [b, h, q, k]
    auto v = cache[hooks::v(l)].to(torch::kFloat64).cpu();              // [b, p, g, e]
    if (v.size(2) != heads) v = v.repeat_interleave(heads / v.size(2), 2);
    const auto W_O = m.weights().blocks[l].attn.W_O.to(torch::kFloat64).cpu();
    const auto moved = torch::einsum("bphe,hed->bhpd", {v, W_O}).norm(2, -1);  // [b, h, k]: ‖v_k W_O‖
    const auto weighted = A * moved.unsqueeze(2);                              // [b, h, q, k]
    out.direct[l] = weighted.index({torch::indexing::Slice(), torch::indexing::Slice(), dst, src}).mean(0);
    auto M = weighted.sum(1);
    M = M / M.sum(-1, true).clamp_min(1e-300);
    rollout = torch::matmul(0.5 * M + 0.5 * eye, rollout);
    out.rollout[l] = rollout.index({torch::indexing::Slice(), dst, src}).mean();
  }
  out.flow = out.rollout[n_layers - 1].item<double>();
  const auto flat = out.direct.flatten();
  auto [values, indices] = flat.topk(std::min<int64_t>(args.top_k, flat.numel()));
  for (int64_t i = 0; i < values.size(0); ++i) {
    const int64_t k = indices[i].item<int64_t>();
    out.top_paths.push_back({Head{static_cast<int>(k / heads), static_cast<int>(k % heads)}, values[i].item<double>()});
  }
  return out;
}

}  // namespace arrakis
