#include "arrakis/analysis/sparse_autoencoder.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/autograd.h>
#include <torch/optim/adam.h>

#include <chrono>
#include <cmath>

#include "arrakis/analysis/sparsity.hpp"
#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "util/read_file.hpp"
#include "util/write_file.hpp"

namespace arrakis {

// ---- the SAE ------------------------------------------------------------------------------------------------------

std::string sae_architecture_name(SaeArchitecture architecture) {
  switch (architecture) {
    case SaeArchitecture::ReLU: return "standard";
    case SaeArchitecture::TopK: return "topk";
    case SaeArchitecture::JumpReLU: return "jumprelu";
  }
  return "?";
}

SaeArchitecture parse_sae_architecture(const std::string& name) {
  if (name == "standard" || name == "relu") return SaeArchitecture::ReLU;
  if (name == "topk") return SaeArchitecture::TopK;
  if (name == "jumprelu") return SaeArchitecture::JumpReLU;
  throw Error(fmt::format("SAE architecture '{}' is not one of standard (relu), topk, jumprelu", name));
}

nlohmann::json SaeConfig::to_saelens_json() const {
  nlohmann::json kwargs = nlohmann::json::object();
  if (architecture == SaeArchitecture::TopK) kwargs["k"] = k;
  nlohmann::json out = {{"architecture", sae_architecture_name(architecture)},
                        {"d_in", d_in},
                        {"d_sae", d_sae},
                        {"dtype", "float32"},
                        {"device", "cpu"},
                        {"model_name", model_name},
                        {"hook_name", hook_name},
                        {"hook_layer", hook_layer},
                        {"hook_head_index", nullptr},
                        {"activation_fn_str", architecture == SaeArchitecture::TopK ? "topk" : "relu"},
                        {"activation_fn_kwargs", kwargs},
                        {"apply_b_dec_to_input", apply_b_dec_to_input},
                        {"finetuning_scaling_factor", false},
                        {"normalize_activations", "none"},
                        {"context_size", context_size},
                        {"prepend_bos", prepend_bos},
                        {"dataset_path", ""},
                        {"sae_lens_training_version", nullptr}};
  if (architecture == SaeArchitecture::TopK) out["k"] = k;
  return out;
}

SaeConfig SaeConfig::from_saelens_json(const nlohmann::json& cfg, const std::string& source) {
  if (!cfg.is_object()) throw Error(fmt::format("{}: not a JSON object", source));
  auto integer = [&](const char* name, int64_t min) {
    if (!cfg.contains(name)) throw Error(fmt::format("{}: field '{}' is missing", source, name));
    const auto& v = cfg[name];
    if (!v.is_number_integer() || v.get<int64_t>() < min)
      throw Error(fmt::format("{}: field '{}' is {}, not an integer >= {}", source, name, v.dump(), min));
    return v.get<int64_t>();
  };
  auto text = [&](const char* name, const std::string& fallback, bool required) {
    if (!cfg.contains(name) || cfg[name].is_null()) {
      if (required) throw Error(fmt::format("{}: field '{}' is missing", source, name));
      return fallback;
    }
    if (!cfg[name].is_string()) throw Error(fmt::format("{}: field '{}' is not a string", source, name));
    return cfg[name].get<std::string>();
  };
  SaeConfig c;
  c.d_in = integer("d_in", 1);
  c.d_sae = integer("d_sae", 1);
  c.hook_name = text("hook_name", "", true);
  c.model_name = text("model_name", "", false);
  const auto architecture = text("architecture", "standard", false);
  try {
    c.architecture = parse_sae_architecture(architecture);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: field 'architecture': {}", source, e.what()));
  }
  const auto activation = text("activation_fn_str", c.architecture == SaeArchitecture::TopK ? "topk" : "relu", false);
  if (activation == "topk")
    c.architecture = SaeArchitecture::TopK;
  else if (activation != "relu")
    throw Error(fmt::format("{}: field 'activation_fn_str' is '{}'; supported: relu, topk", source, activation));
  if (c.architecture == SaeArchitecture::TopK) {
    const nlohmann::json* k = nullptr;
    if (cfg.contains("k") && !cfg["k"].is_null())
      k = &cfg["k"];
    else if (cfg.contains("activation_fn_kwargs") && cfg["activation_fn_kwargs"].is_object() &&
             cfg["activation_fn_kwargs"].contains("k"))
      k = &cfg["activation_fn_kwargs"]["k"];
    if (!k) throw Error(fmt::format("{}: a TopK SAE needs field 'k' (or activation_fn_kwargs.k)", source));
    if (!k->is_number_integer() || k->get<int64_t>() < 1 || k->get<int64_t>() > c.d_sae)
      throw Error(fmt::format("{}: field 'k' is {}, not an integer in 1..d_sae ({})", source, k->dump(), c.d_sae));
    c.k = k->get<int64_t>();
  }
  if (cfg.contains("hook_layer") && !cfg["hook_layer"].is_null()) c.hook_layer = integer("hook_layer", -1);
  if (cfg.contains("hook_head_index") && !cfg["hook_head_index"].is_null())
    throw Error(fmt::format("{}: field 'hook_head_index' is set: SAEs on one head's slice are not supported", source));
  const auto normalize = text("normalize_activations", "none", false);
  if (normalize != "none")
    throw Error(
        fmt::format("{}: field 'normalize_activations' is '{}': only \"none\" (a scale folded into the "
                    "weights) is supported",
                    source, normalize));
  if (cfg.contains("apply_b_dec_to_input")) {
    if (!cfg["apply_b_dec_to_input"].is_boolean())
      throw Error(fmt::format("{}: field 'apply_b_dec_to_input' is not true or false", source));
    c.apply_b_dec_to_input = cfg["apply_b_dec_to_input"].get<bool>();
  }
  if (cfg.contains("context_size") && cfg["context_size"].is_number_integer())
    c.context_size = cfg["context_size"].get<int64_t>();
  if (cfg.contains("prepend_bos") && cfg["prepend_bos"].is_boolean()) c.prepend_bos = cfg["prepend_bos"].get<bool>();
  return c;
}

SparseAutoencoder::SparseAutoencoder(SaeConfig config, torch::Tensor W_enc, torch::Tensor b_enc, torch::Tensor W_dec,
                                     torch::Tensor b_dec, torch::Tensor threshold, const std::string& source)
    : config_(std::move(config)) {
  const int64_t d_in = config_.d_in, d_sae = config_.d_sae;
  auto check = [&](const char* name, const torch::Tensor& t, std::vector<int64_t> shape) {
    if (!t.defined()) throw Error(fmt::format("{}: tensor '{}' is missing", source, name));
    if (t.sizes().vec() != shape || !t.is_floating_point())
      throw Error(fmt::format("{}: tensor '{}' is {} [{}], not a floating tensor [{}] (d_in {}, d_sae {})", source,
                              name, c10::toString(t.scalar_type()), fmt::join(t.sizes(), ", "), fmt::join(shape, ", "),
                              d_in, d_sae));
    if (!torch::isfinite(t).all().item<bool>())
      throw Error(fmt::format("{}: tensor '{}' holds NaN or infinity", source, name));
    return t.to(torch::kFloat32).contiguous();
  };
  W_enc_ = check("W_enc", W_enc, {d_in, d_sae});
  b_enc_ = check("b_enc", b_enc, {d_sae});
  W_dec_ = check("W_dec", W_dec, {d_sae, d_in});
  b_dec_ = check("b_dec", b_dec, {d_in});
  if (config_.architecture == SaeArchitecture::JumpReLU) threshold_ = check("threshold", threshold, {d_sae});
  if (config_.architecture == SaeArchitecture::TopK && (config_.k < 1 || config_.k > d_sae))
    throw Error(fmt::format("{}: k {} is not in 1..d_sae ({})", source, config_.k, d_sae));
}

torch::Tensor SparseAutoencoder::pre_activation(const torch::Tensor& x) const {
  if (x.size(-1) != config_.d_in)
    throw Error(fmt::format("SAE on {}: input's last dimension is {}, not d_in {}", config_.hook_name, x.size(-1),
                            config_.d_in));
  auto in = x.to(W_enc_.dtype());
  if (config_.apply_b_dec_to_input) in = in - b_dec_;
  return torch::matmul(in, W_enc_) + b_enc_;
}

torch::Tensor SparseAutoencoder::activate(const torch::Tensor& z) const {
  switch (config_.architecture) {
    case SaeArchitecture::ReLU: return torch::relu(z);
    case SaeArchitecture::TopK: {
      auto [values, indices] = z.topk(config_.k, -1);
      return torch::zeros_like(z).scatter(-1, indices, torch::relu(values));
    }
    case SaeArchitecture::JumpReLU: return torch::relu(z) * (z > threshold_).to(z.dtype());
  }
  return z;
}

torch::Tensor SparseAutoencoder::decode(const torch::Tensor& f) const { return torch::matmul(f, W_dec_) + b_dec_; }

NamedTensors SparseAutoencoder::tensors() const {
  NamedTensors out = {{"W_enc", W_enc_}, {"b_enc", b_enc_}, {"W_dec", W_dec_}, {"b_dec", b_dec_}};
  if (threshold_.defined()) out.emplace_back("threshold", threshold_);
  return out;
}

void SparseAutoencoder::save(const std::filesystem::path& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the folder: {}", dir.string(), ec.message()));
  save_safetensors(dir / "sae_weights.safetensors", tensors());
  write_file_atomically(dir / "cfg.json", config_.to_saelens_json().dump(2) + "\n");
}

SparseAutoencoder SparseAutoencoder::load(const std::filesystem::path& dir) {
  const auto cfg_path = dir / "cfg.json";
  nlohmann::json cfg;
  try {
    cfg = nlohmann::json::parse(read_text_file(cfg_path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", cfg_path.string(), e.what()));
  }
  auto config = SaeConfig::from_saelens_json(cfg, cfg_path.string());
  const auto weights_path = dir / "sae_weights.safetensors";
  auto file = SafetensorsFile::open(weights_path);
  auto get = [&](const char* name) { return file->contains(name) ? file->tensor(name) : torch::Tensor(); };
  auto threshold = get("threshold");
  if (!threshold.defined() && file->contains("log_threshold")) threshold = get("log_threshold").exp();
  return SparseAutoencoder(std::move(config), get("W_enc"), get("b_enc"), get("W_dec"), get("b_dec"), threshold,
                           weights_path.string());
}

// ---- splicing -----------------------------------------------------------------------------------------------------

SaeHookNames SaeHookNames::of(const std::string& hook_name) {
  return {hook_name + ".hook_sae_input",  hook_name + ".hook_sae_acts_pre", hook_name + ".hook_sae_acts_post",
          hook_name + ".hook_sae_recons", hook_name + ".hook_sae_error",    hook_name + ".hook_sae_output"};
}

SaeSplice& SaeSplice::operator=(SaeSplice&& other) noexcept {
  if (this != &other) {
    remove();
    guard_ = std::move(other.guard_);
    registry_ = std::move(other.registry_);
    ids_ = std::move(other.ids_);
    names_ = std::move(other.names_);
    other.registry_.reset();
    other.ids_.clear();
  }
  return *this;
}

void SaeSplice::remove() {
  guard_.remove();
  if (registry_)
    for (int id : ids_) registry_->set_enabled(id, false, "splice an SAE at this point (splice_sae) to enable it");
  ids_.clear();
  registry_.reset();
}

SaeSplice splice_sae(HookedTransformer& model, std::shared_ptr<const SparseAutoencoder> sae,
                     const SpliceOptions& options) {
  if (!sae) throw Error("splice_sae: no SAE");
  auto& registry = model.hooks();
  const auto& host_name = sae->config().hook_name;
  const int host = registry.require(host_name);
  const int layer = registry.points().at(static_cast<std::size_t>(host)).layer;
  SaeSplice splice;
  splice.names_ = SaeHookNames::of(host_name);
  const auto& n = splice.names_;
  for (const auto* name : {&n.input, &n.acts_pre, &n.acts_post, &n.recons, &n.error, &n.output}) {
    int id = -1;
    for (const auto& p : registry.points())
      if (p.name == *name) id = p.id;
    if (id >= 0 && registry.is_enabled(id))
      throw Error(fmt::format("splice_sae: an SAE is already spliced at {}", host_name));
    if (id < 0) id = registry.declare(*name, layer);
    registry.set_enabled(id, true);
    splice.ids_.push_back(id);
  }
  splice.registry_ = registry;
  const auto ids = splice.ids_;
  // The hook holds a handle on the registry's table (a cycle the guard breaks when the splice is removed).
  splice.guard_ = registry.add(host, [sae, registry, ids, use_error = options.use_error_term](const torch::Tensor& x) {
    const int64_t d_in = sae->config().d_in;
    // One row per token: [batch, pos, d] or, for per-head points such as hook_z, [batch, pos, head, d_head].
    int64_t per_token = 1;
    for (int64_t i = 2; i < x.dim(); ++i) per_token *= x.size(i);
    if (x.dim() < 3 || per_token != d_in)
      throw Error(fmt::format("the SAE at {} reads {} values per token; the activation is [{}]",
                              sae->config().hook_name, d_in, fmt::join(x.sizes(), ", ")));
    const auto shape = x.sizes().vec();
    const auto flat = x.reshape({-1, d_in}).to(torch::kFloat32);
    auto in = registry.run(ids[0], flat);
    auto pre = registry.run(ids[1], sae->pre_activation(in));
    auto acts = registry.run(ids[2], sae->activate(pre));
    auto recons = registry.run(ids[3], sae->decode(acts));
    auto out = recons;
    if (use_error) {
      torch::Tensor clean;
      {
        torch::NoGradGuard no_grad;
        clean = sae->forward(flat);
      }
      out = recons + registry.run(ids[4], flat - clean);
    }
    out = registry.run(ids[5], out);
    return out.reshape(shape).to(x.scalar_type());
  });
  return splice;
}

// ---- training -----------------------------------------------------------------------------------------------------

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The rectangle kernel K((z − θ)/ε) of Rajamanoharan et al.'s straight-through estimators.
torch::Tensor jumprelu_kernel(const torch::Tensor& z, const torch::Tensor& theta, double bandwidth) {
  return ((z - theta).abs() < bandwidth / 2).to(z.dtype()) / bandwidth;
}

// Leading dimensions summed away: θ is [d_sae], z is [batch, d_sae].
torch::Tensor jumprelu_sum_to_threshold(const torch::Tensor& g) { return g.reshape({-1, g.size(-1)}).sum(0); }

// z · H(z − θ); ∂/∂z = H(z − θ), ∂/∂θ := −(θ/ε) K((z − θ)/ε).
struct JumpReluFunction : torch::autograd::Function<JumpReluFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& z, const torch::Tensor& theta,
                               double bandwidth) {
    ctx->save_for_backward({z, theta});
    ctx->saved_data["bandwidth"] = bandwidth;
    return z * (z > theta).to(z.dtype());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &z = saved[0], &theta = saved[1];
    const double bandwidth = ctx->saved_data["bandwidth"].toDouble();
    const auto& g = grads[0];
    auto grad_z = g * (z > theta).to(z.dtype());
    auto grad_theta = jumprelu_sum_to_threshold(-g * theta * jumprelu_kernel(z, theta, bandwidth));
    return {grad_z, grad_theta, torch::Tensor()};
  }
};

// Random batches of the dataset's rows: epochs of a seeded permutation, over the whole dataset in memory when it fits,
// else shard by shard (shards in a seeded order, rows permuted within each).
class SaeBatchSampler {
 public:
  SaeBatchSampler(const ActivationDataset& data, int64_t batch, torch::Generator generator)
      : data_(data), batch_(batch), generator_(std::move(generator)) {
    if (data.n_rows() * data.d() * 4 <= (int64_t{2} << 30)) all_ = data.all();
  }
  torch::Tensor next() {
    std::vector<torch::Tensor> parts;
    int64_t need = batch_;
    while (need > 0) {
      if (cursor_ >= current_.size(0)) refill();
      const int64_t take = std::min(need, current_.size(0) - cursor_);
      parts.push_back(current_.index_select(0, order_.slice(0, cursor_, cursor_ + take)));
      cursor_ += take;
      need -= take;
    }
    return parts.size() == 1 ? parts[0] : torch::cat(parts, 0);
  }

