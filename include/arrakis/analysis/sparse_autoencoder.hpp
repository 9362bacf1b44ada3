#pragma once
// Sparse autoencoders (SAEs): the dictionary-learning answer to superposition. An SAE reads one hook point's
// activation x [d_in] and writes it as a sparse, non-negative combination of d_sae learned directions:
//   f = σ((x − b_dec) W_enc + b_enc),   x̂ = f W_dec + b_dec
// with σ a ReLU (Bricken et al. 2023, "Towards Monosemanticity", trained with an L1 penalty), TopK (Gao et al. 2024,
// "Scaling and evaluating sparse autoencoders": keep the k largest pre-activations) or JumpReLU (Rajamanoharan et al.
// 2024: f = z · H(z − θ) with a learned threshold θ per feature, the thresholds learned through its straight-through
// estimator; the sparsity penalty is the smooth L0 of Anthropic's 2025 JumpReLU setup, λ Σ tanh(c f_i ‖W_dec,i‖)).
// Weights and cfg.json follow SAELens' layout, so SAEs trained elsewhere load here and ours load there. Spliced into a
// model at its hook point, the SAE brings hook points of its own, so every other analysis (patching, attribution,
// sparsity, probes) runs on its features. Definitions and defaults: docs/representations.md.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrakis/analysis/activation_dataset.hpp"
#include "arrakis/hooks/hook_registry.hpp"
#include "arrakis/io/safetensors.hpp"

namespace arrakis {

class HookedTransformer;

enum class SaeArchitecture { ReLU, TopK, JumpReLU };
/// SAELens' spellings: "standard" (ReLU), "topk", "jumprelu".
std::string sae_architecture_name(SaeArchitecture architecture);
SaeArchitecture parse_sae_architecture(const std::string& name);  // also accepts "relu"

struct SaeConfig {
  SaeArchitecture architecture = SaeArchitecture::TopK;
  int64_t d_in = 0, d_sae = 0;
  int64_t k = 0;                     // TopK: features kept per token
  std::string hook_name;             // the hook point it reads, e.g. "blocks.0.hook_resid_post"
  int64_t hook_layer = -1;           // SAELens' hook_layer (the block of hook_name)
  std::string model_name;            // what it was trained on (informational)
  bool apply_b_dec_to_input = true;  // subtract b_dec before encoding (SAELens' flag)
  int64_t context_size = 0;          // contexts it was trained on (informational)
  bool prepend_bos = true;
  nlohmann::json to_saelens_json() const;
  /// Reads SAELens' cfg.json (architecture, d_in, d_sae, hook_name, hook_layer, activation_fn_kwargs.k or k, ...);
  /// arrakis::Error naming the file and field for a missing, mistyped or unsupported one.
  static SaeConfig from_saelens_json(const nlohmann::json& cfg, const std::string& source);
};

class SparseAutoencoder {
 public:
  SparseAutoencoder() = default;
  /// Checks every tensor's shape against the config ([d_in, d_sae], [d_sae], [d_sae, d_in], [d_in], threshold
  /// [d_sae] for JumpReLU); `source` names them in errors.
  SparseAutoencoder(SaeConfig config, torch::Tensor W_enc, torch::Tensor b_enc, torch::Tensor W_dec,
                    torch::Tensor b_dec, torch::Tensor threshold = {}, const std::string& source = "SAE");

  const SaeConfig& config() const { return config_; }
  const torch::Tensor& W_enc() const { return W_enc_; }
  const torch::Tensor& b_enc() const { return b_enc_; }
  const torch::Tensor& W_dec() const { return W_dec_; }
  const torch::Tensor& b_dec() const { return b_dec_; }
  const torch::Tensor& threshold() const { return threshold_; }

  /// Pre-activations z = (x − b_dec) W_enc + b_enc for x [..., d_in].
  torch::Tensor pre_activation(const torch::Tensor& x) const;
  /// The features f = σ(z).
  torch::Tensor activate(const torch::Tensor& z) const;
  torch::Tensor encode(const torch::Tensor& x) const { return activate(pre_activation(x)); }
  torch::Tensor decode(const torch::Tensor& f) const;
  torch::Tensor forward(const torch::Tensor& x) const { return decode(encode(x)); }

  /// SAELens' layout: `dir/sae_weights.safetensors` (W_enc, b_enc, W_dec, b_dec, and threshold for JumpReLU) and
  /// `dir/cfg.json`.
  void save(const std::filesystem::path& dir) const;
  static SparseAutoencoder load(const std::filesystem::path& dir);
  NamedTensors tensors() const;

