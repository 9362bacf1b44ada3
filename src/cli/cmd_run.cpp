// arrakis run: one forward over a prompt or token ids; reports the top-k next tokens of every sequence, and with
// --out writes the logits and cached activations to safetensors.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "arrakis/model/loading.hpp"
#include "arrakis/runtime.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "cli/token_input.hpp"
#include "cli/validators.hpp"

namespace arrakis::cli {
namespace {

struct RunArgs {
  ModelOptions model;
  std::optional<std::string> prompt, input_ids, names;
  int top_k = 5;
  OutputOptions output;
};

struct NextToken {
  int64_t id;
  std::string text;  // "" without a tokenizer
  double probability, logit;
};

// The last real position of sequence b (padding may sit on either side).
int64_t last_position(const TokenInput& input, int64_t b) {
  int64_t last = input.input_ids.size(1) - 1;
  if (input.attention_mask.defined()) {
    auto real = input.attention_mask[b].nonzero();
    if (real.numel() > 0) last = real.max().item<int64_t>();
  }
  return last;
}

CommandReport run(const RunArgs& args) {
  torch::NoGradGuard no_grad;
  auto model = load_model(args.model);
  auto input = resolve_input(model, args.prompt, args.input_ids);
  ForwardOptions options;
  options.attention_mask = input.attention_mask;

  torch::Tensor logits;
  ActivationCache cache;
  const bool caching = args.output.out.has_value() || args.names.has_value();
  if (caching) {
    NameFilter filter = args.names ? names_matching(*args.names) : NameFilter();
    std::tie(logits, cache) = model.run_with_cache(input.input_ids, filter, options);
  } else {
    logits = model(input.input_ids, options);
  }

  const auto& ids = input.input_ids;
  const int64_t batch = ids.size(0), positions = ids.size(1);
  const int k = std::min<int64_t>(args.top_k, logits.size(-1));
  std::vector<int64_t> lasts;
  std::vector<std::vector<NextToken>> next(batch);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t last = last_position(input, b);
    lasts.push_back(last);
    auto probs = torch::softmax(logits.index({b, last}).to(torch::kFloat32), -1);
    auto [top_p, top_i] = probs.topk(k);
    for (int i = 0; i < k; ++i) {
      const int64_t id = top_i[i].item<int64_t>();
      next[b].push_back({id, model.has_tokenizer() ? model.to_string(torch::tensor({id})) : "", top_p[i].item<double>(),
                         logits.index({b, last, id}).item<double>()});
    }
  }

  CommandReport report;
  const std::string name = model.config().model_name;
  nlohmann::json sequences = nlohmann::json::array();
  for (int64_t b = 0; b < batch; ++b) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& t : next[b]) {
      nlohmann::json entry = {{"id", t.id}, {"probability", t.probability}, {"logit", t.logit}};
      if (model.has_tokenizer()) entry["text"] = t.text;
      top.push_back(entry);
    }
    sequences.push_back({{"position", lasts[b]}, {"top", top}});
  }
  report.json = {{"model", name}, {"batch", batch}, {"positions", positions}, {"sequences", sequences}};
  if (caching) report.json["cached"] = {{"activations", cache.size()}, {"bytes", cache.nbytes()}};
  report.print_text = [=, has_tokenizer = model.has_tokenizer(), cached = cache.size(), bytes = cache.nbytes()] {
    fmt::print("{}: {} sequence{} of {} tokens\n", name, batch, batch == 1 ? "" : "s", positions);
    for (int64_t b = 0; b < batch; ++b) {
      fmt::print("sequence {} — next token after position {}:\n", b, lasts[b]);
      // {:?} quotes and escapes the text (newlines, tabs) so every token shows on one line.
      for (const auto& t : next[b])
        fmt::print("  {:>8}{:<24} p={:.4f}  logit={:.4f}\n", t.id, has_tokenizer ? fmt::format(" {:?}", t.text) : "",
                   t.probability, t.logit);
    }
    if (caching) fmt::print("cached {} activations ({:.2f} MB)\n", cached, static_cast<double>(bytes) / (1 << 20));
  };
  if (args.output.out) {
    report.tensors = {{"input_ids", ids}, {"logits", logits}};
    if (input.attention_mask.defined()) report.tensors.emplace_back("attention_mask", input.attention_mask);
    for (const auto& hook : cache) report.tensors.emplace_back(hook, cache[hook]);
    report.metadata = {{"model", name}, {"arrakis_version", version()}};
  }
  return report;
}

}  // namespace

void register_run(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Run a model on a prompt or token ids; print the top-k next tokens");
  add_model_options(cmd, args->model);
  add_token_input_options(cmd, args->prompt, args->input_ids);
  cmd->add_option("--names", args->names, "Cache only hook points whose name matches this regex");
  cmd->add_option("--top-k", args->top_k, "How many next tokens to print")->check(integer_in(1, kMaxCount));
  add_output_options(cmd, args->output,
                     {.out = "Write input_ids, logits and the cached activations to this .safetensors file"});
  cmd->callback([args] { emit(run(*args), args->output); });
}

}  // namespace arrakis::cli