 private:
  void refill() {
    if (all_.defined()) {
      current_ = all_;
    } else {
      if (shard_cursor_ >= static_cast<int64_t>(shard_order_.size())) {
        auto perm = torch::randperm(data_.n_shards(), generator_, torch::kInt64);
        shard_order_.assign(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + perm.numel());
        shard_cursor_ = 0;
      }
      current_ = data_.shard(shard_order_[static_cast<std::size_t>(shard_cursor_++)]).to(torch::kFloat32);
    }
    order_ = torch::randperm(current_.size(0), generator_, torch::kInt64);
    cursor_ = 0;
  }
  const ActivationDataset& data_;
  int64_t batch_;
  torch::Generator generator_;
  torch::Tensor all_, current_, order_ = torch::empty({0}, torch::kInt64);
  int64_t cursor_ = 0, shard_cursor_ = 0;
  std::vector<int64_t> shard_order_;
};

}  // namespace

nlohmann::json SaeTrainingResult::to_json() const {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : history)
    steps.push_back({{"step", s.step}, {"mse", s.mse}, {"l0", s.l0}, {"dead_fraction", s.dead_fraction}});
  return {{"config", sae.config().to_saelens_json()},
          {"input_scale", input_scale},
          {"resampled", resampled},
          {"seconds", seconds},
          {"tokens_per_second", tokens_per_second},
          {"history", steps}};
}

