#include "arrakis/demo/demo_report.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

#include <map>

#include "arrakis/demo/demo_model.hpp"

namespace arrakis {
namespace {

using torch::indexing::Slice;

// Mean attention from query q to key q - offset over queries q >= first_query, per head: [heads].
torch::Tensor diagonal_score(const torch::Tensor& pattern, int64_t offset, int64_t first_query) {
  const int64_t pos = pattern.size(-1);
  std::vector<torch::Tensor> rows;
  for (int64_t q = first_query; q < pos; ++q) rows.push_back(pattern.index({Slice(), Slice(), q, q - offset}));
  return torch::stack(rows).mean(at::IntArrayRef{0, 1});  // over queries and batch
}

std::string shape_string(const torch::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

}  // namespace

void run_demo(std::ostream& out, const DemoOptions& options) {
  torch::NoGradGuard no_grad;
  auto model = load_demo_model();
  const auto& c = model.config();
  const int64_t T = 16;  // the repeated half: positions 1..T, again at T+1..2T

  int64_t parameters = 0;
  for (const auto& [name, t] : model.weights().named_parameters(c)) parameters += t.numel();
  fmt::print(out, "Arrakis demo: {} — {} layers, {} heads x {} dims, d_model {}, attention-only, {} parameters\n",
             c.model_name, c.n_layers, c.n_heads, c.d_head, c.d_model, parameters);
  fmt::print(out, "Trained by Arrakis itself to continue repeated segments of random tokens "
                  "(reproduce: arrakis train-demo-model --out DIR).\n\n");

  auto generator = at::detail::createCPUGenerator(options.seed);
  auto tokens = repeated_random_tokens(options.batch, T, c.d_vocab, generator);
  auto [logits, cache] = model.run_with_cache(tokens);

  // ---- what it predicts -------------------------------------------------------------------------------------------
  auto per_token = lm_loss(logits, tokens, {}, /*per_token=*/true);  // [batch, pos-1]; position p predicts p+1
  auto first_copy = per_token.index({Slice(), Slice(0, T)}).mean().item<double>();
  auto second_copy = per_token.index({Slice(), Slice(T, torch::indexing::None)}).mean().item<double>();
  auto predicted = logits.argmax(-1);
  auto repeat_hits = (predicted.index({Slice(), Slice(T, 2 * T)}) == tokens.index({Slice(), Slice(T + 1, 2 * T + 1)}))
                         .to(torch::kFloat32)
                         .mean()
                         .item<double>();
  fmt::print(out, "Predictions on {} sequences of {} random tokens, each repeated once ({} positions):\n",
             options.batch, T, tokens.size(1));
  fmt::print(out, "  loss on the first copy  {:.3f} nats (chance: ln({}) = {:.3f})\n", first_copy, c.d_vocab - 1,
             std::log(static_cast<double>(c.d_vocab - 1)));
  fmt::print(out, "  loss on the second copy {:.3f} nats; top-1 accuracy {:.1f}%: the model copies what came before\n",
             second_copy, 100.0 * repeat_hits);

  auto probs = torch::softmax(logits.index({0}), -1);
  auto row = tokens[0].contiguous();
  std::vector<int64_t> ids(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
  fmt::print(out, "\n  sequence 0: {}\n", fmt::join(ids, " "));
  fmt::print(out, "  {:>8} {:>6} {:>10} {:>12}\n", "position", "token", "next", "top guess");
  for (int64_t p : {int64_t{1}, int64_t{2}, T - 1, T, T + 1, T + 2, 2 * T - 1}) {
    auto top = probs[p].max(-1);
    fmt::print(out, "  {:>8} {:>6} {:>10} {:>6} ({:4.1f}%)\n", p, tokens.index({0, p}).item<int64_t>(),
               tokens.index({0, p + 1}).item<int64_t>(), std::get<1>(top).item<int64_t>(),
               100.0 * std::get<0>(top).item<double>());
  }

  // ---- which heads do it ------------------------------------------------------------------------------------------
  fmt::print(out, "\nAttention heads (mean attention; induction = to the token after the previous occurrence, "
                  "offset {}):\n", T - 1);
  fmt::print(out, "  {:>6} {:>15} {:>15}\n", "head", "previous-token", "induction");
  std::string best;
  double best_score = -1;
  for (int l = 0; l < c.n_layers; ++l) {
    const auto& pattern = cache.at("pattern", l);
    auto previous = diagonal_score(pattern, 1, 1);
    auto induction = diagonal_score(pattern, T - 1, T + 1);
    for (int h = 0; h < c.n_heads; ++h) {
      fmt::print(out, "  {:>6} {:>15.3f} {:>15.3f}\n", fmt::format("L{}H{}", l, h), previous[h].item<double>(),
                 induction[h].item<double>());
      if (induction[h].item<double>() > best_score) {
        best_score = induction[h].item<double>();
        best = fmt::format("L{}H{}", l, h);
      }
    }
  }
  fmt::print(out, "  strongest induction head: {} ({:.3f})\n", best, best_score);

  // ---- what it caches ---------------------------------------------------------------------------------------------
  fmt::print(out, "\nActivation cache: {} hook points, {:.2f} MB for {} tokens\n", cache.size(),
             static_cast<double>(cache.nbytes()) / (1 << 20), tokens.numel());
  std::map<std::string, std::pair<int, std::string>> kinds;  // name without the layer -> (count, shape)
  std::vector<std::string> order;
  for (const auto& name : cache) {
    std::string kind = name;
    if (kind.starts_with("blocks.")) kind = "blocks.L." + kind.substr(kind.find('.', 7) + 1);
    if (!kinds.count(kind)) order.push_back(kind);
    auto& entry = kinds[kind];
    entry.first++;
    entry.second = shape_string(cache[name]);
  }
  for (const auto& kind : order)
    fmt::print(out, "  {:<32} {:>3} x {}\n", kind, kinds[kind].first, kinds[kind].second);
}

}  // namespace arrakis
