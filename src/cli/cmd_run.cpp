// arrakis run: one forward over a prompt or token ids; prints the top-k next tokens, optionally saves the logits and
// cached activations to safetensors.
#include <fmt/format.h>

#include <iostream>

#include "arrakis/model/loading.hpp"
#include "arrakis/runtime.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "cli/token_input.hpp"
#include "cli/validators.hpp"

namespace arrakis::cli {
namespace {

struct RunArgs {
  ModelOptions model;
  std::optional<std::string> prompt, input_ids, names, out;
  int top_k = 5;
};

void run(const RunArgs& args) {
  torch::NoGradGuard no_grad;
  auto model = load_model(args.model);
  auto input = resolve_input(model, args.prompt, args.input_ids);
  ForwardOptions options;
  options.attention_mask = input.attention_mask;

  torch::Tensor logits;
  ActivationCache cache;
  const bool caching = args.out.has_value() || args.names.has_value();
  if (caching) {
    NameFilter filter = args.names ? names_matching(*args.names) : NameFilter();
    std::tie(logits, cache) = model.run_with_cache(input.input_ids, filter, options);
  } else {
    logits = model(input.input_ids, options);
  }

  const auto& ids = input.input_ids;
  const int64_t batch = ids.size(0), pos = ids.size(1);
  fmt::print("{}: {} sequence{} of {} tokens\n", model.config().model_name, batch, batch == 1 ? "" : "s", pos);
  const int k = std::min<int64_t>(args.top_k, logits.size(-1));
  for (int64_t b = 0; b < batch; ++b) {
    // The last real position (padding may sit on either side).
    int64_t last = pos - 1;
    if (input.attention_mask.defined()) {
      auto real = input.attention_mask[b].nonzero();
      if (real.numel() > 0) last = real.max().item<int64_t>();
    }
    auto probs = torch::softmax(logits.index({b, last}).to(torch::kFloat32), -1);
    auto [top_p, top_i] = probs.topk(k);
    fmt::print("sequence {} — next token after position {}:\n", b, last);
    for (int i = 0; i < k; ++i) {
      int64_t id = top_i[i].item<int64_t>();
      // {:?} quotes and escapes the text (newlines, tabs) so every token shows on one line.
      std::string text = model.has_tokenizer() ? fmt::format(" {:?}", model.to_string(torch::tensor({id}))) : "";
      fmt::print("  {:>8}{:<24} p={:.4f}  logit={:.4f}\n", id, text, top_p[i].item<double>(),
                 logits.index({b, last, id}).item<double>());
    }
  }
  if (caching) {
    fmt::print("cached {} activations ({:.2f} MB)\n", cache.size(), static_cast<double>(cache.nbytes()) / (1 << 20));
  }
  if (args.out) {
    NamedTensors extra = {{"input_ids", ids}, {"logits", logits}};
    if (input.attention_mask.defined()) extra.emplace_back("attention_mask", input.attention_mask);
    cache.save(*args.out, extra, {{"model", model.config().model_name}, {"arrakis_version", version()}});
    fmt::print("wrote {}\n", *args.out);
  }
}

}  // namespace

void register_run(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Run a model on a prompt or token ids; print the top-k next tokens");
  add_model_options(cmd, args->model);
  add_token_input_options(cmd, args->prompt, args->input_ids);
  cmd->add_option("--names", args->names, "Cache only hook points whose name matches this regex");
  cmd->add_option("--out", args->out, "Write input_ids, logits and the cached activations to this .safetensors file");
  cmd->add_option("--top-k", args->top_k, "How many next tokens to print")->check(integer_in(1, kMaxCount));
  cmd->callback([args] { run(*args); });
}

}  // namespace arrakis::cli