SaeTrainingResult train_sparse_autoencoder(const ActivationDataset& data, const SaeTrainingOptions& options) {
  const int64_t d_in = data.d();
  const int64_t d_sae = options.d_sae > 0 ? options.d_sae : options.expansion_factor * d_in;
  const auto arch = options.architecture;
  if (d_sae < 1) throw Error(fmt::format("train_sae: d_sae {} (expansion_factor {})", d_sae, options.expansion_factor));
  if (arch == SaeArchitecture::TopK && (options.k < 1 || options.k > d_sae))
    throw Error(fmt::format("train_sae: k {} is not in 1..d_sae ({})", options.k, d_sae));
  if (options.steps < 1 || options.batch_size < 1)
    throw Error(
        fmt::format("train_sae: steps {} and batch_size {} must be at least 1", options.steps, options.batch_size));
  if (!(options.learning_rate > 0)) throw Error(fmt::format("train_sae: learning_rate {}", options.learning_rate));
  if (arch == SaeArchitecture::JumpReLU && !(options.jumprelu_bandwidth > 0 && options.jumprelu_initial_threshold > 0))
    throw Error("train_sae: jumprelu_bandwidth and jumprelu_initial_threshold must be positive");
  if (options.checkpoint_every < 0) throw Error("train_sae: checkpoint_every is negative");

  auto generator = seeded_generator(options.seed);
  SaeBatchSampler sampler(data, options.batch_size, generator);
  // Normalisation (SAELens' expected_average_only_in): inputs scaled so their mean norm is √d_in, so one set of
  // coefficients suits every hook point.
  double scale = 1.0;
  auto sample = data.rows(0, std::min<int64_t>(data.n_rows(), 8192));
  if (options.normalize_inputs) {
    const double mean_norm = sample.norm(2, 1).mean().item<double>();
    if (!(mean_norm > 0) || !std::isfinite(mean_norm))
      throw Error(fmt::format("train_sae: the activations of {} are all zero (or not finite)", data.hook()));
    scale = std::sqrt(static_cast<double>(d_in)) / mean_norm;
  }
  // Initialisation (Gao et al.; Anthropic's 2024 updates): random unit decoder directions, the encoder their
  // transpose, the decoder bias the data's mean.
  auto W_dec = torch::randn({d_sae, d_in}, generator, torch::kFloat32);
  W_dec = W_dec / W_dec.norm(2, 1, true);
  auto W_enc = W_dec.t().clone();
  auto b_enc = torch::zeros({d_sae});
  auto b_dec = (sample * scale).mean(0);
  auto log_threshold = torch::full({d_sae}, std::log(options.jumprelu_initial_threshold));
  std::vector<torch::Tensor> params = {W_enc.requires_grad_(), b_enc.requires_grad_(), W_dec.requires_grad_(),
                                       b_dec.requires_grad_()};
  if (arch == SaeArchitecture::JumpReLU) params.push_back(log_threshold.requires_grad_());
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(options.learning_rate).betas({0.9, 0.999}));

  SaeConfig config{.architecture = arch,
                   .d_in = d_in,
                   .d_sae = d_sae,
                   .k = arch == SaeArchitecture::TopK ? options.k : 0,
                   .hook_name = data.hook(),
                   .hook_layer = -1,
                   .model_name = options.model_name.empty() ? data.model_name() : options.model_name,
                   .apply_b_dec_to_input = true,
                   .context_size = data.context_length()};
  if (auto parsed = std::string_view(data.hook()); parsed.starts_with("blocks.")) {
    try {
      config.hook_layer = std::stoll(std::string(parsed.substr(7)));
    } catch (const std::exception&) {
    }
  }
  // The SAE in raw units: the normalisation folded in (W_enc·s, W_dec/s, b_dec/s), as SAELens saves it.
  auto snapshot = [&] {
    torch::NoGradGuard no_grad;
    return SparseAutoencoder(config, W_enc.detach() * scale, b_enc.detach().clone(), W_dec.detach() / scale,
                             b_dec.detach() / scale,
                             arch == SaeArchitecture::JumpReLU ? log_threshold.detach().exp() : torch::Tensor());
  };

  SaeTrainingResult result;
  auto last_fired = torch::zeros({d_sae}, torch::kInt64);  // the step each feature last fired
  const int64_t decay_from = options.steps - options.steps / 5;
  const auto start = std::chrono::steady_clock::now();
  double running_mse = 0, running_l0 = 0;
  int64_t running = 0;
  for (int64_t step = 1; step <= options.steps; ++step) {
    if (step > decay_from) {
      const double lr = options.learning_rate * static_cast<double>(options.steps - step + 1) /
                        static_cast<double>(options.steps - decay_from + 1);
      static_cast<torch::optim::AdamOptions&>(optimizer.param_groups()[0].options()).lr(lr);
    }
    const auto x = sampler.next() * scale;
    const auto z = torch::matmul(x - b_dec, W_enc) + b_enc;
    torch::Tensor f, penalty;
    switch (arch) {
      case SaeArchitecture::ReLU:
        f = torch::relu(z);
        penalty = options.l1_coefficient * (f * W_dec.norm(2, 1)).sum(1).mean();
        break;
      case SaeArchitecture::TopK: {
        auto [values, indices] = z.topk(options.k, -1);
        f = torch::zeros_like(z).scatter(-1, indices, torch::relu(values));
        penalty = torch::zeros({});
        break;
      }
      case SaeArchitecture::JumpReLU: {
        // Anthropic's 2025 JumpReLU setup: a smooth L0, λ Σ tanh(c · f_i ‖W_dec,i‖) with c = 4, so the encoder feels
        // the sparsity pressure too; the thresholds learn through JumpReLU's straight-through estimator.
        const auto theta = log_threshold.exp();
        f = JumpReluFunction::apply(torch::relu(z), theta, options.jumprelu_bandwidth);
        penalty = options.l0_coefficient * torch::tanh(4.0 * f * W_dec.norm(2, 1)).sum(1).mean();
        break;
      }
    }
    const auto x_hat = torch::matmul(f, W_dec) + b_dec;
    const auto mse = (x_hat - x).pow(2).sum(1).mean();
    auto loss = mse + penalty;
    const auto fired = (f > 0).any(0);
    last_fired.masked_fill_(fired, step);
    const auto dead = (step - last_fired) > options.dead_window;
    if (arch == SaeArchitecture::TopK && options.aux_coefficient > 0) {
      // AuxK: the dead latents' top pre-activations reconstruct what the live ones missed.
      const int64_t n_dead = dead.sum().item<int64_t>();
      if (n_dead > 0) {
        const int64_t k_aux = std::min<int64_t>(n_dead, std::max<int64_t>(1, d_in / 2));
        const auto dead_z = z.masked_fill(dead.logical_not(), -std::numeric_limits<float>::infinity());
        auto [values, indices] = dead_z.topk(k_aux, -1);
        const auto f_aux = torch::zeros_like(z).scatter(-1, indices, torch::relu(values));
        const auto error = (x - x_hat).detach();
        const auto error_hat = torch::matmul(f_aux, W_dec);
        const auto denominator = (error - error.mean(0)).pow(2).sum(1).mean().clamp_min(1e-8);
        loss = loss + options.aux_coefficient * (error_hat - error).pow(2).sum(1).mean() / denominator;
      }
    }
    optimizer.zero_grad();
    loss.backward();
    {
      torch::NoGradGuard no_grad;
      // Keep decoder rows at unit norm: remove the gradient's component along each row, step, renormalise.
      auto g = W_dec.grad();
      if (g.defined()) g.sub_((g * W_dec).sum(1, true) * W_dec);
    }
    optimizer.step();
    {
      torch::NoGradGuard no_grad;
      W_dec.div_(W_dec.norm(2, 1, true).clamp_min(1e-12));
    }
    running_mse += mse.item<double>();
    running_l0 += (f > 0).sum(1).to(torch::kFloat64).mean().item<double>();
    ++running;
    // Resampling (Bricken et al.): dead features restart on inputs the SAE reconstructs worst, chosen with
    // probability ∝ loss², decoder = that input's direction, encoder = it scaled to 0.2 of the live encoders' norm.
    if (arch == SaeArchitecture::ReLU && options.resample_every > 0 && step % options.resample_every == 0 &&
        step <= options.steps / 2) {
      torch::NoGradGuard no_grad;
      const auto dead_ids = torch::nonzero(dead).reshape({-1});
      if (dead_ids.numel() > 0) {
        const auto pool = sampler.next() * scale;
        const auto rec = torch::matmul(torch::relu(torch::matmul(pool - b_dec, W_enc) + b_enc), W_dec) + b_dec;
        const auto weights = (rec - pool).pow(2).sum(1).pow(2) + 1e-12;
        const auto picks = torch::multinomial(weights, dead_ids.numel(), /*replacement=*/true, generator);
        auto directions = pool.index_select(0, picks) - b_dec;
        directions = directions / directions.norm(2, 1, true).clamp_min(1e-12);
        const auto alive = dead.logical_not();
        const double alive_norm =
            alive.any().item<bool>() ? W_enc.t().index({alive}).norm(2, 1).mean().item<double>() : 1.0;
        W_dec.index_copy_(0, dead_ids, directions);
        W_enc.index_copy_(1, dead_ids, (directions * 0.2 * alive_norm).t().contiguous());
        b_enc.index_fill_(0, dead_ids, 0.0);
        last_fired.index_fill_(0, dead_ids, step);
        result.resampled += dead_ids.numel();
      }
    }
    if (step % 100 == 0 || step == options.steps) {
      SaeTrainingStep s{step, running_mse / running / (scale * scale), running_l0 / running,
                        dead.to(torch::kFloat64).mean().item<double>()};
      result.history.push_back(s);
      if (options.progress) options.progress(step, s.mse, s.l0);
      running_mse = running_l0 = 0;
      running = 0;
    }
    if (options.checkpoint_dir && options.checkpoint_every > 0 && step % options.checkpoint_every == 0)
      snapshot().save(*options.checkpoint_dir / fmt::format("step_{}", step));
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.tokens_per_second = static_cast<double>(options.steps * options.batch_size) / result.seconds;
  result.input_scale = scale;
  result.sae = snapshot();
  return result;
}