 private:
  SaeConfig config_;
  torch::Tensor W_enc_, b_enc_, W_dec_, b_dec_, threshold_;
};

/// The names of a spliced SAE's own hook points: `<hook_name>.hook_sae_input` and so on, as SAELens names them.
struct SaeHookNames {
  std::string input, acts_pre, acts_post, recons, error, output;
  static SaeHookNames of(const std::string& hook_name);
};

struct SpliceOptions {
  /// Add back what the SAE fails to reconstruct (x − x̂ of the unhooked SAE), as SAELens' use_error_term: the model's
  /// output is then unchanged until a feature is intervened on. Off: the model runs on the reconstruction.
  bool use_error_term = false;
};

/// An SAE spliced into a model at its hook point. While it lives, the point's activation is replaced by the SAE's
/// output, and the SAE's hook points (SaeHookNames) can be hooked and cached like any other; destroying it (or
/// remove()) takes the SAE out and disables its points again.
class [[nodiscard]] SaeSplice {
 public:
  SaeSplice() = default;
  SaeSplice(SaeSplice&&) noexcept = default;
  SaeSplice& operator=(SaeSplice&& other) noexcept;
  SaeSplice(const SaeSplice&) = delete;
  SaeSplice& operator=(const SaeSplice&) = delete;
  ~SaeSplice() { remove(); }
  void remove();
  const SaeHookNames& names() const { return names_; }

 private:
  friend SaeSplice splice_sae(HookedTransformer& model, std::shared_ptr<const SparseAutoencoder> sae,
                              const SpliceOptions& options);
  HookGuard guard_;
  std::optional<HookRegistry> registry_;
  std::vector<int> ids_;
  SaeHookNames names_;
};

/// arrakis::Error when the model has no point named like the SAE's hook_name, or an SAE is already spliced there.
SaeSplice splice_sae(HookedTransformer& model, std::shared_ptr<const SparseAutoencoder> sae,
                     const SpliceOptions& options = {});

// ---- training -----------------------------------------------------------------------------------------------------

struct SaeTrainingOptions {
  SaeArchitecture architecture = SaeArchitecture::TopK;
  int64_t d_sae = 0;  // 0: expansion_factor x d_in
  int64_t expansion_factor = 4;
  int64_t k = 16;                   // TopK
  double l1_coefficient = 1.0;      // ReLU: penalty on Σ f_i ‖W_dec,i‖ (inputs normalised to ‖x‖ ≈ √d_in)
  double l0_coefficient = 0.2;      // JumpReLU: weight of the smooth L0, Σ tanh(4 f_i ‖W_dec,i‖)
  double jumprelu_bandwidth = 0.1;  // JumpReLU: the straight-through estimators' kernel width (normalised units)
  double jumprelu_initial_threshold = 0.5;
  double aux_coefficient = 1.0 / 32;  // TopK: AuxK, the top k_aux dead latents reconstruct the error (Gao et al.)
  int64_t steps = 2000;
  int64_t batch_size = 1024;     // activation rows per step
  double learning_rate = 3e-3;   // Adam (β = 0.9, 0.999), the last 20% of steps decayed linearly to 0
  int64_t dead_window = 200;     // steps without firing after which a feature counts as dead
  int64_t resample_every = 500;  // ReLU: resample dead features (Bricken et al.) every this many steps, up to half
  bool normalize_inputs = true;  // scale inputs so E‖x‖ = √d_in while training; folded into the weights after
  uint64_t seed = 0;
  int64_t checkpoint_every = 0;  // with checkpoint_dir: save the SAE every this many steps
  std::optional<std::filesystem::path> checkpoint_dir;
  std::string model_name;                                             // recorded in cfg.json
  std::function<void(int64_t step, double mse, double l0)> progress;  // every 100 steps and at the end
};

struct SaeTrainingStep {
  int64_t step = 0;
  double mse = 0, l0 = 0, dead_fraction = 0;
};

struct SaeTrainingResult {
  SparseAutoencoder sae;
  std::vector<SaeTrainingStep> history;  // every 100 steps and the last
  double input_scale = 1;                // the normalisation factor folded into the weights
  int64_t resampled = 0;                 // ReLU: features resampled over the run
  double seconds = 0, tokens_per_second = 0;
  nlohmann::json to_json() const;
};

/// Trains on the dataset's rows (random batches, seeded; the whole dataset in memory when it fits in 2 GiB, else
/// shard by shard in a seeded order).
SaeTrainingResult train_sparse_autoencoder(const ActivationDataset& data, const SaeTrainingOptions& options);

// ---- evaluation ---------------------------------------------------------------------------------------------------

struct SaeEvaluation {
  std::string hook;
  int64_t n_tokens = 0;
  double mse = 0;                 // mean over tokens of ‖x − x̂‖²
  double explained_variance = 0;  // 1 − Σ‖x − x̂‖² / Σ‖x − mean x‖²
  double mean_l0 = 0;
  int64_t dead_features = 0, dense_features = 0;  // never fire / fire on > 50% of tokens
  torch::Tensor feature_frequency;                // [d_sae]
  bool has_language_model_loss = false;
  double loss_clean = 0, loss_spliced = 0, loss_zero_ablation = 0;
  double loss_recovered = 0;  // (zero-ablation − spliced) / (zero-ablation − clean)
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"feature_frequency", feature_frequency}}; }
};

/// Reconstruction and sparsity on the dataset's rows; with a model (the one the dataset came from), the language-model
/// loss on the dataset's tokens clean, with the SAE spliced in, and with the point zero-ablated.
SaeEvaluation evaluate_sparse_autoencoder(const SparseAutoencoder& sae, const ActivationDataset& data,
                                          HookedTransformer* model = nullptr);

}  // namespace arrakis