// ---- evaluation ---------------------------------------------------------------------------------------------------

nlohmann::json SaeEvaluation::to_json() const {
  nlohmann::json out = {{"hook", hook},
                        {"n_tokens", n_tokens},
                        {"mse", mse},
                        {"explained_variance", explained_variance},
                        {"mean_l0", mean_l0},
                        {"dead_features", dead_features},
                        {"dense_features", dense_features}};
  if (has_language_model_loss) {
    out["loss_clean"] = loss_clean;
    out["loss_spliced"] = loss_spliced;
    out["loss_zero_ablation"] = loss_zero_ablation;
    out["loss_recovered"] = loss_recovered;
  }
  return out;
}

SaeEvaluation evaluate_sparse_autoencoder(const SparseAutoencoder& sae, const ActivationDataset& data,
                                          HookedTransformer* model) {
  const auto& c = sae.config();
  if (data.d() != c.d_in)
    throw Error(
        fmt::format("evaluate_sae: the dataset's rows have {} values, the SAE reads d_in {}", data.d(), c.d_in));
  if (!c.hook_name.empty() && data.hook() != c.hook_name)
    throw Error(fmt::format("evaluate_sae: the dataset holds {}, the SAE reads {}", data.hook(), c.hook_name));
  torch::NoGradGuard no_grad;
  SaeEvaluation out;
  out.hook = data.hook();
  out.n_tokens = data.n_rows();
  double squared_error = 0, l0 = 0, sum_sq = 0;
  auto sum = torch::zeros({c.d_in}, torch::kFloat64);
  auto fires = torch::zeros({c.d_sae}, torch::kFloat64);
  data.for_each_batch(4096, [&](const torch::Tensor& x, int64_t) {
    const auto f = sae.encode(x);
    const auto x_hat = sae.decode(f);
    squared_error += (x_hat - x).pow(2).sum(torch::kFloat64).item<double>();
    sum += x.sum(0, false, torch::kFloat64);
    sum_sq += x.pow(2).sum(torch::kFloat64).item<double>();
    const auto active = f > 0;
    l0 += active.sum(torch::kFloat64).item<double>();
    fires += active.sum(0, false, torch::kFloat64);
  });
  const double n = static_cast<double>(out.n_tokens);
  const double total_variance = sum_sq - sum.pow(2).sum().item<double>() / n;
  out.mse = squared_error / n;
  out.explained_variance = total_variance > 0 ? 1.0 - squared_error / total_variance : std::nan("");
  out.mean_l0 = l0 / n;
  out.feature_frequency = fires / n;
  out.dead_features = (out.feature_frequency == 0).sum().item<int64_t>();
  out.dense_features = (out.feature_frequency > 0.5).sum().item<int64_t>();
  if (model) {
    if (!data.tokens().defined() || data.context_length() < 2)
      throw Error("evaluate_sae: the language-model loss needs the dataset's tokens (contexts of 2 or more)");
    const auto& tokens = data.tokens();
    out.has_language_model_loss = true;
    out.loss_clean = mean_next_token_loss(*model, tokens);
    {
      auto shared = std::make_shared<const SparseAutoencoder>(sae);
      auto splice = splice_sae(*model, shared);
      out.loss_spliced = mean_next_token_loss(*model, tokens);
    }
    {
      auto ablate = model->add_hook(c.hook_name, [](const torch::Tensor& t) { return torch::zeros_like(t); });
      out.loss_zero_ablation = mean_next_token_loss(*model, tokens);
    }
    const double gap = out.loss_zero_ablation - out.loss_clean;
    out.loss_recovered = gap != 0 ? (out.loss_zero_ablation - out.loss_spliced) / gap : std::nan("");
  }
  return out;
}

}  // namespace arrakis
